//! The lab's world: a network namespace with a bridge, dnsmasq, e2etd and QEMU
//! VMs, all torn down when the [`Lab`] is dropped.
use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod vm;

pub const BRIDGE_IP: &str = "10.99.0.1";
pub const SUBNET: &str = "10.99.0.0";
pub const PORT: u16 = 8080;

pub fn coordinator_url() -> String {
    format!("http://{BRIDGE_IP}:{PORT}")
}

/// The lab coordinator's heartbeat timeout: the agents beat every 2 s.
pub const HEARTBEAT_TIMEOUT_S: u64 = 20;

/// Where VM `name`'s serial console socket is, in lab directory `dir`.
pub fn console_socket(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.console.sock"))
}

/// A lab VM's BMC (OpenIPMI's ipmi_sim), inside the namespace: RMCP+ on
/// this UDP port of the namespace's loopback, with Serial over LAN wired to
/// the VM's serial port, a TCP chardev on [`SOL_SERIAL_PORT`].
pub const BMC_PORT: u16 = 6230;
pub const SOL_SERIAL_PORT: u16 = 7001;
pub const BMC_USER: &str = "e2et";
/// Debian's iPXE binaries for the firmware's own PXE client (package ipxe).
pub const IPXE_DIR: &str = "/usr/lib/ipxe";
/// Debian's OVMF (package ovmf): the UEFI firmware code and its variable
/// store template (4 MiB flash layout).
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// The `consoleCapture` of a VM whose console is read through its BMC.
/// ipmi_sim offers RMCP+ cipher suites up to 3 (HMAC-SHA1, AES-CBC-128).
pub fn sol_capture() -> String {
    format!("ipmi-sol:{BMC_USER}@127.0.0.1:{BMC_PORT}?cipher=3")
}

pub struct Vm {
    pub serial: PathBuf,
}

pub struct Lab {
    pub ns: String,
    pub dir: PathBuf,
    pub bin: PathBuf,
    children: Vec<(String, Child)>,
    taps: u32,
    /// The PDU emulator's snmpd and its arguments, kept apart so it can be restarted.
    emulator: Option<(Child, Vec<String>)>,
    /// VMs whose serial port is carried by a BMC (SOL) rather than read
    /// from a Unix socket.
    sol: std::collections::HashSet<String>,
    /// VMs booted by OVMF (UEFI) with no iPXE option ROM on their NIC: the
    /// firmware's own PXE client fetches iPXE over TFTP.
    uefi: std::collections::HashSet<String>,
    /// Kernel arguments added to the netboot image's (a scenario's switch
    /// inside the image, e.g. `e2et.lab.drop_ssh`).
    pub extra_kernel_args: String,
    /// Role images e2etd serves beside the default (`--image name=dir`).
    pub images: Vec<(String, PathBuf)>,
    /// Namespaces of other machines on the bridge ([`Lab::add_neighbour`]).
    neighbours: Vec<String>,
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

fn sh(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

impl Lab {
    /// Creates the namespace `e2etlab<pid>` with bridge br0 (10.99.0.1/24 and a
    /// ULA for router advertisements, so iPXE does not wait for IPv6).
    pub fn new(dir: &Path, bin: &Path) -> Result<Lab> {
        std::fs::create_dir_all(dir)?;
        let ns = format!("e2etlab{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        sh(Command::new("ip").args(["netns", "add", &ns]))
            .context("creating a network namespace (the lab needs root)")?;
        let lab = Lab {
            ns,
            dir: dir.to_path_buf(),
            bin: bin.to_path_buf(),
            children: Vec::new(),
            sol: Default::default(),
            uefi: Default::default(),
            extra_kernel_args: String::new(),
            images: Vec::new(),
            neighbours: Vec::new(),
            taps: 0,
            emulator: None,
        };
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["link", "add", "br0", "type", "bridge"],
            vec!["addr", "add", "10.99.0.1/24", "dev", "br0"],
            vec![
                "-6",
                "addr",
                "add",
                "fd00:e2e7::1/64",
                "dev",
                "br0",
                "nodad",
            ],
            vec!["link", "set", "br0", "up"],
        ] {
            sh(Command::new("ip").args(["-n", &lab.ns]).args(&args))?;
        }
        // Everything run in the namespace (e2etd's inventory gate, tools)
        // resolves through the lab's site DNS: `ip netns exec` mounts
        // /etc/netns/<ns>/resolv.conf over /etc/resolv.conf.
        let etc = Path::new("/etc/netns").join(&lab.ns);
        std::fs::create_dir_all(&etc).with_context(|| format!("creating {}", etc.display()))?;
        std::fs::write(etc.join("resolv.conf"), format!("nameserver {BRIDGE_IP}\n"))?;
        // The lab's operator token: e2etd serves no operator API without one,
        // and the CLI sends it.
        let mut raw = [0u8; 32];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut raw)?;
        write_secret(&lab.operator_token(), &hex::encode(raw))?;
        Ok(lab)
    }

    /// The site's DNS (its IPAM) in the lab: a DNS-only dnsmasq on the bridge
    /// with an A and a PTR record for every inventory host, answering nothing
    /// else. The provisioning dnsmasq hands it out as the DNS server.
    pub fn start_site_dns(&mut self, inventory: &Path) -> Result<()> {
        let inv: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(inventory)
                .with_context(|| format!("reading {}", inventory.display()))?,
        )?;
        let mut c = self.cmd("dnsmasq");
        c.arg("--keep-in-foreground")
            .arg("--conf-file=/dev/null")
            .args([
                "--port=53",
                "--bind-interfaces",
                "--no-resolv",
                "--no-hosts",
            ])
            .arg(format!("--listen-address={BRIDGE_IP}"))
            .arg(format!("--pid-file={}", self.dir.join("dns.pid").display()))
            .arg("--log-queries")
            .arg(format!(
                "--log-facility={}",
                self.dir.join("dns.log").display()
            ));
        if let Some(d) = inv["site"]["domain"].as_str() {
            c.arg(format!("--local=/{d}/"));
        }
        for (_, h) in inv["hosts"].as_object().into_iter().flatten() {
            if let (Some(f), Some(ip)) = (h["fqdn"].as_str(), h["ip"].as_str()) {
                c.arg(format!("--host-record={f},{ip}"));
            }
        }
        self.spawn("site DNS (dnsmasq)", c, "dns.out")
    }

    /// A command that runs inside the namespace.
    pub fn cmd(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns]).arg(prog);
        c
    }

    fn log(&self, name: &str) -> Result<std::fs::File> {
        let p = self.dir.join(name);
        std::fs::File::create(&p).with_context(|| format!("creating {}", p.display()))
    }

    pub fn spawn(&mut self, what: &str, mut c: Command, log: &str) -> Result<()> {
        let f = self.log(log)?;
        c.stdin(Stdio::null()).stdout(f.try_clone()?).stderr(f);
        let child = c.spawn().with_context(|| format!("starting {what}"))?;
        self.children.push((what.to_string(), child));
        Ok(())
    }

    /// Starts dnsmasq with e2etd's configuration. With `tftp`, it also
    /// serves iPXE over TFTP to the firmware's own PXE client (Debian's
    /// ipxe.efi and undionly.kpxe, copied into `<lab>/tftp`).
    pub fn start_dnsmasq(&mut self, inventory: &Path, tftp: bool) -> Result<()> {
        let conf = self.dir.join("dnsmasq.conf");
        let mut cmd = Command::new(self.bin.join("e2etd"));
        cmd.arg("--inventory")
            .arg(inventory)
            .args(["dnsmasq-config", "--interface", "br0", "--subnet", SUBNET])
            .args([
                "--public-url",
                &coordinator_url(),
                "--router-advertisements",
            ])
            .arg("--dhcp-log")
            .arg(self.dir.join("dnsmasq.log"));
        if tftp {
            let root = self.dir.join("tftp");
            std::fs::create_dir_all(&root)?;
            for f in ["ipxe.efi", "undionly.kpxe"] {
                let src = Path::new(IPXE_DIR).join(f);
                std::fs::copy(&src, root.join(f)).with_context(|| {
                    format!(
                        "{} (Debian package ipxe; scripts/lab-deps.sh)",
                        src.display()
                    )
                })?;
            }
            cmd.arg("--tftp-root").arg(&root);
        }
        let out = cmd.output().context("running e2etd dnsmasq-config")?;
        if !out.status.success() {
            bail!(
                "e2etd dnsmasq-config: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::fs::write(&conf, &out.stdout)?;
        let mut c = self.cmd("dnsmasq");
        c.arg("--keep-in-foreground")
            .arg(format!("--conf-file={}", conf.display()))
            .arg(format!(
                "--dhcp-leasefile={}",
                self.dir.join("dnsmasq.leases").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.join("dnsmasq.pid").display()
            ));
        self.spawn("dnsmasq", c, "dnsmasq.out")
    }

    /// Starts net-snmp's snmpd as the AP7901 emulator on `listen` (inside the
    /// namespace), its outlets driving the VMs whose QMP sockets are in `qmp_dir`.
    pub fn start_pdu_emulator(&mut self, listen: &str, qmp_dir: &Path) -> Result<PathBuf> {
        let dir = self.dir.join("pdu-emulator");
        let args = vec![
            "pdu-emulator".to_string(),
            "--dir".into(),
            dir.display().to_string(),
            "--listen".into(),
            format!("udp:{listen}"),
            "--qmp-dir".into(),
            qmp_dir.display().to_string(),
            "--delay-ms".into(),
            "300".into(),
        ];
        self.spawn_emulator(&args)?;
        self.emulator_ready(listen)?;
        Ok(dir)
    }

    fn spawn_emulator(&mut self, args: &[String]) -> Result<()> {
        let mut c = self.cmd(self.bin.join("e2et-lab"));
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = c.spawn().context("starting the PDU emulator")?;
        self.emulator = Some((child, args.to_vec()));
        Ok(())
    }

    fn emulator_ready(&self, listen: &str) -> Result<()> {
        self.until_ok(
            Duration::from_secs(15),
            || {
                let mut c = self.cmd("snmpget");
                c.args([
                    "-v3",
                    "-l",
                    "authPriv",
                    "-u",
                    "e2et-shaaes",
                    "-a",
                    "SHA",
                    "-A",
                    "sha-auth-pass",
                ])
                .args([
                    "-x",
                    "AES",
                    "-X",
                    "sha-priv-pass",
                    "-t",
                    "1",
                    "-r",
                    "0",
                    listen,
                    "1.3.6.1.2.1.1.2.0",
                ]);
                c
            },
            &format!("the PDU emulator did not answer on {listen} (see pdu-emulator/snmpd.log)"),
        )
    }

    /// Runs the command `probe` builds every 200 ms until it succeeds, for
    /// at most `within`; else fails saying `fail` and the last stderr.
    fn until_ok(&self, within: Duration, probe: impl Fn() -> Command, fail: &str) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let mut c = probe();
            let o = c
                .stdin(Stdio::null())
                .output()
                .with_context(|| format!("running {c:?}"))?;
            if o.status.success() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{fail}: {}", String::from_utf8_lossy(&o.stderr).trim());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills the emulator's snmpd and starts it again on the same state: a PDU
    /// whose SNMP agent restarted (new engine boots, engine time reset).
    pub fn restart_pdu_emulator(&mut self, listen: &str) -> Result<()> {
        let Some((mut child, args)) = self.emulator.take() else {
            bail!("no PDU emulator to restart");
        };
        let _ = child.kill();
        let _ = child.wait();
        self.spawn_emulator(&args)?;
        self.emulator_ready(listen)
    }

    pub fn start_e2etd(
        &mut self,
        inventory: &Path,
        artifacts: &crate::netboot::Artifacts,
        hello_timeout_s: u64,
    ) -> Result<()> {
        let c = self.e2etd_command(inventory, artifacts, hello_timeout_s, None);
        self.spawn("e2etd", c, "e2etd.log")?;
        self.wait_e2etd()
    }

    /// The coordinator's command line in the lab; `crash_after` arms its
    /// test hook (abort right after entering that state).
    pub fn e2etd_command(
        &self,
        inventory: &Path,
        artifacts: &crate::netboot::Artifacts,
        hello_timeout_s: u64,
        crash_after: Option<&str>,
    ) -> Command {
        let mut c = self.cmd(self.bin.join("e2etd"));
        c.env("RUST_LOG", "info")
            .arg("--inventory")
            .arg(inventory)
            .arg("serve")
            .args(["--listen", &format!("{BRIDGE_IP}:{PORT}")])
            .args(["--public-url", &coordinator_url()])
            .arg("--db")
            .arg(self.dir.join("e2et.db"))
            .arg("--artifacts")
            .arg(&artifacts.dir)
            .args(["--kernel", &artifacts.kernel, "--initrd", &artifacts.initrd])
            .arg("--cmdline")
            .arg(
                format!(
                    "console=ttyS0,115200 loglevel=4 panic=10 {}",
                    self.extra_kernel_args
                )
                .trim_end(),
            )
            .args(
                self.images
                    .iter()
                    .flat_map(|(n, d)| ["--image".to_string(), format!("{n}={}", d.display())]),
            )
            .args(["--hello-timeout-s", &hello_timeout_s.to_string()])
            .args(["--facts-timeout-s", "60", "--soft-off-timeout-s", "30"])
            .args(["--heartbeat-timeout-s", &HEARTBEAT_TIMEOUT_S.to_string()])
            .arg("--dhcp-log")
            .arg(self.dir.join("dnsmasq.log"))
            .args(["--soft-off-grace-s", "3"])
            // dropbear answers within a second once the facts are in; a
            // dropped port 22 (ssh-blocked) need not hold each boot 15 s.
            .args(["--ssh-timeout-s", "6"])
            .arg("--credentials-dir")
            .arg(self.dir.join("creds"))
            .arg("--operator-token-file")
            .arg(self.operator_token())
            .args(["--poll-interval-ms", "250", "--step-timeout-s", "20"]);
        if let Some(p) = crash_after {
            c.args(["--crash-after", p]);
        }
        c
    }

    /// Waits until the coordinator answers the operator API.
    pub fn wait_e2etd(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = self
                .cli()
                .arg("runs")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if ok {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "e2etd did not answer within 20 s; see {}",
                    self.dir.join("e2etd.log").display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The operator CLI, run inside the namespace against the lab's coordinator.
    pub fn cli(&self) -> Command {
        let mut c = self.cmd(self.bin.join("e2et"));
        c.args(["--server", &coordinator_url()])
            .arg("--token-file")
            .arg(self.operator_token());
        c
    }

    /// The file holding the lab e2etd's operator token.
    pub fn operator_token(&self) -> PathBuf {
        self.dir.join("operator-token")
    }

    /// Runs a CLI command, echoing its output lines as they come and handing
    /// each to `on_line`; returns (exit code, output).
    pub fn run_streamed(
        &mut self,
        mut c: Command,
        prefix: &str,
        on_line: &mut dyn FnMut(&mut Lab, &str) -> Result<()>,
    ) -> Result<(i32, String)> {
        c.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = c.spawn().context("starting the e2et CLI")?;
        let mut all = String::new();
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let line = line?;
                println!("{prefix}{line}");
                on_line(self, &line)?;
                all.push_str(&line);
                all.push('\n');
            }
        }
        let st = child.wait()?;
        Ok((st.code().unwrap_or(-1), all))
    }

    pub fn check_children(&mut self) -> Result<()> {
        for (what, c) in &mut self.children {
            if let Some(st) = c.try_wait()? {
                bail!(
                    "{what} exited early ({st}); see the logs in {}",
                    self.dir.display()
                );
            }
        }
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some((mut c, _)) = self.emulator.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for (_, c) in self.children.iter_mut().rev() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, c) in self.children.iter_mut() {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.neighbours {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.ns));
    }
}
