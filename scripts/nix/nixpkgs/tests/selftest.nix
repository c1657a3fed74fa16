# Self-test of the stub nixpkgs tree (no project files involved).
#   nix-instantiate --eval --strict --json scripts/nix/nixpkgs/tests/selftest.nix
# prints { ok = true; failed = [ ]; results = { <check> = true; ... }; }.
# Each check is a boolean; `failed` lists the ones that are false.
# (The vendored 25.11 lib is found at <repo>/../shared/vendor/nixpkgs-lib/lib.)
let
  lib = import ../../lib.nix { vendor = ../../../../../shared/vendor/nixpkgs-lib/lib; };
  e = import ./eval.nix { inherit lib; };
  inherit (e) eval fails pkgs;

  base = {
    networking.hostName = "t";
    fileSystems."/" = {
      device = "/dev/disk/by-label/nixos";
      fsType = "ext4";
    };
    boot.loader.systemd-boot.enable = true;
    system.stateVersion = "25.11";
  };
  cfgOf = mods: (eval ([ base ] ++ mods)).config;
  toplevelOf = mods: (cfgOf mods).system.build.toplevel.outPath;
  buildsOk = mods: !(fails (toplevelOf mods));

  qc = import ../nixos/lib/qemu-common.nix { inherit lib pkgs; };

  ipaHost = {
    networking.domain = "lab.example.org";
    security.ipa = {
      enable = true;
      domain = "lab.example.org";
      realm = "LAB.EXAMPLE.ORG";
      server = "ipa.lab.example.org";
      basedn = "dc=lab,dc=example,dc=org";
      certificate = pkgs.writeText "ca.crt" "-----BEGIN CERTIFICATE-----\n";
    };
  };
  ipa = cfgOf [ ipaHost ];

  vm = mods: cfgOf ([ (e.modulesPath + "/virtualisation/qemu-vm.nix") ] ++ mods);
  vmcfg = vm [
    {
      fileSystems."/data" = {
        device = "/dev/vdb";
        fsType = "ext4";
      };
      virtualisation.fileSystems."/persist" = {
        device = "/dev/vdc";
        fsType = "ext4";
      };
      virtualisation.emptyDiskImages = [
        256
        256
      ];
    }
  ];

  open = (
    eval [
      (
        { modulesPath, ... }:
        {
          imports = [ (modulesPath + "/installer/netboot/netboot-minimal.nix") ];
          system.stateVersion = "25.11";
        }
      )
    ]
  ).config;
  closed = (
    eval [
      (
        { modulesPath, ... }:
        {
          imports = [
            (modulesPath + "/installer/netboot/netboot.nix")
            (modulesPath + "/profiles/minimal.nix")
          ];
          boot.kernelParams = [ "console=ttyS0,115200" ];
          system.stateVersion = "25.11";
        }
      )
    ]
  ).config;

  results = {
    # A valid configuration evaluates down to system.build.toplevel.
    baseBuilds = buildsOk [ ];
    assertionsEvaluate = lib.all (a: lib.isBool a.assertion && lib.isString a.message) (cfgOf [ ]).assertions;

    # Type errors are caught.
    stringForList = fails (toplevelOf [ { environment.systemPackages = "hello"; } ]);
    kernelParamWithSpace = fails (toplevelOf [ { boot.kernelParams = [ "console=ttyS0 quiet" ]; } ]);
    badServiceType = fails (toplevelOf [ { systemd.services.x.serviceConfig.Type = "bogus"; } ]);
    badUnitName = fails (toplevelOf [ { systemd.services.x.before = [ "var-lib-sss" ]; } ]);
    goodUnitName = buildsOk [ { systemd.services.x.before = [ "var-lib-sss.mount" ]; } ];
    portOutOfRange = fails (toplevelOf [ { networking.firewall.allowedTCPPorts = [ 70000 ]; } ]);
    unknownOption = fails (toplevelOf [ { services.dnsmasq.extraConfig = "port=0"; } ]);
    hostNameWithDot = fails (toplevelOf [ { networking.hostName = "a.b"; } ]);
    prefixLengthChecked = fails (toplevelOf [
      { networking.interfaces.eth1.ipv4.addresses = [ { address = "10.0.0.1"; prefixLength = 33; } ]; }
    ]);

    # Assertions are enforced by system.build.toplevel.
    noRootFs = fails (toplevelOf [ { fileSystems = lib.mkForce { }; } ]);
    grubNeedsDevice = fails (toplevelOf [ { boot.loader.systemd-boot.enable = lib.mkForce false; } ]);
    userKindAsserted = fails (toplevelOf [ { users.users.u.group = "users"; } ]);
    normalUserOk = buildsOk [
      {
        users.users.u = {
          isNormalUser = true;
          extraGroups = [ "wheel" ];
          hashedPasswordFile = "/persist/u.hash";
        };
      }
    ];
    fsCycleAsserted = fails (toplevelOf [
      {
        fileSystems."/a" = { device = "x"; depends = [ "/b" ]; };
        fileSystems."/b" = { device = "y"; depends = [ "/a" ]; };
      }
    ]);

    # systemd rendering.
    unitRendered =
      let
        u = (cfgOf [
          {
            systemd.services.x = {
              description = "X";
              after = [ "network-online.target" ];
              unitConfig.RequiresMountsFor = [ "/var/lib/sss" ];
              serviceConfig.ExecStart = "/bin/true";
            };
          }
        ]).systemd.units."x.service".text;
      in
      lib.hasInfix "After=network-online.target\n" u
      && lib.hasInfix "RequiresMountsFor=/var/lib/sss\n" u
      && lib.hasInfix "ExecStart=/bin/true\n" u;

    # dnsmasq: freeform settings rendered, scalar coerced, resolveLocalQueries default.
    dnsmasqRendered =
      let
        c = cfgOf [
          {
            services.dnsmasq = {
              enable = true;
              resolveLocalQueries = false;
              settings.conf-file = "/etc/x.conf";
              settings.port = 0;
              settings.bogus-priv = true;
            };
          }
        ];
      in
      c.services.dnsmasq.configFile.text == "bogus-priv\nconf-file=/etc/x.conf\ndhcp-leasefile=/var/lib/dnsmasq/dnsmasq.leases\nport=0\n"
      && lib.hasInfix "-C ${c.services.dnsmasq.configFile}" c.systemd.services.dnsmasq.serviceConfig.ExecStart;
    dnsmasqDefaultResolvesLocal = (cfgOf [ { services.dnsmasq.enable = true; } ]).networking.nameservers == [ "127.0.0.1" ];

    # Time sync: timesyncd by default; chrony/ntpd force it off.
    timesyncdDefault = (cfgOf [ ]).services.timesyncd.enable;
    chronyDisablesTimesyncd = !(cfgOf [ { services.chrony.enable = true; } ]).services.timesyncd.enable;

    # ipa (7e11627): ntpd on, sssd config, NSS db inputs exposed.
    ipaEnablesNtp = ipa.services.ntp.enable && ipa.services.ntp.servers == [ "ipa.lab.example.org" ];
    ipaEnablesSssd = ipa.services.sssd.enable && lib.hasInfix "cache_credentials = True" ipa.services.sssd.config;
    ipaNssDbExposed = ipa.system.build.ipaNssDb.certificate.text == "-----BEGIN CERTIFICATE-----\n";
    ipaHostnameFqdn = ipa.security.ipa.ipaHostname == "t.lab.example.org";
    ipaNtpCanBeForcedOff = !(cfgOf [ ipaHost { services.ntp.enable = lib.mkForce false; } ]).services.ntp.enable;
    ipaKrb5Asserted = fails (toplevelOf [ ipaHost { security.krb5.enable = true; } ]);

    # sssd: ssh keys integration, sudo through sss.
    sssdSshKeys =
      let
        c = cfgOf [
          {
            services.sssd.enable = true;
            services.sssd.sshAuthorizedKeysIntegration = true;
          }
        ];
      in
      c.services.openssh.authorizedKeysCommand == "/etc/ssh/authorized_keys_command"
      && c.services.openssh.authorizedKeysCommandUser == "nobody";
    sudoersThroughSss =
      let
        c = cfgOf [
          {
            system.nssDatabases.sudoers = [ "sss" ];
            security.sudo.package = pkgs.sudo.override { withSssd = true; };
          }
        ];
      in
      lib.hasInfix "sudoers:   files sss\n" c.environment.etc."nsswitch.conf".text && (c.security.sudo.package.overrideArgs.withSssd or false);

    # qemu-vm: fileSystems replaced wholesale (mkVMOverride, priority 10).
    vmDropsFileSystems = !(vmcfg.fileSystems ? "/data") && vmcfg.fileSystems ? "/persist";
    vmRootIsDisk = vmcfg.fileSystems."/".device == "/dev/disk/by-label/nixos";
    vmOverrideEvenBeatsForce =
      !((vm [ { fileSystems."/data" = lib.mkForce { device = "x"; fsType = "ext4"; }; } ]).fileSystems ? "/data");
    vmNoTimesyncd = !vmcfg.services.timesyncd.enable;
    vmDefaultVlan = vmcfg.virtualisation.vlans == [ 1 ];

    # qemu-common at 25.11.
    nicMac = qc.qemuNicMac 1 1 == "52:54:00:12:01:01" && qc.qemuNicMac 10 255 == "52:54:00:12:0A:FF";
    nicFlags = qc.qemuNICFlags 1 1 2 == [
      "-device virtio-net-pci,netdev=vlan1,mac=52:54:00:12:01:02"
      "-netdev vde,id=vlan1,sock=\"$QEMU_VDE_SOCKET_1\""
    ];
    qemuBinaryX86 = qc.qemuBinary pkgs.qemu_test == "${pkgs.qemu_test}/bin/qemu-kvm -cpu max";
    serialDevice = qc.qemuSerialDevice == "ttyS0";
    # `{ lib, pkgs }` exactly (a call with `stdenv` is a hard, uncatchable error).
    signature25_11 = builtins.functionArgs (import ../nixos/lib/qemu-common.nix) == {
      lib = false;
      pkgs = false;
    };

    # The installer profile is open on its console; netboot.nix + minimal.nix is not.
    netbootMinimalIsOpen =
      open.services.getty.autologinUser == "nixos"
      && open.users.users.root.initialHashedPassword == ""
      && open.users.users.nixos.initialHashedPassword == ""
      && !open.security.sudo.wheelNeedsPassword
      && open.system.installer.channel.enable
      && open.services.openssh.settings.PermitRootLogin == "yes";
    netbootPlainIsClosed =
      closed.services.getty.autologinUser == null
      && closed.users.users.root.initialHashedPassword == "!"
      && !(closed.users.users ? nixos)
      && closed.security.sudo.wheelNeedsPassword
      && !(closed.system ? installer && closed.system.installer.channel.enable);
    netbootRootTmpfs = closed.fileSystems."/".fsType == "tmpfs" && closed.fileSystems."/nix/store".fsType == "overlay";
    netbootArtifacts =
      closed.system.build ? netbootRamdisk
      && closed.system.build ? kernel
      && lib.hasInfix "init=${closed.system.build.toplevel}/init" closed.system.build.netbootIpxeScript.text
      && lib.hasInfix "console=ttyS0,115200" closed.system.build.netbootIpxeScript.text;
    netbootBuilds = !(fails closed.system.build.toplevel.outPath);
  };
  failed = lib.attrNames (lib.filterAttrs (_: v: v != true) results);
in
{
  ok = failed == [ ];
  inherit failed results;
}
