//! The live host's system calls and library calls the collectors need:
//! commands with a time bound, the resolver (getaddrinfo, getnameinfo), NSS
//! (getpwnam_r), adjtimex. Each blocking call runs under a deadline.
use e2et_model::facts::{KernelClock, PasswdEntry};
use e2et_model::Observed;
use serde::{Deserialize, Serialize};
use std::ffi::{CStr, CString};
use std::io::Read;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Output of a command the probe ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CmdOutput {
    /// Exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `f` on a thread and waits at most `timeout` for it. A call that
/// overruns is abandoned (the thread finishes on its own); the caller gets an
/// error naming the bound.
pub fn with_timeout<T: Send + 'static>(
    timeout: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("e2et-bounded".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| format!("{what}: cannot start a thread: {e}"))?;
    rx.recv_timeout(timeout)
        .map_err(|_| format!("{what}: no answer within {:.1}s", timeout.as_secs_f64()))
}

/// Keeps at most `max` bytes of a command's output (the tail is what matters
/// least; a runaway command must not fill the facts).
const MAX_OUTPUT: usize = 256 * 1024;

fn read_capped(mut r: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = r.by_ref().take(MAX_OUTPUT as u64).read_to_end(&mut buf);
    // Drain the rest so the child does not block on a full pipe.
    let _ = std::io::copy(&mut r, &mut std::io::sink());
    String::from_utf8_lossy(&buf).into_owned()
}

/// Runs a command with its output captured and a time bound; on overrun the
/// child is killed. A program that is not installed is not applicable.
pub fn run_command(argv: &[&str], timeout: Duration) -> Observed<CmdOutput> {
    let Some((prog, args)) = argv.split_first() else {
        return Observed::err("empty command");
    };
    let mut child = match Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("LC_ALL", "C")
        .spawn()
    {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Observed::na(format!("`{prog}` is not installed"))
        }
        Err(e) => return Observed::err(format!("cannot run {prog}: {e}")),
    };
    let out = child
        .stdout
        .take()
        .map(|o| std::thread::spawn(move || read_capped(o)));
    let err = child
        .stderr
        .take()
        .map(|o| std::thread::spawn(move || read_capped(o)));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Observed::err(format!("waiting for {prog}: {e}")),
        }
    };
    let stdout = out.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = err.and_then(|h| h.join().ok()).unwrap_or_default();
    match status {
        None => Observed::err(format!(
            "`{}` did not finish within {:.1}s (killed)",
            argv.join(" "),
            timeout.as_secs_f64()
        )),
        Some(s) => Observed::ok(CmdOutput {
            code: s.code(),
            stdout,
            stderr,
        }),
    }
}

/// The kernel clock's synchronisation state (adjtimex with no modes set).
pub fn adjtimex() -> Observed<KernelClock> {
    // SAFETY: a zeroed timex with modes = 0 only reads the kernel's state.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return Observed::err(format!("adjtimex: {}", std::io::Error::last_os_error()));
    }
    let unsync = tx.status & libc::STA_UNSYNC != 0;
    Observed::ok(KernelClock {
        synchronised: !unsync && state != libc::TIME_ERROR,
        state,
        status: i64::from(tx.status),
        max_error_us: tx.maxerror,
        est_error_us: tx.esterror,
    })
}

/// The canonical name of `host` through the resolver (what `hostname -f` prints).
pub fn canonical_name(host: &str) -> Result<String, String> {
    let c = CString::new(host).map_err(|_| format!("{host:?} contains NUL"))?;
    // SAFETY: hints is zeroed and valid; res is freed with freeaddrinfo.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_family = libc::AF_UNSPEC;
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        let rc = libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res);
        if rc != 0 {
            return Err(gai_error(rc));
        }
        let name = if res.is_null() || (*res).ai_canonname.is_null() {
            None
        } else {
            Some(
                CStr::from_ptr((*res).ai_canonname)
                    .to_string_lossy()
                    .into_owned(),
            )
        };
        libc::freeaddrinfo(res);
        name.ok_or_else(|| format!("the resolver gave no canonical name for {host}"))
    }
}

fn gai_error(rc: i32) -> String {
    // SAFETY: gai_strerror returns a static string.
    unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }
        .to_string_lossy()
        .into_owned()
}

/// Forward lookup: every address the resolver returns for `name`.
pub fn forward(name: &str) -> Result<Vec<String>, String> {
    use std::net::ToSocketAddrs;
    let mut v: Vec<String> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .map(|a| a.ip().to_string())
        .collect();
    v.sort();
    v.dedup();
    Ok(v)
}

/// Reverse lookup of an address (PTR through nsswitch): the name, required.
pub fn reverse(ip: &str) -> Result<Vec<String>, String> {
    let addr: IpAddr = ip
        .parse()
        .map_err(|_| format!("{ip:?} is not an address"))?;
    let sa: std::net::SocketAddr = (addr, 0).into();
    let (storage, len) = sockaddr(&sa);
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: storage holds a valid sockaddr of `len` bytes; host is large
    // enough for NI_MAXHOST.
    let rc = unsafe {
        libc::getnameinfo(
            &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
            len,
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return Err(gai_error(rc));
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    Ok(vec![name])
}

fn sockaddr(sa: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is large enough for either family.
    let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match sa {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage.
            unsafe {
                std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in, sin);
            }
            (
                st,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        std::net::SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage.
            unsafe {
                std::ptr::write(&mut st as *mut _ as *mut libc::sockaddr_in6, sin6);
            }
            (
                st,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// A user through NSS (files, sss, ldap: whatever nsswitch.conf says).
/// `Ok(None)` when NSS answers that there is no such user.
pub fn getpwnam(name: &str) -> Result<Option<PasswdEntry>, String> {
    let c = CString::new(name).map_err(|_| format!("{name:?} contains NUL"))?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    loop {
        // SAFETY: pwd and buf outlive the call; result points into them.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = unsafe {
            libc::getpwnam_r(
                c.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        // getpwnam(3): "0 or ENOENT or ESRCH or EBADF or EPERM or ...: the
        // given name was not found" (glibc says ENOENT when a module such
        // as sss is unavailable).
        if matches!(rc, libc::ENOENT | libc::ESRCH | libc::EBADF | libc::EPERM) {
            return Ok(None);
        }
        if rc != 0 {
            return Err(format!(
                "getpwnam_r({name}): {}",
                std::io::Error::from_raw_os_error(rc)
            ));
        }
        if result.is_null() {
            return Ok(None);
        }
        // SAFETY: on success the strings are NUL-terminated inside buf.
        let s =
            |p: *const libc::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
        return Ok(Some(PasswdEntry {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            home: s(pwd.pw_dir),
            shell: s(pwd.pw_shell),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_output_exit_code_and_missing_program() {
        let o = run_command(
            &["sh", "-c", "echo out; echo err >&2; exit 3"],
            Duration::from_secs(5),
        );
        let v = o.value().unwrap();
        assert_eq!(
            (v.code, v.stdout.as_str(), v.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        let m = run_command(&["e2et-no-such-program"], Duration::from_secs(1));
        assert_eq!(
            m.why_not().unwrap(),
            "not applicable: `e2et-no-such-program` is not installed"
        );
    }

    #[test]
    fn command_overrunning_its_bound_is_killed() {
        let t = Instant::now();
        let o = run_command(&["sleep", "5"], Duration::from_millis(200));
        assert!(o.why_not().unwrap().contains("did not finish within 0.2s"));
        assert!(t.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn root_resolves_through_nss_and_unknown_user_is_none() {
        assert_eq!(getpwnam("root").unwrap().unwrap().uid, 0);
        assert!(getpwnam("e2et-no-such-user-x").unwrap().is_none());
    }

    #[test]
    fn loopback_resolves_both_ways() {
        assert!(forward("localhost")
            .unwrap()
            .iter()
            .any(|a| a == "127.0.0.1" || a == "::1"));
        assert!(reverse("127.0.0.1").is_ok());
        assert!(reverse("not-an-ip").is_err());
    }
}
