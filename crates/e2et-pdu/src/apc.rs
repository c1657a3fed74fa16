//! APC switched rack PDUs (AP79xx, PowerNet-MIB) over SNMP. SNMPv3 authPriv by
//! default; authNoPriv only when configured; v1/v2c only when the inventory
//! explicitly allows an insecure protocol. Every command is followed by reads
//! of the outlet state (see [`crate::switch_verified`]); a state is only ever
//! reported after it was read back.
use crate::{PduError, PowerDriver, PowerState};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use snmp2::v3::{Auth, AuthProtocol, Cipher, Security};
use snmp2::{AsyncSession, Oid, Value};
use std::fmt;
use std::time::Duration;
use tokio::sync::Mutex;

mod config;

/// PowerNet-MIB object identifiers.
pub mod oids {
    pub const SYS_OBJECT_ID: &[u64] = &[1, 3, 6, 1, 2, 1, 1, 2, 0];
    /// sysObjectID of AP79xx rack PDUs.
    pub const RPDU_SYS_OBJECT_ID: &str = "1.3.6.1.4.1.318.1.3.4.5";
    pub const RPDU_MODEL: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 1, 5, 0];
    pub const RPDU_NUM_OUTLETS: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 1, 8, 0];
    /// rPDUOutletControlOutletCommand.n: 1 immediateOn, 2 immediateOff, 3 immediateReboot.
    pub const RPDU_CONTROL: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 3, 1, 1, 4];
    /// rPDUOutletStatusOutletName.n
    pub const RPDU_NAME: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 5, 1, 1, 2];
    /// rPDUOutletStatusOutletState.n: 1 on, 2 off.
    pub const RPDU_STATE: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 5, 1, 1, 4];
    /// rPDUOutletStatusCommandPending.n: 1 pending, 2 none.
    pub const RPDU_PENDING: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 12, 3, 5, 1, 1, 5];
    /// Older MasterSwitch: sPDUOutletCtl.n (1 on, 2 off, 3 reboot; reads the state).
    pub const SPDU_CTL: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 4, 4, 2, 1, 3];
    /// sPDUOutletCtlName.n
    pub const SPDU_NAME: &[u64] = &[1, 3, 6, 1, 4, 1, 318, 1, 1, 4, 4, 2, 1, 4];

    pub fn at(base: &[u64], n: u32) -> Vec<u64> {
        let mut v = base.to_vec();
        v.push(u64::from(n));
        v
    }
}

pub use config::*;

pub struct ApcSnmpDriver {
    cfg: ApcConfig,
    session: Mutex<Option<AsyncSession>>,
    /// Engine discoveries done so far (the first one included).
    discoveries: std::sync::atomic::AtomicU32,
}

/// What the PDU says about itself.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub sys_object_id: String,
    pub model: Option<String>,
    pub outlets: Option<u32>,
    pub table: OutletTable,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutletInfo {
    pub outlet: u32,
    pub name: String,
    pub state: Option<PowerState>,
    pub pending: Option<bool>,
}

fn oid(v: &[u64]) -> Oid<'static> {
    // The OIDs here are constants and outlet numbers: always valid.
    Oid::from(v).unwrap_or_else(|_| Oid::from(&[1u64, 3][..]).expect("1.3 is an OID"))
}

enum Op {
    Get(Vec<Vec<u64>>),
    Set(Vec<u64>, i64),
}

/// One value read back, owned.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Int(i64),
    Str(String),
    Oid(String),
    Missing(String),
    Other(String),
}

impl ApcSnmpDriver {
    pub fn new(cfg: ApcConfig) -> ApcSnmpDriver {
        ApcSnmpDriver {
            cfg,
            session: Mutex::new(None),
            discoveries: std::sync::atomic::AtomicU32::new(0),
        }
    }

    fn target(&self) -> String {
        format!("{} ({})", self.cfg.name, self.cfg.address)
    }

    fn security(&self) -> Option<Security> {
        match &self.cfg.auth {
            SnmpAuth::V3 {
                user,
                auth,
                auth_password,
                privacy,
            } => {
                let proto = match auth {
                    AuthProto::Md5 => AuthProtocol::Md5,
                    AuthProto::Sha => AuthProtocol::Sha1,
                    AuthProto::Sha256 => AuthProtocol::Sha256,
                };
                let level = match privacy {
                    None => Auth::AuthNoPriv,
                    Some((p, pw)) => Auth::AuthPriv {
                        cipher: match p {
                            PrivProto::Des => Cipher::Des,
                            PrivProto::Aes => Cipher::Aes128,
                        },
                        privacy_password: pw.as_bytes().to_vec(),
                    },
                };
                Some(
                    Security::new(user.as_bytes(), auth_password.as_bytes())
                        .with_auth_protocol(proto)
                        .with_auth(level),
                )
            }
            SnmpAuth::Community { .. } => None,
        }
    }

    async fn connect(&self) -> Result<AsyncSession, PduError> {
        let req_id = i32::from(rand_u16());
        let sess = match (&self.cfg.auth, self.security()) {
            (_, Some(sec)) => AsyncSession::new_v3(self.cfg.address.as_str(), req_id, sec).await,
            (
                SnmpAuth::Community {
                    v1: true,
                    community,
                },
                None,
            ) => {
                AsyncSession::new_v1(self.cfg.address.as_str(), community.as_bytes(), req_id).await
            }
            (SnmpAuth::Community { community, .. }, None) => {
                AsyncSession::new_v2c(self.cfg.address.as_str(), community.as_bytes(), req_id).await
            }
            (SnmpAuth::V3 { .. }, None) => unreachable!("v3 always has security"),
        };
        let mut sess = sess.map_err(|source| PduError::Connect {
            target: self.target(),
            source,
        })?;
        if matches!(self.cfg.auth, SnmpAuth::V3 { .. }) {
            // Engine discovery (engine id, boots, time): RFC 3414 section 4.
            match tokio::time::timeout(self.cfg.timeout, sess.init()).await {
                Err(_) => return Err(self.timeout_error("engine discovery")),
                Ok(Err(e)) => return Err(self.auth_error("engine discovery", &e)),
                Ok(Ok(())) => {}
            }
        }
        Ok(sess)
    }

    /// A set that went out without an answer (see [`PduError::Unconfirmed`]).
    fn unconfirmed(&self, op: &Op, e: PduError) -> PduError {
        let command = match op {
            Op::Set(o, v) => format!("set {} = {v}", dotted(o)),
            Op::Get(_) => "get".into(),
        };
        let message = match e {
            PduError::Protocol { message, .. } => message,
            other => other.to_string(),
        };
        PduError::Unconfirmed {
            target: self.target(),
            command,
            message,
        }
    }

    fn timeout_error(&self, what: &str) -> PduError {
        PduError::Protocol {
            target: self.target(),
            message: format!(
                "no answer to {what} within {:?} ({} tries) using {}: the PDU is unreachable, or it silently dropped the request (net-snmp drops messages it cannot decrypt or whose user it does not know when not reportable)",
                self.cfg.timeout,
                self.cfg.retries + 1,
                self.cfg.auth.describe()
            ),
        }
    }

    fn auth_error(&self, what: &str, e: &snmp2::Error) -> PduError {
        PduError::Protocol {
            target: self.target(),
            message: format!(
                "{what} failed using {}: {}",
                self.cfg.auth.describe(),
                explain(e)
            ),
        }
    }

    /// Runs one operation with the cached session; on any failure the session
    /// is dropped and rebuilt with a fresh engine discovery, then retried — so
    /// a PDU whose agent restarted (new engine boots, time reset) is
    /// re-discovered instead of failing with notInTimeWindow.
    async fn run(&self, op: &Op) -> Result<Vec<(String, Val)>, PduError> {
        let mut guard = self.session.lock().await;
        let mut last: Option<PduError> = None;
        for attempt in 0..=self.cfg.retries {
            if guard.is_none() {
                self.discoveries
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                match self.connect().await {
                    Ok(s) => {
                        let n = self.discoveries();
                        if n > 1 {
                            tracing::info!(pdu = %self.cfg.name, discoveries = n, "SNMP engine re-discovered (agent restarted or a request failed)");
                        }
                        *guard = Some(s)
                    }
                    Err(e) => {
                        last = Some(e);
                        continue;
                    }
                }
            }
            let Some(sess) = guard.as_mut() else { continue };
            let fut = async {
                let pdu = match op {
                    Op::Get(list) => {
                        let oids: Vec<Oid<'static>> = list.iter().map(|o| oid(o)).collect();
                        let refs: Vec<&Oid<'_>> = oids.iter().collect();
                        sess.get_many(&refs).await
                    }
                    Op::Set(o, v) => sess.set(&[(&oid(o), Value::Integer(*v))]).await,
                };
                pdu.map(|p| {
                    let status = p.error_status;
                    let vals: Vec<(String, Val)> = p
                        .varbinds
                        .map(|(name, v)| (name.to_id_string(), to_val(&v)))
                        .collect();
                    (status, vals)
                })
            };
            match tokio::time::timeout(self.cfg.timeout, fut).await {
                Ok(Ok((0, vals))) => return Ok(vals),
                Ok(Ok((status, _))) => {
                    return Err(PduError::Device {
                        target: self.target(),
                        command: match op {
                            Op::Get(_) => "get".into(),
                            Op::Set(o, v) => format!("set {} = {v}", dotted(o)),
                        },
                        message: format!("SNMP error-status {status} ({})", error_status(status)),
                    })
                }
                // A set went out once: it is never re-sent here (the caller
                // reads the outlet back and records a new intent first).
                Ok(Err(e)) if matches!(op, Op::Set(..)) => {
                    *guard = None;
                    return Err(self.unconfirmed(op, self.auth_error("the set", &e)));
                }
                Err(_) if matches!(op, Op::Set(..)) => {
                    *guard = None;
                    return Err(self.unconfirmed(op, self.timeout_error("the set")));
                }
                Ok(Err(e)) => {
                    tracing::debug!(attempt, error = %e, "SNMP request failed; re-discovering");
                    last = Some(self.auth_error("request", &e));
                    *guard = None;
                }
                Err(_) => {
                    tracing::debug!(attempt, "SNMP request timed out");
                    last = Some(self.timeout_error("the request"));
                    *guard = None;
                }
            }
        }
        let e = last.unwrap_or_else(|| self.timeout_error("the request"));
        Err(self.diagnose(e).await)
    }

    /// Refines an SNMPv3 failure with what the agent says about the user: an
    /// unknown user, a wrong digest (authentication password or protocol), or
    /// a decryption error (privacy password or protocol).
    async fn diagnose(&self, e: PduError) -> PduError {
        let SnmpAuth::V3 {
            user,
            auth,
            auth_password,
            privacy,
        } = &self.cfg.auth
        else {
            return e;
        };
        let PduError::Protocol { message, .. } = &e else {
            return e;
        };
        if message.contains("network error") {
            return e;
        }
        let tried = self.cfg.auth.describe();
        let verdict = match crate::usm_probe::probe_user(&self.cfg.address, user, self.cfg.timeout)
            .await
        {
            Ok(Some(o)) if o == crate::usm_probe::UNKNOWN_USER_NAMES => {
                format!(
                    "the agent does not know user {user} (it reported usmStatsUnknownUserNames)"
                )
            }
            Ok(Some(o))
                if o == crate::usm_probe::UNSUPPORTED_SEC_LEVELS
                    || o == crate::usm_probe::ANSWERED =>
            {
                // The user exists. Is authentication right? Ask without privacy:
                // an authenticated answer (even a refusal) proves the digest.
                let auth_ok = if privacy.is_some() {
                    let probe = ApcSnmpDriver::new(ApcConfig {
                        auth: SnmpAuth::V3 {
                            user: user.clone(),
                            auth: *auth,
                            auth_password: auth_password.clone(),
                            privacy: None,
                        },
                        retries: 0,
                        ..self.cfg.clone()
                    });
                    probe.raw_get_ok().await
                } else {
                    false
                };
                if auth_ok {
                    format!(
                        "user {user} authenticates with {auth}, but the agent cannot decrypt with {} (decryption error: wrong privacy password or protocol; some AP79xx firmware accepts only DES)",
                        privacy.as_ref().map_or("no privacy".to_string(), |(p, _)| p.to_string())
                    )
                } else {
                    format!("user {user} exists, but the agent rejects the digest (usmStatsWrongDigests: wrong authentication password, or the PDU expects another auth protocol than {auth}; some AP79xx firmware accepts only MD5)")
                }
            }
            Ok(Some(o)) => format!(
                "the agent reported {} ({o})",
                crate::usm_probe::counter_name(&o)
            ),
            Ok(None) => return e,
            Err(io) => format!("the diagnostic probe failed: {io}"),
        };
        PduError::Protocol {
            target: self.target(),
            message: format!("{message}\n  diagnosis ({tried}): {verdict}"),
        }
    }

    /// One authenticated GET of sysObjectID without diagnosis: true when the
    /// agent answered with an authenticated response (an error status counts).
    async fn raw_get_ok(&self) -> bool {
        let Ok(mut sess) = self.connect().await else {
            return false;
        };
        let o = oid(oids::SYS_OBJECT_ID);
        matches!(
            tokio::time::timeout(self.cfg.timeout, sess.get(&o)).await,
            Ok(Ok(_))
        )
    }

    /// How many engine discoveries this driver made: 1 for a steady agent, more
    /// after the agent restarted (new engine boots) or a request failed.
    pub fn discoveries(&self) -> u32 {
        self.discoveries.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub async fn get(&self, list: &[Vec<u64>]) -> Result<Vec<(String, Val)>, PduError> {
        self.run(&Op::Get(list.to_vec())).await
    }

    fn int(&self, vals: &[(String, Val)], i: usize, what: &str) -> Result<i64, PduError> {
        match vals.get(i) {
            Some((_, Val::Int(n))) => Ok(*n),
            Some((o, v)) => Err(PduError::Protocol {
                target: self.target(),
                message: format!("{what} ({o}) is {v:?}, not an integer"),
            }),
            None => Err(PduError::Protocol {
                target: self.target(),
                message: format!("no value for {what}"),
            }),
        }
    }

    fn state_oid(&self, outlet: u32) -> Vec<u64> {
        match self.cfg.table {
            OutletTable::Rpdu => oids::at(oids::RPDU_STATE, outlet),
            OutletTable::Masterswitch => oids::at(oids::SPDU_CTL, outlet),
        }
    }

    fn control_oid(&self, outlet: u32) -> Vec<u64> {
        match self.cfg.table {
            OutletTable::Rpdu => oids::at(oids::RPDU_CONTROL, outlet),
            OutletTable::Masterswitch => oids::at(oids::SPDU_CTL, outlet),
        }
    }

    async fn command(&self, outlet: u32, value: i64) -> Result<(), PduError> {
        self.run(&Op::Set(self.control_oid(outlet), value))
            .await
            .map(|_| ())
    }

    /// Model detection from sysObjectID and rPDUIdentModelNumber.
    pub async fn identify(&self) -> Result<Identity, PduError> {
        let v = self.get(&[oids::SYS_OBJECT_ID.to_vec()]).await?;
        let sys_object_id = match v.first() {
            Some((_, Val::Oid(o))) => o.clone(),
            other => format!("{other:?}"),
        };
        let rpdu = self
            .get(&[oids::RPDU_MODEL.to_vec(), oids::RPDU_NUM_OUTLETS.to_vec()])
            .await;
        match rpdu {
            Ok(v) if matches!(v.first(), Some((_, Val::Str(_)))) => Ok(Identity {
                sys_object_id,
                model: match &v[0].1 {
                    Val::Str(s) => Some(s.clone()),
                    _ => None,
                },
                outlets: match v.get(1) {
                    Some((_, Val::Int(n))) => u32::try_from(*n).ok(),
                    _ => None,
                },
                table: OutletTable::Rpdu,
            }),
            _ => Ok(Identity {
                sys_object_id,
                model: None,
                outlets: None,
                table: OutletTable::Masterswitch,
            }),
        }
    }

    /// Every outlet with its name, state and pending flag, as read.
    pub async fn list(&self, count: u32) -> Result<Vec<OutletInfo>, PduError> {
        let mut out = Vec::new();
        for n in 1..=count {
            let (name_oid, pending) = match self.cfg.table {
                OutletTable::Rpdu => (
                    oids::at(oids::RPDU_NAME, n),
                    Some(oids::at(oids::RPDU_PENDING, n)),
                ),
                OutletTable::Masterswitch => (oids::at(oids::SPDU_NAME, n), None),
            };
            let mut q = vec![name_oid, self.state_oid(n)];
            q.extend(pending);
            let v = self.get(&q).await?;
            out.push(OutletInfo {
                outlet: n,
                name: match v.first() {
                    Some((_, Val::Str(s))) => s.clone(),
                    _ => String::new(),
                },
                state: self.int(&v, 1, "outlet state").ok().and_then(state_of),
                pending: v.get(2).and_then(|(_, x)| match x {
                    Val::Int(1) => Some(true),
                    Val::Int(2) => Some(false),
                    _ => None,
                }),
            });
        }
        Ok(out)
    }
}

fn state_of(n: i64) -> Option<PowerState> {
    match n {
        1 => Some(PowerState::On),
        2 => Some(PowerState::Off),
        _ => None,
    }
}

fn dotted(o: &[u64]) -> String {
    o.iter().map(u64::to_string).collect::<Vec<_>>().join(".")
}

fn to_val(v: &Value<'_>) -> Val {
    match v {
        Value::Integer(n) => Val::Int(*n),
        Value::OctetString(b) => Val::Str(String::from_utf8_lossy(b).into_owned()),
        Value::ObjectIdentifier(o) => Val::Oid(o.to_id_string()),
        Value::NoSuchObject => Val::Missing("noSuchObject".into()),
        Value::NoSuchInstance => Val::Missing("noSuchInstance".into()),
        Value::EndOfMibView => Val::Missing("endOfMibView".into()),
        other => Val::Other(format!("{other:?}")),
    }
}

fn error_status(s: u32) -> &'static str {
    match s {
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        7 => "wrongType",
        10 => "wrongValue",
        16 => "authorizationError (the user may not write this object)",
        17 => "notWritable",
        _ => "see RFC 3416",
    }
}

/// Says what an SNMP library error means for an operator.
fn explain(e: &snmp2::Error) -> String {
    use snmp2::v3::AuthErrorKind as K;
    match e {
        snmp2::Error::AuthFailure(K::NotAuthenticated) => "the agent answered with an unauthenticated report: unknown user name (usmStatsUnknownUserNames) or wrong authentication password/protocol (usmStatsWrongDigests)".into(),
        snmp2::Error::AuthFailure(K::SignatureMismatch) => "the answer's digest does not match: wrong authentication password or protocol (usmStatsWrongDigests)".into(),
        snmp2::Error::AuthFailure(K::ReplyNotEncrypted) => "the agent answered unencrypted: it could not decrypt the request (usmStatsDecryptionErrors: wrong privacy password or protocol) or the user has no privacy configured".into(),
        snmp2::Error::AuthFailure(K::EngineBootsMismatch | K::EngineTimeMismatch) => "engine boots/time out of window (usmStatsNotInTimeWindows): the agent restarted; re-discovery failed".into(),
        snmp2::Error::AsnParse | snmp2::Error::AsnWrongType | snmp2::Error::AsnEof => "could not parse the answer: decryption error (wrong privacy password or protocol) or not an SNMP agent".into(),
        snmp2::Error::Crypto(c) => format!("decryption error: {c} (wrong privacy password or protocol)"),
        snmp2::Error::Send | snmp2::Error::Receive => "network error sending or receiving (PDU unreachable, port closed)".into(),
        other => other.to_string(),
    }
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (t ^ std::process::id()) as u16
}

#[async_trait]
impl PowerDriver for ApcSnmpDriver {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    async fn status(&self, outlet: u32) -> Result<PowerState, PduError> {
        let v = self.get(&[self.state_oid(outlet)]).await?;
        let n = self.int(&v, 0, &format!("state of outlet {outlet}"))?;
        state_of(n).ok_or_else(|| PduError::Protocol {
            target: self.target(),
            message: format!("outlet {outlet} state reads {n}, neither 1 (on) nor 2 (off)"),
        })
    }

    async fn on(&self, outlet: u32) -> Result<(), PduError> {
        self.command(outlet, 1).await
    }

    async fn off(&self, outlet: u32) -> Result<(), PduError> {
        self.command(outlet, 2).await
    }
}

#[cfg(test)]
mod tests;
