# What scripts/nix-checks.py checks, as plain JSON: every host of the flake's
# nixosConfigurations and every node of every vmtest (evaluated with the
# stand-in nixpkgs of ./flake-eval.nix), and the vmtests themselves.
{ lib, self }:
let
  inherit (lib) mapAttrs filterAttrs;
  str = x: if x == null then null else toString x;
  # A fake derivation as JSON: its path, and what it was built from.
  drv =
    d:
    if d == null then
      null
    else if lib.isAttrs d then
      {
        path = toString d.outPath;
        name = d.name or null;
        text = d.text or null;
        buildCommand = d.buildCommand or null;
        entries = map (e: {
          inherit (e) name;
          path = toString e.path;
        }) (d.entries or [ ]);
        overrideArgs = d.overrideArgs or { };
      }
    else
      { path = toString d; };

  service = s: {
    type = s.serviceConfig.Type or null;
    remainAfterExit = s.serviceConfig.RemainAfterExit or false;
    execStart = str (s.serviceConfig.ExecStart or null);
    loadCredential = s.serviceConfig.LoadCredential or [ ];
    inherit (s)
      wantedBy
      requiredBy
      before
      after
      wants
      requires
      ;
    script = s.script or "";
    unitConfig = mapAttrs (_: v: if lib.isList v then map toString v else toString v) (s.unitConfig or { });
    serviceConfig = mapAttrs (_: v: if lib.isList v then map toString v else toString v) (
      s.serviceConfig or { }
    );
  };

  host =
    name: sys:
    let
      c = sys.config;
      o = sys.options;
      e2et = c.services.e2et or { };
      coord = e2et.coordinator or { enable = false; };
    in
    {
      inherit name;
      system = sys.pkgs.system or c.nixpkgs.hostPlatform.system or null;
      failedAssertions = map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
      inherit (c) warnings;
      coordinator =
        if coord.enable then
          {
            inventory = coord.inventory;
            inherit (coord) publicUrl provisioningInterface;
            dhcp = coord.dhcp;
            generated = mapAttrs (_: drv) (coord.generated or { });
            checks = map drv c.system.checks;
          }
        else
          null;
      # The NixOS netboot system this coordinator serves to its hosts.
      netbootClient =
        if e2et.netbootServer.enable or false then host "${name}-netboot" e2et.netbootServer.system else null;
      agent = {
        enable = e2et.agent.enable or false;
        package = if e2et.agent.enable or false then drv e2et.agent.package else null;
      };
      identity = e2et.identity or null;
      fileSystems = mapAttrs (_: f: {
        inherit (f) device fsType options;
        mountPoint = f.mountPoint or null;
        depends = f.depends or [ ];
        neededForBoot = f.neededForBoot or false;
      }) c.fileSystems;
      # A test node's own fileSystems: the node evaluated again with
      # qemu-vm.nix's override switched off (it applies only while
      # virtualisation.fileSystems is not empty), to see what the override
      # drops in the VM.
      fileSystemsDeclared =
        if c ? virtualisation.fileSystems then
          lib.attrNames
            (sys.extendModules {
              modules = [ { virtualisation.fileSystems = lib.mkOverride 0 { }; } ];
            }).config.fileSystems
        else
          [ ];
      mounts = map (m: {
        inherit (m) what where;
        type = m.type or "";
        options = m.options or "";
        wantedBy = m.wantedBy or [ ];
        requiredBy = m.requiredBy or [ ];
        after = m.after or [ ];
        requires = m.requires or [ ];
        unitConfig = mapAttrs (_: v: if lib.isList v then map toString v else toString v) (
          m.unitConfig or { }
        );
      }) (c.systemd.mounts or [ ]);
      services = mapAttrs (_: service) (filterAttrs (_: s: s.enable or true) c.systemd.services);
      tmpfiles = c.systemd.tmpfiles.rules or [ ];
      users = mapAttrs (_: u: {
        isNormalUser = u.isNormalUser or false;
        hashedPassword = u.hashedPassword or null;
        initialHashedPassword = u.initialHashedPassword or null;
        initialPassword = u.initialPassword or null;
        password = u.password or null;
        hashedPasswordFile = u.hashedPasswordFile or null;
        extraGroups = u.extraGroups or [ ];
      }) c.users.users;
      autologinUser = c.services.getty.autologinUser or null;
      sudo = {
        enable = c.security.sudo.enable or false;
        wheelNeedsPassword = c.security.sudo.wheelNeedsPassword or true;
        package = drv (c.security.sudo.package or null);
      };
      nssSudoers = c.system.nssDatabases.sudoers or [ ];
      channel = c.system.installer.channel.enable or false;
      sssd = {
        enable = c.services.sssd.enable or false;
        sshAuthorizedKeysIntegration = c.services.sssd.sshAuthorizedKeysIntegration or false;
      };
      ipa =
        if c.security.ipa.enable or false then
          {
            certificate = drv c.security.ipa.certificate;
            inherit (c.security.ipa) server domain realm;
          }
        else
          null;
      openssh = c.services.openssh.enable or false;
      chrony = c.services.chrony.enable or false;
      ntp = c.services.ntp.enable or false;
      timesyncd = c.services.timesyncd.enable or false;
      rootFsType = c.fileSystems."/".fsType or null;
      kernelParams = c.boot.kernelParams or [ ];
      dnsmasq = if c.services.dnsmasq.enable or false then c.services.dnsmasq.settings else null;
      openldap =
        if c.services.openldap.enable or false then
          {
            declarativeContents = c.services.openldap.declarativeContents;
            schemas = map toString (c.services.openldap.settings.children."cn=schema".includes or [ ]);
          }
        else
          null;
      vlans = c.virtualisation.vlans or [ ];
      nodeNumber = c.virtualisation.test.nodeNumber or null;
      interfaces = mapAttrs (_: i: map (a: "${a.address}/${toString a.prefixLength}") (i.ipv4.addresses or [ ])) (
        c.networking.interfaces or { }
      );
    };

  enrolled =
    allowedCommands:
    lib.nixosSystem {
      modules = [
        self.nixosModules.agent
        {
          fileSystems."/".device = "/dev/disk/by-label/nixos";
          boot.loader.grub.devices = [ "nodev" ];
          services.e2et.agent = {
            enable = true;
            enrol = {
              enable = true;
              coordinator = "http://10.20.0.5:8080";
              keyFile = "/var/lib/e2et-secrets/enrol-key";
              inherit allowedCommands;
            };
          };
        }
      ];
    };

  x86 = self.checks.x86_64-linux;
  vmtests = lib.mapAttrs' (n: v: lib.nameValuePair (lib.removePrefix "vmtest-" n) v.e2etTest) (
    filterAttrs (n: _: lib.hasPrefix "vmtest-" n) x86
  );
in
{
  # What there is to evaluate: scripts/nix-checks.py evaluates each piece on
  # its own, so one broken host does not hide the findings of the others.
  names = {
    hosts = lib.attrNames self.nixosConfigurations;
    systems = lib.attrNames self.packages;
    vmtests = lib.attrNames vmtests;
  };
  hosts = mapAttrs host self.nixosConfigurations;
  # The modules imported together, as a user may: each once.
  moduleCombinations = {
    default-and-agent =
      (lib.nixosSystem {
        modules = [
          self.nixosModules.default
          self.nixosModules.agent
          self.nixosModules.coordinator
          { services.e2et.agent.enable = true; }
        ];
      }).config.services.e2et.agent.package.name;
    # An installed host's enrolling agent, and one whose allow-list has a
    # word the list format cannot carry (its assertion must fail).
    enrolledAgent = host "enrolled-agent" (enrolled [ [ "systemctl" "is-active" "sshd" ] ]);
    enrolledAgentBadWord = host "enrolled-agent-bad-word" (enrolled [ [ "sh" "-c" "true; reboot" ] ]);
  };
  # The coordinator module on every system the flake builds packages for.
  coordinatorPerSystem = lib.genAttrs (lib.attrNames self.packages) (
    system:
    host "coordinator-${system}" (
      lib.nixosSystem {
        inherit system;
        modules = [
          self.nixosModules.default
          {
            services.e2et.coordinator = {
              enable = true;
              inventory = import ../../hosts/inventory.nix;
              provisioningInterface = "eth1";
              publicUrl = "http://10.99.0.1:8080";
              artifacts = "/var/lib/e2et-netboot";
              dhcp.subnet = "10.99.0.0";
              bmcPasswordFiles.k10 = "/var/lib/e2et-secrets/k10-bmc";
              operatorTokenFile = "/var/lib/e2et-secrets/e2et-operator-token";
            };
            fileSystems."/" = {
              device = "/dev/disk/by-label/nixos";
              fsType = "ext4";
            };
            boot.loader.grub.enable = false;
            system.stateVersion = "25.11";
          }
        ];
      }
    )
  );
  vmtests = mapAttrs (name: t: {
    inherit (t) name globalTimeout testScript;
    nodes = mapAttrs (n: sys: host n sys) t.nodes;
    nodeNames = t.names;
  }) vmtests;
  package = {
    checkNames = lib.attrNames x86;
  };
}
