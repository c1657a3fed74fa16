# Stub of nixpkgs nixos/modules/tasks/network-interfaces.nix (subset), plus
# networking.timeServers (config/networking.nix area) and a few one-line
# networking toggles other stubs set, written for e2et's evaluation checks;
# not a copy.
#
# Modelled on the 25.x modules (not read page by page; these options are
# long-standing):
#   networking.hostName  strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$",
#                        default "nixos" ("" allowed: the name then comes from DHCP).
#   networking.domain    nullOr (dot-separated labels), default null.
#   networking.fqdn      read-only: "<hostName>.<domain>", throws when either is unset.
#   networking.fqdnOrHostName read-only.
#   networking.useDHCP   bool, default true.
#   networking.interfaces.<name>: name, useDHCP (nullOr bool),
#                        ipv4/ipv6.addresses = listOf { address (str),
#                        prefixLength (int 0..32 / 0..128) }.
#                        Assertion kept: interface names must be < 16 chars.
#   networking.nameservers (listOf str), networking.extraHosts (lines),
#   networking.timeServers (listOf str, default the four
#   {0..3}.nixos.pool.ntp.org), networking.enableIPv6 (bool, true),
#   networking.usePredictableInterfaceNames (bool, true),
#   networking.networkmanager.enable, networking.wireless.enable,
#   networking.dhcpcd.extraConfig, networking.resolvconf (loose).
{ config, lib, ... }:

let
  cfg = config.networking;
  inherit (lib) mkOption types;

  addrOpts =
    v:
    assert v == 4 || v == 6;
    {
      options = {
        address = mkOption {
          type = types.str;
          description = "IPv${toString v} address of the interface.";
        };
        prefixLength = mkOption {
          type = types.addCheck types.int (n: n >= 0 && n <= (if v == 4 then 32 else 128));
          description = "Subnet mask of the interface, as the number of bits in the prefix (`${if v == 4 then "24" else "64"}`).";
        };
      };
    };

  interfaceOpts =
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          example = "eth0";
          description = "Name of the interface.";
        };
        useDHCP = mkOption {
          type = types.nullOr types.bool;
          default = null;
          description = "Whether this interface should be configured with DHCP.";
        };
        ipv4.addresses = mkOption {
          type = types.listOf (types.submodule (addrOpts 4));
          default = [ ];
          example = [
            {
              address = "10.0.0.1";
              prefixLength = 16;
            }
          ];
          description = "List of IPv4 addresses that will be statically assigned to the interface.";
        };
        ipv6.addresses = mkOption {
          type = types.listOf (types.submodule (addrOpts 6));
          default = [ ];
          description = "List of IPv6 addresses that will be statically assigned to the interface.";
        };
      };
      config.name = lib.mkDefault name;
    };

  label = "[[:alnum:]_]([[:alnum:]_-]{0,61}[[:alnum:]_])?";
in
{
  options.networking = {
    hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
      description = "The name of the machine (a single DNS label; empty: taken from DHCP).";
    };
    domain = mkOption {
      type = types.nullOr (types.strMatching "^${label}(\\.${label})*$");
      default = null;
      example = "home.arpa";
      description = "The domain. It can be left empty if it is auto-detected through DHCP.";
    };
    fqdn = mkOption {
      readOnly = true;
      type = types.str;
      default =
        if (cfg.hostName != "" && cfg.domain != null) then
          "${cfg.hostName}.${cfg.domain}"
        else
          throw ''
            The FQDN is required but cannot be determined because `networking.hostName` or
            `networking.domain` is not set.
          '';
      description = "The fully qualified domain name (FQDN) of this host.";
    };
    fqdnOrHostName = mkOption {
      readOnly = true;
      type = types.str;
      default = if cfg.domain == null then cfg.hostName else cfg.fqdn;
      description = "Either the FQDN or just the hostName if no domain is set.";
    };
    useDHCP = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to use DHCP to obtain an IP address and other configuration for all network interfaces that do not have any manually configured IPv4 addresses.";
    };
    interfaces = mkOption {
      type = types.attrsOf (types.submodule interfaceOpts);
      default = { };
      example = {
        eth0.ipv4.addresses = [
          {
            address = "131.211.84.78";
            prefixLength = 25;
          }
        ];
      };
      description = "The configuration for each network interface.";
    };
    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "The list of nameservers.";
    };
    extraHosts = mkOption {
      type = types.lines;
      default = "";
      description = "Additional verbatim entries to be appended to {file}`/etc/hosts`.";
    };
    timeServers = mkOption {
      type = types.listOf types.str;
      default = [
        "0.nixos.pool.ntp.org"
        "1.nixos.pool.ntp.org"
        "2.nixos.pool.ntp.org"
        "3.nixos.pool.ntp.org"
      ];
      description = "The set of NTP servers from which to synchronise.";
    };
    enableIPv6 = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to enable support for IPv6.";
    };
    usePredictableInterfaceNames = mkOption {
      type = types.bool;
      default = true;
      description = "Whether to assign predictable names to network interfaces (enp2s0 rather than eth0).";
    };
    networkmanager.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to use NetworkManager (services/networking/networkmanager.nix).";
    };
    wireless.enable = mkOption {
      type = types.bool;
      default = false;
      description = "Whether to enable wpa_supplicant (services/networking/wpa_supplicant.nix).";
    };
    dhcpcd.extraConfig = mkOption {
      type = types.lines;
      default = "";
      description = "Literal string to append to the dhcpcd config (services/networking/dhcpcd.nix).";
    };
    resolvconf = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      description = "resolvconf settings (config/resolvconf.nix; loose in this stub).";
    };
  };

  config.assertions = lib.mapAttrsToList (n: i: {
    assertion = lib.stringLength i.name < 16;
    message = ''
      The name of networking.interfaces."${i.name}" is too long, it needs to be less than 16 characters.
    '';
  }) cfg.interfaces;
}
