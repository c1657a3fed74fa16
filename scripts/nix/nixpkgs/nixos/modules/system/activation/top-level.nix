# Stub of nixpkgs nixos/modules/system/activation/top-level.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page):
#   system.build        submodule, freeform lazyAttrsOf (uniq unspecified):
#                       any attribute may be set once (setting the same one
#                       twice is an error, as in nixpkgs).
#   system.checks       listOf package, default []: built with the system.
#   system.extraDependencies  listOf path, default [].
#   system.name         str, default hostName or "unnamed" (the 25.x default).
#   system.switch.enable bool, default true.
#   system.build.toplevel: a fake derivation "nixos-system-<name>-<version>"
#                       that, like nixpkgs, only exists if every assertion
#                       holds: it goes through lib.asserts.checkAssertWarn
#                       (failed assertions throw "Failed assertions: ...",
#                       warnings are printed). Its hash depends on (and so
#                       forces, like a real build) /etc, the rendered units,
#                       the packages, users/groups, file systems, tmpfiles
#                       lines and networking; stub-only `closure` holds that
#                       data (JSON-able) for checkers, with `checks` and
#                       `kernelParams`.
{ config, lib, pkgs, ... }:

let
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;

  # What the real toplevel is built from (/etc, the units, the system path,
  # users, file systems, ...). Forcing it here, as building does in nixpkgs,
  # makes every type error in those options surface when toplevel is
  # evaluated. Kept on the fake derivation as `closure` for checkers.
  cfg = config;
  closure = {
    inherit (cfg.system) name;
    kernelParams = cfg.boot.kernelParams;
    initrdModules = cfg.boot.initrd.availableKernelModules ++ cfg.boot.initrd.kernelModules;
    packages = map toString (cfg.environment.systemPackages ++ cfg.environment.defaultPackages);
    checks = map toString cfg.system.checks;
    extraDependencies = map toString cfg.system.extraDependencies;
    etc = lib.mapAttrs (_: v: {
      inherit (v) enable target mode user group;
      source = toString v.source;
    }) cfg.environment.etc;
    units = lib.mapAttrs (_: u: {
      inherit (u) enable wantedBy requiredBy aliases;
      text = u.text;
    }) cfg.systemd.units;
    tmpfiles = cfg.system.build.tmpfilesLines;
    users = lib.mapAttrs (_: u: {
      inherit (u)
        enable name uid group extraGroups isNormalUser isSystemUser home createHome
        hashedPassword hashedPasswordFile initialHashedPassword initialPassword password
        ;
      authorizedKeys = u.openssh.authorizedKeys.keys;
    }) cfg.users.users;
    groups = lib.mapAttrs (_: g: { inherit (g) name gid members; }) cfg.users.groups;
    fileSystems = lib.mapAttrs (_: f: {
      inherit (f)
        enable mountPoint device fsType options depends neededForBoot autoFormat noCheck label
        ;
      overlay = { inherit (f.overlay) lowerdir upperdir workdir; };
    }) cfg.fileSystems;
    networking = {
      inherit (cfg.networking) hostName domain useDHCP nameservers timeServers;
      interfaces = lib.mapAttrs (_: i: {
        inherit (i) name useDHCP;
        ipv4 = map (a: { inherit (a) address prefixLength; }) i.ipv4.addresses;
        ipv6 = map (a: { inherit (a) address prefixLength; }) i.ipv6.addresses;
      }) cfg.networking.interfaces;
      firewall = {
        inherit (cfg.networking.firewall)
          enable allowedTCPPorts allowedUDPPorts allowedTCPPortRanges allowedUDPPortRanges
          ;
        interfaces = cfg.networking.firewall.interfaces;
      };
    };
    nssModules = map toString cfg.system.nssModules.list;
  };
  closureJSON = builtins.toJSON closure;

  baseSystem = fake.fakeDrv "nixos-system-${config.system.name}-${config.system.nixos.label}" {
    seed = closureJSON;
    checks = config.system.checks;
    kernelParams = config.boot.kernelParams;
    closure = builtins.fromJSON closureJSON;
  };
in
{
  options.system = {
    build = mkOption {
      internal = true;
      default = { };
      type = types.submoduleWith {
        modules = [
          {
            freeformType = with types; lazyAttrsOf (uniq unspecified);
          }
        ];
      };
      description = "Attribute set of derivations used to set up the system.";
    };

    checks = mkOption {
      type = types.listOf types.package;
      default = [ ];
      description = ''
        Packages that are added as dependencies of the system's build, usually
        for the purpose of validating some part of the configuration.
      '';
    };

    extraDependencies = mkOption {
      type = types.listOf types.pathInStore;
      default = [ ];
      description = "A list of paths that should be included in the system closure.";
    };

    name = mkOption {
      type = types.str;
      default = if config.networking.hostName == "" then "unnamed" else config.networking.hostName;
      defaultText = lib.literalExpression ''if config.networking.hostName == "" then "unnamed" else config.networking.hostName'';
      description = "The name of the system used in the system.build.toplevel derivation.";
    };

    switch.enable = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to include the capability to switch configurations.";
    };
  };

  config.system.build.toplevel = lib.asserts.checkAssertWarn config.assertions config.warnings baseSystem;
}
