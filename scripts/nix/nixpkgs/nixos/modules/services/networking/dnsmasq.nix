# Stub of nixpkgs nixos/modules/services/networking/dnsmasq.nix, written for
# e2et's evaluation checks; not a copy.
#
# Read: Swarsel/nixpkgs 4aa6836a (2026; the RFC42 `settings` form). This module
# has had this shape since 23.05 (settings + configFile; `servers` renamed to
# settings.server; `extraConfig` REMOVED with mkRemovedOptionModule "This
# option has been replaced by `services.dnsmasq.settings`"), so it is taken as
# the 25.11 form. At 25.11 there is no services.dnsmasq.extraConfig: setting
# it is an error.
#   services.dnsmasq.enable               bool, false
#   services.dnsmasq.package              package, pkgs.dnsmasq
#   services.dnsmasq.alwaysKeepRunning    bool, false (Restart=always vs on-failure)
#   services.dnsmasq.resolveLocalQueries  bool, TRUE (adds 127.0.0.1 to
#                                         networking.nameservers and resolvconf hooks)
#   services.dnsmasq.settings             submodule, freeformType =
#     pkgs.formats.keyValue { listsAsDuplicateKeys = true; } (values: null,
#     bool, int, float, str, or a list of them; a scalar is coerced to a
#     one-element list, lists from several definitions concatenate), plus the
#     declared option `server` (listOf str, []). The module adds
#     conf-file / resolv-file (mkDefault, only with resolveLocalQueries) and
#     dhcp-leasefile = "/var/lib/dnsmasq/dnsmasq.leases" (mkDefault).
#   services.dnsmasq.configFile           read-only package: the rendered
#     dnsmasq.conf. Rendering: one "key=value" line per value (lists: one line
#     per element), `true` -> bare "key", `false` -> "# setting `key`
#     explicitly set to false". Here a fake derivation with `.text`.
#   systemd.services.dnsmasq: ExecStart =
#     "${dnsmasq}/bin/dnsmasq -k --enable-dbus --user=dnsmasq -C ${configFile}",
#     Type=dbus, BusName=uk.org.thekelleys.dnsmasq, preStart runs
#     `dnsmasq --test -C ${configFile}`; users.users/groups.dnsmasq.
{ config, lib, pkgs, options, ... }:

let
  cfg = config.services.dnsmasq;
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;
  dnsmasq = cfg.package;
  stateDir = "/var/lib/dnsmasq";

  formatKeyValue =
    name: value:
    if value == true then
      name
    else if value == false then
      "# setting `${name}` explicitly set to false"
    else
      lib.generators.mkKeyValueDefault { } "=" name value;

  # pkgs.formats.keyValue { listsAsDuplicateKeys = true; }.type
  singleAtom =
    types.nullOr (
      types.oneOf [
        types.bool
        types.int
        types.float
        types.str
      ]
    )
    // {
      description = "atom (null, bool, int, float or string)";
    };
  atom = types.coercedTo singleAtom lib.singleton (types.listOf singleAtom) // {
    description = singleAtom.description + " or a list of them for duplicate keys";
  };
  settingsType = types.attrsOf atom;

  rendered = lib.generators.toKeyValue {
    listsAsDuplicateKeys = true;
    mkKeyValue = formatKeyValue;
  } cfg.settings;
  dnsmasqConf = fake.textFile "dnsmasq.conf" rendered;
in
{
  imports = [
    (lib.mkRenamedOptionModule [ "services" "dnsmasq" "servers" ] [ "services" "dnsmasq" "settings" "server" ])
    (lib.mkRemovedOptionModule [
      "services"
      "dnsmasq"
      "extraConfig"
    ] "This option has been replaced by `services.dnsmasq.settings`")
  ];

  options.services.dnsmasq = {
    enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to run dnsmasq.";
    };
    package = lib.mkPackageOption pkgs "dnsmasq" { };
    resolveLocalQueries = mkOption {
      type = types.bool;
      default = true;
      description = "Whether dnsmasq should resolve local queries (i.e. add 127.0.0.1 to /etc/resolv.conf).";
    };
    alwaysKeepRunning = mkOption {
      type = types.bool;
      default = false;
      description = "If enabled, systemd will always respawn dnsmasq even if shut down manually.";
    };
    settings = mkOption {
      type = types.submodule {
        freeformType = settingsType;
        options.server = mkOption {
          type = types.listOf types.str;
          default = [ ];
          example = [
            "8.8.8.8"
            "8.8.4.4"
          ];
          description = "The DNS servers which dnsmasq should query.";
        };
      };
      default = { };
      description = "Configuration of dnsmasq (key = value lines; lists give one line per value).";
    };
    configFile = mkOption {
      type = types.package;
      readOnly = true;
      default = dnsmasqConf;
      defaultText = lib.literalExpression "Path of dnsmasq config file";
      description = "Path to the configuration file of dnsmasq.";
    };
  };

  config = lib.mkIf cfg.enable {
    networking.nameservers = lib.optional cfg.resolveLocalQueries "127.0.0.1";

    services.dbus.packages = [ dnsmasq ];

    services.dnsmasq.settings = {
      dhcp-leasefile = lib.mkDefault "${stateDir}/dnsmasq.leases";
      conf-file = lib.mkDefault (lib.optional cfg.resolveLocalQueries "/etc/dnsmasq-conf.conf");
      resolv-file = lib.mkDefault (lib.optional cfg.resolveLocalQueries "/etc/dnsmasq-resolv.conf");
    };

    users.users.dnsmasq = {
      isSystemUser = true;
      group = "dnsmasq";
      description = "Dnsmasq daemon user";
    };
    users.groups.dnsmasq = { };

    systemd.services.dnsmasq = {
      description = "Dnsmasq Daemon";
      after = [
        "network.target"
        "systemd-resolved.service"
      ];
      wantedBy = [ "multi-user.target" ];
      path = [ dnsmasq ];
      preStart = ''
        mkdir -m 755 -p ${stateDir}
        touch ${stateDir}/dnsmasq.leases
        chown -R dnsmasq ${stateDir}
        ${lib.optionalString cfg.resolveLocalQueries "touch /etc/dnsmasq-{conf,resolv}.conf"}
        dnsmasq --test -C ${cfg.configFile}
      '';
      serviceConfig = {
        Type = "dbus";
        BusName = "uk.org.thekelleys.dnsmasq";
        ExecStart = "${dnsmasq}/bin/dnsmasq -k --enable-dbus --user=dnsmasq -C ${cfg.configFile}";
        ExecReload = "${fake.pkgOr pkgs "coreutils"}/bin/kill -HUP $MAINPID";
        Restart = if cfg.alwaysKeepRunning then "always" else "on-failure";
        PrivateTmp = true;
        ProtectSystem = true;
        ProtectHome = true;
      };
    };
  };
}
