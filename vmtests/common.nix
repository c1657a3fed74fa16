# Shared pieces of the VM acceptance tests: the test fleet's inventory, the
# coordinator and PDU nodes, and the QEMU command of a PXE client that the
# test script powers on and off as the PDU's outlet says.
{
  pkgs,
  lib,
  self,
}:

let
  # callPackage fills whichever arguments the file takes: `{ lib, pkgs }` at
  # nixos-25.11, `{ lib, stdenv }` on later nixpkgs.
  qemu-common = pkgs.callPackage "${pkgs.path}/nixos/lib/qemu-common.nix" { };
  e2et = self.packages.${pkgs.stdenv.hostPlatform.system}.e2et;
  e2etLab = self.packages.${pkgs.stdenv.hostPlatform.system}.e2et-lab;
in
rec {
  coordinatorIp = "192.168.1.10";
  pduIp = "192.168.1.20";
  # Outside the test framework's 52:54:00:12:<vlan>:<node> scheme
  # (nixos/lib/qemu-common.nix), which gives the coordinator's eth1
  # 52:54:00:12:01:01: one MAC twice on the VDE switch breaks DHCP.
  clientMac = "52:54:00:e2:e7:c1";
  clientIp = "192.168.1.101";

  # The emulator's SHA/AES user (see crates/e2et-lab/src/pdu_emulator.rs).
  snmpUser = "e2et-shaaes";
  snmpAuth = "sha-auth-pass";
  snmpPriv = "sha-priv-pass";
  # The coordinator's operator token (at least 32 bytes; e2etd refuses to
  # serve without one), and where the test script's CLI reads it.
  operatorToken = "vmtest-operator-token-0123456789abcdef";
  operatorTokenFile = "/var/lib/e2et-test-secrets/operator-token";

  inventory = {
    version = 1;
    site = {
      name = "vmtest";
      domain = "vmtest.e2et.test";
    };
    pdus.rack = {
      driver = "apc-snmp";
      address = "${pduIp}:161";
      outlets = 8;
      cycleDelayS = 2;
      snmp = {
        user = snmpUser;
        authProtocol = "SHA";
        privProtocol = "AES";
      };
    };
    # The NixOS netboot image (netboot/): systemd, sshd, chrony, journald,
    # the root on tmpfs (installer/netboot/netboot.nix) and nothing that
    # survives a power cycle.
    profiles.nixos-netboot = {
      firstBoot = {
        ssh = true;
        timeSync = true;
        init = "systemd";
        cmdline = [ "console=ttyS0,115200" ];
      };
      storage.rootFstype = "tmpfs";
      service.required = [
        "sshd"
        "chronyd"
      ];
    };
    hosts.client = {
      mac = clientMac;
      ip = clientIp;
      fqdn = "client.vmtest.e2et.test";
      power = [
        {
          pdu = "rack";
          outlet = 1;
        }
      ];
      console = "serial:ttyS0 (test driver log)";
      profile = "nixos-netboot";
      expect = {
        minRamMib = 1024;
        persistentPaths = [ ];
      };
      requiredZone = "p90";
    };
  };

  # Test-only secrets, written at every boot before e2etd starts (outside the
  # Nix store, as the module asserts).
  pduSecrets = {
    systemd.services.e2et-test-pdu-secrets = {
      wantedBy = [ "multi-user.target" ];
      before = [ "e2etd.service" ];
      serviceConfig = {
        Type = "oneshot";
        RemainAfterExit = true;
      };
      script = ''
        install -d -m 0700 /var/lib/e2et-test-secrets
        printf '%s' '${snmpAuth}' > /var/lib/e2et-test-secrets/pdu-rack-auth
        printf '%s' '${snmpPriv}' > /var/lib/e2et-test-secrets/pdu-rack-priv
        printf '%s' '${operatorToken}' > ${operatorTokenFile}
      '';
    };
  };

  coordinatorNode =
    {
      netbootSystem,
      fleet ? inventory,
    }:
    {
      imports = [
        self.nixosModules.default
        pduSecrets
      ];
      virtualisation.vlans = [ 1 ];
      virtualisation.memorySize = 2048;
      networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
        {
          address = coordinatorIp;
          prefixLength = 24;
        }
      ];
      services.e2et.coordinator = {
        enable = true;
        inventory = fleet;
        provisioningInterface = "eth1";
        publicUrl = "http://${coordinatorIp}:8080";
        dhcp.subnet = "192.168.1.0";
        pduCredentials.rack = {
          authPasswordFile = "/var/lib/e2et-test-secrets/pdu-rack-auth";
          privPasswordFile = "/var/lib/e2et-test-secrets/pdu-rack-priv";
        };
        inherit operatorTokenFile;
      };
      services.e2et.netbootServer = {
        enable = true;
        system = netbootSystem;
      };
      environment.systemPackages = [ e2et ];
    };

  # The PDU: net-snmp's snmpd as an AP7901 (no QMP wiring: the test script
  # plays the wiring between the outlet and the client's power).
  pduNode = {
    virtualisation.vlans = [ 1 ];
    networking.interfaces.eth1.ipv4.addresses = lib.mkForce [
      {
        address = pduIp;
        prefixLength = 24;
      }
    ];
    networking.firewall.allowedUDPPorts = [ 161 ];
    environment.systemPackages = [
      pkgs.net-snmp
      e2etLab
    ];
    systemd.services.e2et-pdu-emulator = {
      wantedBy = [ "multi-user.target" ];
      path = [ pkgs.net-snmp ];
      serviceConfig = {
        ExecStart = "${lib.getExe' e2etLab "e2et-lab"} pdu-emulator --dir /var/lib/e2et-pdu --listen udp:0.0.0.0:161 --delay-ms 500";
        StateDirectory = "e2et-pdu";
      };
    };
  };

  # How the test script reads the outlet, as an operator would with net-snmp.
  outletStateCmd =
    outlet:
    "snmpget -v3 -l authPriv -u ${snmpUser} -a SHA -A ${snmpAuth} -x AES -X ${snmpPriv} -Oqv 127.0.0.1 .1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.${toString outlet}";

  # A PXE client on VLAN 1: boots from its NIC's iPXE ROM (-boot order=n).
  clientStartCommand =
    {
      memory ? 3072,
      disk ? null,
    }:
    lib.concatStringsSep " " (
      [
        (qemu-common.qemuBinary pkgs.qemu_test)
        "-m"
        (toString memory)
        "-boot"
        "order=n"
        "-device"
        "virtio-net-pci,netdev=vlan1,mac=${clientMac}"
        "-netdev"
        "vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_1\""
      ]
      ++ lib.optionals (disk != null) [
        "-drive"
        "file=${disk},if=virtio,format=qcow2"
      ]
    );

  # The test script's wiring loop: follow the outlet, start or crash the
  # client, until the run's CLI prints its verdict line.
  wiringLoop = ''
    import time

    def follow_outlet(client, timeout=1800):
        running = False
        deadline = time.monotonic() + timeout
        while coordinator.execute("grep -q '^verdict=' /tmp/run.log")[0] != 0:
            on = pdu.succeed("${outletStateCmd 1}").strip() == "1"
            if on and not running:
                client.start()
                running = True
            elif not on and running:
                client.crash()
                running = False
            assert time.monotonic() < deadline, "run did not end in time"
            time.sleep(1)
        return coordinator.succeed("cat /tmp/run.log")
  '';
}
