//! The lab's machines: QEMU VMs on the bridge, their serial consoles, and the
//! IPMI BMC (ipmi_sim) that serves one VM's console over SOL.
use super::*;

impl Lab {
    /// Puts VM `name`'s serial port behind a BMC: call before its
    /// `start_vm`, then [`Lab::start_bmc`]. One such VM per lab (fixed ports).
    pub fn serial_over_sol(&mut self, name: &str) {
        self.sol.insert(name.to_string());
    }

    /// Starts VM `name`'s BMC: ipmi_sim with one admin user, whose password
    /// (random per lab) is written to `creds/ipmi-<name>` as the
    /// coordinator's credential. Its SOL connects to the VM's serial port
    /// once, at start, so the VM must be running (QEMU listening) first.
    pub fn start_bmc(&mut self, name: &str) -> Result<()> {
        let dir = self.dir.join(format!("{name}.bmc"));
        std::fs::create_dir_all(dir.join("state"))?;
        // 16 characters: the longest IPMI 1.5 password (ipmi_sim keeps no more).
        let mut raw = [0u8; 8];
        std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut raw)?;
        let password = hex::encode(raw);
        let creds = self.dir.join("creds");
        std::fs::create_dir_all(&creds)?;
        write_secret(&creds.join(format!("ipmi-{name}")), &password)?;
        write_secret(
            &dir.join("lan.conf"),
            &format!(
                "name \"{name}-bmc\"\n\
                 set_working_mc 0x20\n\
                 startlan 1\n\
                 addr 127.0.0.1 {BMC_PORT}\n\
                 priv_limit admin\n\
                 allowed_auths_admin md5\n\
                 guid a123456789abcdefa123456789abcdef\n\
                 endlan\n\
                 sol \"tcp:127.0.0.1:{SOL_SERIAL_PORT}\" 115200\n\
                 user 2 true \"{BMC_USER}\" \"{password}\" admin 4 md5\n"
            ),
        )?;
        std::fs::write(
            dir.join("bmc.emu"),
            "mc_setbmc 0x20\n\
             mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n\
             mc_enable 0x20\n",
        )?;
        let mut c = self.cmd("ipmi_sim");
        c.arg("-c")
            .arg(dir.join("lan.conf"))
            .arg("-f")
            .arg(dir.join("bmc.emu"))
            .arg("-s")
            .arg(dir.join("state"))
            .arg("-n");
        self.spawn(&format!("ipmi_sim {name}"), c, &format!("{name}.bmc.log"))?;
        // Up when it answers an authenticated RMCP+ request.
        let pw = creds.join(format!("ipmi-{name}"));
        self.until_ok(
            Duration::from_secs(10),
            || {
                let mut c = self.cmd("ipmitool");
                c.args([
                    "-I",
                    "lanplus",
                    "-H",
                    "127.0.0.1",
                    "-p",
                    &BMC_PORT.to_string(),
                ])
                .args(["-U", BMC_USER, "-C", "3", "-f"])
                .arg(&pw)
                .args(["-N", "1", "-R", "1", "mc", "info"]);
                c
            },
            &format!("{name}'s BMC (ipmi_sim) does not answer (see {name}.bmc.log)"),
        )
    }

    /// Boots VM `name` with UEFI firmware (OVMF) and no option ROM on its
    /// NIC, as a rack server's own PXE client: call before its `start_vm`.
    pub fn uefi(&mut self, name: &str) {
        self.uefi.insert(name.to_string());
    }

    /// Starts a VM on a new tap. `powered` false starts it paused (`-S`): the
    /// outlet is off until the PDU driver turns it on.
    pub fn start_vm(&mut self, name: &str, mac: &str, qmp: &Path, powered: bool) -> Result<Vm> {
        self.start_vm_cpus(name, mac, qmp, powered, 2)
    }

    /// As [`Lab::start_vm`], with `cpus` virtual CPUs.
    pub fn start_vm_cpus(
        &mut self,
        name: &str,
        mac: &str,
        qmp: &Path,
        powered: bool,
        cpus: u32,
    ) -> Result<Vm> {
        self.start_vm_with(name, mac, qmp, powered, cpus, None)
    }

    /// As [`Lab::start_vm`]; with `boot_disk` (an installed system, see
    /// `netboot::installed_disk`) the firmware tries the NIC first and then
    /// that disk, as a rack server set to netboot does.
    pub fn start_vm_with(
        &mut self,
        name: &str,
        mac: &str,
        qmp: &Path,
        powered: bool,
        cpus: u32,
        boot_disk: Option<&Path>,
    ) -> Result<Vm> {
        let cpus = cpus.to_string();
        let tap = format!("tap{}", self.taps);
        self.taps += 1;
        sh(Command::new("ip").args(["-n", &self.ns, "tuntap", "add", &tap, "mode", "tap"]))?;
        sh(Command::new("ip").args(["-n", &self.ns, "link", "set", &tap, "master", "br0", "up"]))?;
        let disk = self.dir.join(format!("{name}.disk.img"));
        sh(Command::new("truncate").args(["-s", "64M"]).arg(&disk))?;
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-L", "persist"])
            .arg(&disk))?;
        if let Some(p) = qmp.parent() {
            std::fs::create_dir_all(p)?;
        }
        let serial = self.dir.join(format!("{name}.serial.log"));
        let mut c = self.cmd("qemu-system-x86_64");
        c.args([
            "-name", name, "-accel", "tcg", "-machine", "pc", "-smp", &cpus, "-m",
        ])
        // OVMF keeps ~56 MiB more for itself than SeaBIOS: the same 200 MiB
        // the lab profile expects reaches the OS with 320 MiB.
        .arg(if self.uefi.contains(name) { "320" } else { "256" })
        .args(["-nographic", "-monitor", "none", "-no-shutdown"])
        // The serial port is a socket the coordinator reads (the inventory's
        // `consoleCapture`, as a console server's port would be), and QEMU
        // also logs it to a file for the lab's own record.
        .arg("-chardev")
        .arg(if self.sol.contains(name) {
            // The BMC's SOL connects here (see start_bmc).
            format!(
                "socket,id=ser0,host=127.0.0.1,port={SOL_SERIAL_PORT},server=on,wait=off,logfile={}",
                serial.display()
            )
        } else {
            format!(
                "socket,id=ser0,path={},server=on,wait=off,logfile={}",
                console_socket(&self.dir, name).display(),
                serial.display()
            )
        })
        .args(["-serial", "chardev:ser0"])
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", qmp.display()))
        .args([
            "-netdev",
            &format!("tap,id=n0,ifname={tap},script=no,downscript=no"),
        ])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", disk.display()));
        let uefi = self.uefi.contains(name);
        if uefi {
            // Its own copy of the variable store: boot entries and NVRAM
            // survive resets and power cycles, as a server's do.
            let vars = self.dir.join(format!("{name}.ovmf-vars.fd"));
            std::fs::copy(OVMF_VARS, &vars).with_context(|| {
                format!("{OVMF_VARS} (Debian package ovmf; scripts/lab-deps.sh)")
            })?;
            c.arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}"
                ))
                .arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,unit=1,file={}",
                    vars.display()
                ));
        }
        match boot_disk {
            // `romfile=`: no iPXE ROM on the NIC; OVMF's PXE client boots it.
            None if uefi => {
                c.args([
                    "-device",
                    &format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"),
                ]);
            }
            None => {
                c.args(["-boot", "n"])
                    .args(["-device", &format!("virtio-net-pci,netdev=n0,mac={mac}")]);
            }
            Some(img) => {
                c.args([
                    "-device",
                    &format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=1"),
                ])
                .arg("-drive")
                .arg(format!("if=none,id=os,format=raw,file={}", img.display()))
                .args(["-device", "ide-hd,drive=os,bootindex=2"]);
            }
        }
        if !powered {
            c.arg("-S");
        }
        self.spawn(&format!("qemu {name}"), c, &format!("{name}.qemu.log"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !qmp.exists() {
            if Instant::now() > deadline {
                bail!("QEMU for {name} made no QMP socket; see {name}.qemu.log");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Vm { serial })
    }

    /// Another machine on the provisioning bridge: its own namespace
    /// (`e2et<name><pid>`) and static address `cidr`, wired to br0 by a veth
    /// pair. The lab's dnsmasq answers inventory MACs only, so it gets no
    /// lease. Returns the namespace; it goes with the lab.
    pub fn add_neighbour(&mut self, name: &str, cidr: &str) -> Result<String> {
        let ns = format!("e2et{name}{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        sh(Command::new("ip").args(["netns", "add", &ns]))?;
        self.neighbours.push(ns.clone());
        let (inner, outer) = (format!("{name}0"), format!("v{name}0"));
        sh(Command::new("ip").args([
            "link", "add", &inner, "netns", &ns, "type", "veth", "peer", "name", &outer, "netns",
            &self.ns,
        ]))?;
        for args in [
            vec!["link", "set", &outer, "master", "br0"],
            vec!["link", "set", &outer, "up"],
        ] {
            sh(Command::new("ip").args(["-n", &self.ns]).args(&args))?;
        }
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", cidr, "dev", &inner],
            vec!["link", "set", &inner, "up"],
        ] {
            sh(Command::new("ip").args(["-n", &ns]).args(&args))?;
        }
        Ok(ns)
    }
}
