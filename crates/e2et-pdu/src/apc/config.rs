//! How to reach one APC PDU: address, SNMP security (v3 USM or v1/v2c
//! community) and which outlet table it has.
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum AuthProto {
    #[serde(rename = "MD5")]
    #[value(name = "MD5")]
    Md5,
    #[serde(rename = "SHA")]
    #[value(name = "SHA")]
    Sha,
    #[serde(rename = "SHA256")]
    #[value(name = "SHA256")]
    Sha256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum PrivProto {
    #[serde(rename = "DES")]
    #[value(name = "DES")]
    Des,
    #[serde(rename = "AES")]
    #[value(name = "AES")]
    Aes,
}

impl fmt::Display for AuthProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthProto::Md5 => "MD5",
            AuthProto::Sha => "SHA",
            AuthProto::Sha256 => "SHA256",
        })
    }
}

impl fmt::Display for PrivProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrivProto::Des => "DES",
            PrivProto::Aes => "AES",
        })
    }
}

/// Which outlet table the PDU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OutletTable {
    /// AP79xx rPDU tables (control and status separate, pending flag).
    #[default]
    Rpdu,
    /// Older MasterSwitch sPDUOutletCtl (one column, read and write).
    Masterswitch,
}

/// Credentials and protocol. Passwords are read from files by the caller and
/// never printed (Debug hides them).
#[derive(Clone)]
pub enum SnmpAuth {
    V3 {
        user: String,
        auth: AuthProto,
        auth_password: String,
        /// `None` is authNoPriv.
        privacy: Option<(PrivProto, String)>,
    },
    /// v1/v2c: only when the configuration allows an insecure protocol.
    Community { v1: bool, community: String },
}

impl fmt::Debug for SnmpAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl SnmpAuth {
    /// What was tried, without secrets: `user pdu-ops, SHA/AES (authPriv)`.
    pub fn describe(&self) -> String {
        match self {
            SnmpAuth::V3 {
                user,
                auth,
                privacy: Some((p, _)),
                ..
            } => format!("SNMPv3 user {user}, auth {auth}, privacy {p} (authPriv)"),
            SnmpAuth::V3 {
                user,
                auth,
                privacy: None,
                ..
            } => format!("SNMPv3 user {user}, auth {auth}, no privacy (authNoPriv)"),
            SnmpAuth::Community { v1, .. } => {
                format!(
                    "SNMP{} community (insecure)",
                    if *v1 { "v1" } else { "v2c" }
                )
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApcConfig {
    pub name: String,
    /// `host:port`.
    pub address: String,
    pub auth: SnmpAuth,
    pub table: OutletTable,
    /// Per request.
    pub timeout: Duration,
    pub retries: u32,
}
