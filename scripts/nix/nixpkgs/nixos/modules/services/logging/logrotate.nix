# Stub of nixpkgs nixos/modules/services/logging/logrotate.nix (subset),
# written for e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (RFC42 `settings` since 22.11; not read page by
# page):
#   services.logrotate.enable: bool, default = any settings entry enabled
#     (there is always the `header` entry, so effectively true);
#     profiles/minimal.nix sets it to mkDefault false.
#   services.logrotate.settings: attrsOf submodule, freeformType attrsOf
#     (nullOr (oneOf [int bool str])), with declared options
#       enable   bool, true
#       global   bool, false
#       priority int, 1000
#       frequency nullOr str, null
#       files    either str (listOf str), default the attribute name
#     The built-in `header` entry (global, priority 100) carries the defaults.
#   services.logrotate.checkConfig: bool, true (build-time check in nixpkgs).
#   Rendering (stub-only system.build.logrotateConf, a fake derivation with
#   `.text`): per enabled entry, ordered by priority, "<files> {" + one line per
#   setting ("key" for true, "nokey" for false, the bare value for
#   `frequency`, "key value" otherwise; postrotate/prerotate as scripts
#   ending in "endscript") + "}" -- close to nixpkgs' generator.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.logrotate;
  fake = import ../../../lib/fake-drv.nix { inherit lib; };
  inherit (lib) mkOption types;

  settingsOpts =
    { name, ... }:
    {
      freeformType =
        with types;
        attrsOf (
          nullOr (oneOf [
            int
            bool
            str
          ])
        );
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether to enable this log rotation entry.";
        };
        global = mkOption {
          type = types.bool;
          default = false;
          description = "Whether this setting is a global option or not.";
        };
        priority = mkOption {
          type = types.int;
          default = 1000;
          description = "Order of this logrotate block in relation to the others.";
        };
        frequency = mkOption {
          type = types.nullOr types.str;
          default = null;
          description = "How often to rotate the logs.";
        };
        files = mkOption {
          type = with types; either str (listOf str);
          default = name;
          defaultText = "the attribute name";
          description = "Single or list of files for which rules are defined.";
        };
      };
    };

  # As nixpkgs' generator: `frequency` is written bare ("daily"), scripts as
  # blocks ending in "endscript", true -> "key", false -> "no<key>".
  renderKV =
    k: v:
    if v == null then
      ""
    else if k == "frequency" then
      "  ${v}\n"
    else if lib.elem k [ "firstaction" "lastaction" "prerotate" "postrotate" "preremove" ] then
      "  ${k}\n    ${v}\n  endscript\n"
    else if v == true then
      "  ${k}\n"
    else if v == false then
      "  no${k}\n"
    else
      "  ${k} ${toString v}\n";
  renderEntry =
    e:
    let
      body = lib.removeAttrs e [
        "enable"
        "global"
        "priority"
        "files"
      ];
      lines = lib.concatStrings (lib.mapAttrsToList renderKV body);
    in
    if e.global then
      lines
    else
      "${lib.concatStringsSep " " (lib.toList e.files)} {\n${lines}}\n";
  entries = lib.sort (a: b: a.priority < b.priority) (lib.filter (e: e.enable) (lib.attrValues cfg.settings));
in
{
  options.services.logrotate = {
    enable = mkOption {
      type = types.bool;
      default = lib.any (e: e.enable) (lib.attrValues cfg.settings);
      defaultText = lib.literalExpression "any enabled entry in settings";
      description = "Whether to enable the logrotate systemd service.";
    };
    settings = mkOption {
      type = types.attrsOf (types.submodule settingsOpts);
      default = { };
      description = "logrotate freeform settings: each attribute is a block (see logrotate(8)).";
    };
    checkConfig = mkOption {
      type = types.bool;
      default = true;
      description = "Whether the config should be checked at build time.";
    };
  };

  config = {
    services.logrotate.settings.header = {
      global = true;
      priority = 100;
    };
    system.build.logrotateConf = fake.textFile "logrotate.conf" (lib.concatMapStrings renderEntry entries);
    systemd.services.logrotate = lib.mkIf cfg.enable {
      description = "Logrotate Service";
      startAt = "hourly";
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${fake.pkgOr pkgs "logrotate"}/sbin/logrotate ${config.system.build.logrotateConf}";
      };
    };
  };
}
