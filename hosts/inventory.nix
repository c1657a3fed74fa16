# The fleet's intent: pure data, no functions, no imports. The coordinator and
# the Rust tools read what `nix-instantiate --eval --strict --json` prints.
# Secrets (PDU credentials, tokens) never go here: they come from files.
{
  version = 1;

  site = {
    name = "lab";
    domain = "lab.e2et.test";
    # The site's DNS (its IPAM), handed to hosts over DHCP. In the lab this is
    # a DNS-only dnsmasq holding the lab hosts' A and PTR records.
    dnsServers = [ "10.99.0.1" ];
  };

  # Bundles of expectations. A host names one with `profile` and overrides
  # only what differs in its own `expect` (objects merge field by field;
  # lists and values replace). Unset fields keep the defaults documented in
  # docs/policy.md: SSH, time sync, logging, DNS and a default route are
  # expected unless a profile says otherwise.
  profiles = {
    # The lab's netboot VM: a busybox initramfs (RAM root) with the probe, a
    # persistent virtio disk at /persist, busybox syslogd, dropbear on port 22
    # (host key kept on /persist). It runs no NTP client, and says so here
    # rather than failing or passing silently.
    lab-netboot = {
      firstBoot = {
        timeSync = false;
        init = "busybox";
        cmdline = [ "console=ttyS0,115200" ];
      };
      storage = {
        rootFstype = "rootfs";
        mounts = [ "/persist" ];
      };
      service.required = [ "syslogd" ];
    };

    # A FreeIPA/SSSD client: SSSD is required (its absence is a hard fail),
    # with its state private and persistent, directory users resolvable,
    # sudo and SSH keys through SSSD, and a local break-glass account.
    aaa-domain-client = {
      identity = {
        sssd = true;
        users = [ "e2et-canary" ];
        offlineCache = true;
        keytab = true;
        ipa = true;
        sudoSss = true;
        sshKeysSss = true;
        breakGlass = "rescue";
      };
      service.required = [
        "sshd|ssh"
        "sssd"
        "chronyd|chrony|systemd-timesyncd"
      ];
    };
  };

  pdus = {
    # The lab's rack PDU: net-snmp's snmpd emulating an AP7901 inside the lab's
    # network namespace (crates/e2et-lab), its outlets wired to QEMU over QMP.
    # Passwords come from the credential files pdu-lab-apc-auth/-priv.
    lab-apc = {
      driver = "apc-snmp";
      address = "10.99.0.1:1161";
      outlets = 8;
      cycleDelayS = 2;
      snmp = {
        user = "e2et-shaaes";
        authProtocol = "SHA";
        privProtocol = "AES";
      };
    };
    # QEMU VMs driven over QMP directly; outlet n is the VM whose QMP socket
    # is <address>/outlet-<n>.qmp.
    lab-qmp = {
      driver = "qmp";
      address = "/run/e2et-lab/pdu";
      outlets = 8;
      cycleDelayS = 2;
    };
    # An APC AP7901 switched rack PDU (SNMPv3, PowerNet-MIB).
    rack10-a = {
      driver = "apc-snmp";
      address = "pdu-rack10-a.mgmt.e2et.test:161";
      outlets = 8;
      cycleDelayS = 5;
      snmp = {
        user = "e2et-ops";
        # Field report: this firmware accepts only MD5/DES.
        authProtocol = "MD5";
        privProtocol = "DES";
      };
    };
  };

  hosts = {
    # The lab's netboot VM (crates/e2et-lab): busybox initramfs with the probe,
    # a virtio disk mounted at /persist that keeps its content across cycles.
    vm1 = {
      mac = "52:54:00:e2:e7:01";
      ip = "10.99.0.11";
      fqdn = "vm1.lab.e2et.test";
      power = [ { pdu = "lab-apc"; outlet = 1; } ];
      console = "serial:ttyS0@115200 (lab: per-VM serial log)";
      # consoleCapture = "tcp:<console server>:<port>", "unix:<socket>" or
      # "ipmi-sol:<user>@<bmc>[:<port>][?cipher=<n>]" (password: the
      # coordinator's credential ipmi-<host>): e2etd keeps the serial console
      # of each run (the lab sets it to the VM's QEMU chardev socket, or in
      # the crash scenario to the VM's BMC, OpenIPMI's ipmi_sim).
      profile = "lab-netboot";
      expect = {
        cpus = 2;
        minRamMib = 200;
        persistentPaths = [ "/persist/e2et/enrolment" ];
        # Small and quick (QEMU under TCG). Baselines well under what the
        # lab VM measures (CPU ~22 MiB/s, memory ~600, disk write ~150,
        # TCP to the coordinator ~900 Mb/s), with a wide tolerance.
        performance = {
          durationMs = 200;
          diskDir = "/persist";
          diskMib = 8;
          tcpMib = 8;
          cpuSingleMibs = 10.0;
          memoryMibs = 100.0;
          diskWriteMibs = 5.0;
          diskReadMibs = 5.0;
          tcpMbits = 20.0;
          tolerancePct = 50.0;
        };
      };
      requiredZone = "p90";
    };

    # The example field host: an IPA/SSSD client behind rack 10's AP7901.
    k10 = {
      mac = "3c:ec:ef:10:0a:10";
      # In the coordinator's provisioning subnet (hosts/coordinator:
      # dhcp.subnet): dnsmasq answers no dhcp-host outside its dhcp-range.
      ip = "10.99.0.110";
      fqdn = "k10.lab.e2et.test";
      power = [ { pdu = "rack10-a"; outlet = 3; } ];
      console = "ipmi-sol:k10-bmc.mgmt.e2et.test";
      # Kept by e2etd over the BMC's Serial over LAN (RMCP+ cipher suite 17).
      consoleCapture = "ipmi-sol:e2et-sol@k10-bmc.mgmt.e2et.test";
      # Asked for `chassis power soft` when no agent of a run is up (a quick
      # run, a hung host) before the outlet is cut; same BMC password.
      bmc = "ipmi:e2et-sol@k10-bmc.mgmt.e2et.test";
      profile = "aaa-domain-client";
      expect = {
        cpus = 32;
        minRamMib = 128000;
        persistentPaths = [ "/var/lib/sss" "/etc/krb5.keytab" ];
        vulnerabilitiesHard = true;
      };
      requiredZone = "p95";
    };
  };
}
