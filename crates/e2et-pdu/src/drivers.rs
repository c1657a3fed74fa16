//! Building a driver for each PDU of the inventory, with secrets read from
//! credential files (systemd credentials on NixOS), never from the inventory,
//! argv or logs.
use crate::apc::{ApcConfig, ApcSnmpDriver, AuthProto, OutletTable, PrivProto, SnmpAuth};
use crate::qmp::QmpDriver;
use crate::PowerDriver;
use e2et_model::inventory::{Inventory, PduDriverKind, PduSpec, SnmpSpec};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Where a PDU's secrets are: files `pdu-<name>-auth`, `pdu-<name>-priv` and
/// `pdu-<name>-community` in a directory ($CREDENTIALS_DIRECTORY under systemd).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub dir: Option<PathBuf>,
}

impl Credentials {
    pub fn from_env_or(dir: Option<PathBuf>) -> Credentials {
        Credentials {
            dir: dir.or_else(|| std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from)),
        }
    }

    fn read(&self, pdu: &str, kind: &str) -> Result<String, String> {
        let dir = self.dir.as_ref().ok_or_else(|| {
            format!("PDU {pdu}: no credentials directory (set --credentials-dir or CREDENTIALS_DIRECTORY) for pdu-{pdu}-{kind}")
        })?;
        read_secret(&dir.join(format!("pdu-{pdu}-{kind}"))).map_err(|e| format!("PDU {pdu}: {e}"))
    }
}

/// Reads a secret file: trailing newline stripped, empty refused.
pub fn read_secret(p: &Path) -> Result<String, String> {
    let s = std::fs::read_to_string(p)
        .map_err(|e| format!("cannot read secret {}: {e}", p.display()))?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        return Err(format!("secret file {} is empty", p.display()));
    }
    Ok(s)
}

pub fn parse_auth(s: &str) -> Result<AuthProto, String> {
    match s {
        "MD5" => Ok(AuthProto::Md5),
        "SHA" => Ok(AuthProto::Sha),
        "SHA256" => Ok(AuthProto::Sha256),
        o => Err(format!("auth protocol {o:?}: use MD5, SHA or SHA256")),
    }
}

pub fn parse_priv(s: &str) -> Result<PrivProto, String> {
    match s {
        "DES" => Ok(PrivProto::Des),
        "AES" => Ok(PrivProto::Aes),
        o => Err(format!("privacy protocol {o:?}: use DES or AES")),
    }
}

/// The SNMP security of a PDU from its settings and secrets.
pub fn snmp_auth(name: &str, s: &SnmpSpec, creds: &Credentials) -> Result<SnmpAuth, String> {
    match s.version.as_str() {
        "3" => {
            let auth = parse_auth(s.auth_protocol.as_deref().unwrap_or(""))?;
            let privacy = match s.priv_protocol.as_deref() {
                Some(p) if s.security_level == "authPriv" => {
                    Some((parse_priv(p)?, creds.read(name, "priv")?))
                }
                None if s.security_level == "authNoPriv" => None,
                _ => {
                    return Err(format!(
                        "PDU {name}: security level {} does not match the privacy protocol",
                        s.security_level
                    ))
                }
            };
            Ok(SnmpAuth::V3 {
                user: s.user.clone().unwrap_or_default(),
                auth,
                auth_password: creds.read(name, "auth")?,
                privacy,
            })
        }
        v @ ("1" | "2c") if s.allow_insecure => Ok(SnmpAuth::Community {
            v1: v == "1",
            community: creds.read(name, "community")?,
        }),
        v => Err(format!(
            "PDU {name}: SNMP version {v} refused (v1/v2c need allowInsecure)"
        )),
    }
}

pub fn build(
    name: &str,
    spec: &PduSpec,
    creds: &Credentials,
) -> Result<Arc<dyn PowerDriver>, String> {
    match spec.driver {
        PduDriverKind::Qmp => Ok(Arc::new(QmpDriver::new(name, &spec.address))),
        PduDriverKind::ApcSnmp => {
            let s = spec
                .snmp
                .as_ref()
                .ok_or_else(|| format!("PDU {name}: apc-snmp needs snmp settings"))?;
            Ok(Arc::new(ApcSnmpDriver::new(ApcConfig {
                name: name.to_string(),
                address: spec.address.clone(),
                auth: snmp_auth(name, s, creds)?,
                table: if s.table == "masterswitch" {
                    OutletTable::Masterswitch
                } else {
                    OutletTable::Rpdu
                },
                timeout: Duration::from_millis(s.timeout_ms),
                retries: s.retries,
            })))
        }
    }
}

/// A driver per PDU; a PDU whose driver cannot be built (missing secret) maps
/// to its error, so runs on other PDUs still work and a run on it fails its
/// inventory gate with the reason.
pub fn for_inventory(
    inv: &Inventory,
    creds: &Credentials,
) -> HashMap<String, Result<Arc<dyn PowerDriver>, String>> {
    inv.pdus
        .iter()
        .map(|(n, p)| (n.clone(), build(n, p, creds)))
        .collect()
}
