//! Facts of the identity gate: SSSD, NSS, Kerberos keytab, FreeIPA, sshd.
use super::*;

// -------------------------------------------------------------------- identity

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct IdentityFacts {
    /// PIDs of running sssd processes.
    pub sssd_pids: Vec<u32>,
    pub sssd_conf: Observed<SssdConf>,
    /// Per configured domain: online or offline, as sssd reports it.
    pub domain_status: Vec<DomainStatus>,
    pub nsswitch: Observed<NssSwitch>,
    /// Users the spec names, looked up through NSS (getpwnam).
    pub users: Vec<UserLookup>,
    pub keytab: Observed<Keytab>,
    pub ipa: Observed<IpaConf>,
    pub sshd: Observed<SshdAuth>,
    /// The break-glass account the spec names, from the local files only.
    pub break_glass: Observed<LocalAccount>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SssdConf {
    pub path: String,
    /// Octal permission bits (`0600`).
    pub mode: String,
    pub owner_uid: u32,
    /// `[sssd] services`.
    pub services: Vec<String>,
    pub domains: Vec<SssdDomain>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SssdDomain {
    pub name: String,
    pub id_provider: Option<String>,
    pub auth_provider: Option<String>,
    pub cache_credentials: bool,
    pub krb5_realm: Option<String>,
    pub ipa_domain: Option<String>,
    pub ipa_server: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct DomainStatus {
    pub domain: String,
    pub online: Observed<bool>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct NssSwitch {
    pub passwd: Vec<String>,
    pub group: Vec<String>,
    pub sudoers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct UserLookup {
    pub name: String,
    /// `Ok(None)`: NSS answered that there is no such user.
    pub entry: Observed<Option<PasswdEntry>>,
    pub elapsed_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct PasswdEntry {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct Keytab {
    pub path: String,
    pub mode: String,
    /// `principal@REALM (kvno N, enctype E)`.
    pub entries: Vec<KeytabEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct KeytabEntry {
    pub principal: String,
    pub kvno: u32,
    pub enctype: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct IpaConf {
    pub realm: Option<String>,
    pub domain: Option<String>,
    pub server: Option<String>,
    pub host: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct SshdAuth {
    pub authorized_keys_command: Option<String>,
    pub authorized_keys_command_user: Option<String>,
    /// The command's program exists and is executable.
    pub command_present: bool,
    /// The command is sss_ssh_authorizedkeys, or a wrapper script that runs it.
    #[serde(default)]
    pub via_sss: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct LocalAccount {
    pub name: String,
    pub uid: u32,
    pub shell: String,
    pub home: String,
    pub home_exists: bool,
    /// `hash` (a usable password), `locked`, `empty`, `no_shadow_entry`.
    pub password: String,
    /// The shadow expiry date has passed.
    pub expired: bool,
    /// Keys in ~/.ssh/authorized_keys.
    pub authorized_keys: u32,
}
