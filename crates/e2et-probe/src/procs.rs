//! The process table, read once per collection from /proc and shared by the
//! collectors that ask "is X running" (sshd, sssd, time and syslog daemons,
//! services on hosts without a service manager).
use crate::root::Root;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    /// The program name: /proc/<pid>/comm, or argv[0]'s basename when comm
    /// is cut at the kernel's 15 characters.
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct Procs {
    pub procs: Vec<Proc>,
}

/// comm is TASK_COMM_LEN - 1 bytes at most.
const COMM_MAX: usize = 15;

impl Procs {
    /// Every live process: /proc/<pid>/stat gives the name and the state in
    /// one read; exited processes not yet reaped (zombies) are left out.
    pub fn scan(root: &Root) -> Procs {
        let mut procs = Vec::new();
        for entry in root.list("/proc") {
            let Ok(pid) = entry.parse::<u32>() else {
                continue;
            };
            let Some((comm, state)) = root
                .read(&format!("/proc/{pid}/stat"))
                .ok()
                .as_deref()
                .and_then(parse_stat)
            else {
                continue;
            };
            if state == 'Z' || state == 'X' {
                continue;
            }
            let name = if comm.len() >= COMM_MAX {
                root.read(&format!("/proc/{pid}/cmdline"))
                    .ok()
                    .and_then(|c| argv0_name(&c))
                    .filter(|n| n.starts_with(&comm))
                    .unwrap_or(comm)
            } else {
                comm
            };
            procs.push(Proc { pid, name });
        }
        Procs { procs }
    }

    /// PIDs of processes with this program name.
    pub fn pids(&self, name: &str) -> Vec<u32> {
        self.procs
            .iter()
            .filter(|p| p.name == name)
            .map(|p| p.pid)
            .collect()
    }

    pub fn running(&self, name: &str) -> bool {
        self.procs.iter().any(|p| p.name == name)
    }

    /// The first of `names` that is running.
    pub fn first_running<'a>(&self, names: &[&'a str]) -> Option<&'a str> {
        names.iter().copied().find(|n| self.running(n))
    }

    pub fn name_of(&self, pid: u32) -> Option<&str> {
        self.procs
            .iter()
            .find(|p| p.pid == pid)
            .map(|p| p.name.as_str())
    }
}

/// `(comm, state)` of a /proc/<pid>/stat line: `42 (sshd) S 1 ...`; the
/// name sits between the first `(` and the last `)` (it may hold either).
pub fn parse_stat(s: &str) -> Option<(String, char)> {
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s.get(open + 1..close)?.to_string();
    let state = s.get(close + 1..)?.trim_start().chars().next()?;
    Some((comm, state))
}

/// Basename of the first NUL-separated argument.
pub fn argv0_name(cmdline: &str) -> Option<String> {
    let a0 = cmdline.split('\0').next()?.split_whitespace().next()?;
    let base = a0.rsplit('/').next()?;
    (!base.is_empty()).then(|| base.trim_end_matches(':').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines() {
        assert_eq!(parse_stat("42 (sshd) S 1 42"), Some(("sshd".into(), 'S')));
        assert_eq!(
            parse_stat("7 (a) b) Z 1"),
            Some(("a) b".into(), 'Z')),
            "the last ')' ends the name"
        );
        assert_eq!(parse_stat("nonsense"), None);
    }

    #[test]
    fn long_names_come_from_argv0() {
        assert_eq!(
            argv0_name("/lib/systemd/systemd-timesyncd\0--foo\0").as_deref(),
            Some("systemd-timesyncd")
        );
        assert_eq!(
            argv0_name("sshd: /usr/sbin/sshd -D [listener]\0").as_deref(),
            Some("sshd")
        );
        assert_eq!(argv0_name(""), None);
    }

    #[test]
    fn fixture_process_table() {
        let d = tempfile::tempdir().unwrap();
        for (pid, comm, state, cmd) in [
            ("1", "systemd", "S", "/sbin/init\0"),
            (
                "77",
                "systemd-journal",
                "S",
                "/lib/systemd/systemd-journald\0",
            ),
            ("90", "sssd_be", "S", "/usr/libexec/sssd/sssd_be\0"),
            ("91", "chronyd", "Z", "\0"),
        ] {
            let p = d.path().join("proc").join(pid);
            std::fs::create_dir_all(&p).unwrap();
            std::fs::write(p.join("stat"), format!("{pid} ({comm}) {state} 1 1 1 0\n")).unwrap();
            std::fs::write(p.join("cmdline"), cmd).unwrap();
        }
        std::fs::create_dir_all(d.path().join("proc/self")).unwrap();
        let ps = Procs::scan(&Root::new(d.path()));
        assert_eq!(ps.procs.len(), 3, "the zombie chronyd is not running");
        assert!(!ps.running("chronyd"));
        assert!(ps.running("systemd-journald"), "{ps:?}");
        assert_eq!(ps.pids("sssd_be"), vec![90]);
        assert_eq!(ps.first_running(&["chronyd", "systemd"]), Some("systemd"));
    }
}
