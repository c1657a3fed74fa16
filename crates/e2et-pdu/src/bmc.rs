//! A host's own power button, pressed from outside: the BMC over IPMI
//! (`chassis power soft`, as `ipmitool` sends it) or the hypervisor over QMP
//! (`system_powerdown`). This is the clean shutdown when no agent can take
//! one; the PDU outlet is cut only after it, and every press and read is
//! bounded.
use crate::qmp::QmpDriver;
use crate::{PduError, PowerDriver, PowerState};
use e2et_model::inventory::{BmcSource, IpmiSol};
use std::path::PathBuf;
use std::time::Duration;

/// How long one ipmitool call may take (its own retries included).
const IPMITOOL_TIMEOUT: Duration = Duration::from_secs(15);

pub enum Bmc {
    Ipmi {
        host: String,
        sol: IpmiSol,
        /// The BMC password's file (`ipmi-<host>`), given to ipmitool with
        /// `-f`: never an argument.
        password_file: PathBuf,
        ipmitool: PathBuf,
    },
    Qmp(QmpDriver),
}

impl Bmc {
    /// `host`'s BMC from its inventory `bmc`; an IPMI BMC's password is the
    /// credential `ipmi-<host>` in `credentials_dir`.
    pub fn new(
        host: &str,
        src: &BmcSource,
        credentials_dir: Option<&std::path::Path>,
        ipmitool: &std::path::Path,
    ) -> Result<Bmc, String> {
        match src {
            BmcSource::Qmp(p) => Ok(Bmc::Qmp(QmpDriver::at_socket(
                format!("{host}'s hypervisor (QMP {})", p.display()),
                p.clone(),
            ))),
            BmcSource::Ipmi(sol) => {
                let dir = credentials_dir.ok_or_else(|| {
                    format!("no credentials directory: {host}'s BMC password is read from ipmi-{host} there")
                })?;
                let password_file = dir.join(format!("ipmi-{host}"));
                if !password_file.is_file() {
                    return Err(format!(
                        "{host}'s BMC password: {} does not exist",
                        password_file.display()
                    ));
                }
                Ok(Bmc::Ipmi {
                    host: host.to_string(),
                    sol: sol.clone(),
                    password_file,
                    ipmitool: ipmitool.to_path_buf(),
                })
            }
        }
    }

    /// For logs and step details.
    pub fn describe(&self) -> String {
        match self {
            Bmc::Qmp(d) => format!("QMP system_powerdown on {}", d.socket(1).display()),
            Bmc::Ipmi { sol, .. } => format!(
                "IPMI chassis power soft on {}@{}:{}",
                sol.user, sol.bmc, sol.port
            ),
        }
    }

    /// Presses the power button (ACPI): the OS shuts down if it listens.
    pub async fn press_power_button(&self) -> Result<(), PduError> {
        match self {
            Bmc::Qmp(d) => d.soft_off(1).await,
            Bmc::Ipmi { .. } => self
                .ipmitool(&["chassis", "power", "soft"])
                .await
                .map(|_| ()),
        }
    }

    /// Whether the host is powered, as its BMC sees it.
    pub async fn power(&self) -> Result<PowerState, PduError> {
        match self {
            Bmc::Qmp(d) => d.status(1).await,
            Bmc::Ipmi { host, .. } => {
                let out = self.ipmitool(&["chassis", "power", "status"]).await?;
                chassis_power(&out).map_err(|message| PduError::Protocol {
                    target: format!("{host}'s BMC"),
                    message,
                })
            }
        }
    }

    /// The ipmitool (lanplus) command line of `cmd`: everything but the
    /// password, which ipmitool reads from `password_file` (never an
    /// argument: argv is world-readable in /proc). Shared with the SOL
    /// console (e2et-coordinator's console.rs).
    pub fn ipmitool_args(
        sol: &IpmiSol,
        password_file: &std::path::Path,
        cmd: &[&str],
    ) -> Vec<String> {
        let mut a: Vec<String> = [
            "-I",
            "lanplus",
            "-H",
            &sol.bmc,
            "-p",
            &sol.port.to_string(),
            "-U",
            &sol.user,
            "-C",
            &sol.cipher.to_string(),
            "-f",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(password_file.display().to_string());
        a.extend(cmd.iter().map(|s| s.to_string()));
        a
    }

    async fn ipmitool(&self, cmd: &[&str]) -> Result<String, PduError> {
        let Bmc::Ipmi {
            host,
            sol,
            password_file,
            ipmitool,
        } = self
        else {
            unreachable!("ipmitool is only run for an IPMI BMC")
        };
        let target = format!("{host}'s BMC {}:{}", sol.bmc, sol.port);
        let mut c = tokio::process::Command::new(ipmitool);
        // Two tries of two seconds each, so one call stays well inside
        // IPMITOOL_TIMEOUT.
        c.args(["-N", "2", "-R", "2"])
            .args(Bmc::ipmitool_args(sol, password_file, cmd))
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(IPMITOOL_TIMEOUT, c.output())
            .await
            .map_err(|_| PduError::Timeout(IPMITOOL_TIMEOUT))?
            .map_err(|source| PduError::Connect {
                target: format!("{target} (running {})", ipmitool.display()),
                source,
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(PduError::Device {
                target,
                command: cmd.join(" "),
                message: format!("ipmitool {}: {}", out.status, err.trim()),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Parses `ipmitool chassis power status`: "Chassis Power is on|off".
pub fn chassis_power(out: &str) -> Result<PowerState, String> {
    match out.trim().strip_prefix("Chassis Power is ") {
        Some("on") => Ok(PowerState::On),
        Some("off") => Ok(PowerState::Off),
        _ => Err(format!("unexpected chassis power status {:?}", out.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chassis_power_reads_only_ipmitools_two_answers() {
        assert_eq!(chassis_power("Chassis Power is on\n"), Ok(PowerState::On));
        assert_eq!(chassis_power("Chassis Power is off\n"), Ok(PowerState::Off));
        assert!(chassis_power("Chassis Power is unknown").is_err());
        assert!(chassis_power("").is_err());
    }

    #[test]
    fn the_password_is_a_file_never_an_argument() {
        let sol = IpmiSol {
            user: "ADMIN".into(),
            bmc: "k10-bmc".into(),
            port: 623,
            cipher: 17,
        };
        let a = Bmc::ipmitool_args(
            &sol,
            std::path::Path::new("/run/creds/ipmi-k10"),
            &["chassis", "power", "soft"],
        );
        let f = a.iter().position(|x| x == "-f").expect("-f");
        assert_eq!(a[f + 1], "/run/creds/ipmi-k10");
        assert!(!a.iter().any(|x| x == "-P"), "{a:?}");
        assert_eq!(&a[a.len() - 3..], ["chassis", "power", "soft"]);
    }

    #[test]
    fn an_ipmi_bmc_needs_its_password_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = BmcSource::parse("ipmi:ADMIN@k10-bmc").unwrap();
        let e = Bmc::new("k10", &src, Some(dir.path()), "ipmitool".as_ref())
            .err()
            .expect("no password file");
        assert!(e.contains("ipmi-k10"), "{e}");
        std::fs::write(dir.path().join("ipmi-k10"), "pw").unwrap();
        let b = Bmc::new("k10", &src, Some(dir.path()), "ipmitool".as_ref()).unwrap();
        assert_eq!(b.describe(), "IPMI chassis power soft on ADMIN@k10-bmc:623");
    }
}
