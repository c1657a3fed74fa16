# The deployable coordinator: `nixos-rebuild switch --flake .#coordinator`.
{ ... }:
let
  secrets = "/var/lib/e2et-secrets";
in
{
  networking.hostName = "coordinator";

  # Adjust to the machine: disk labels and the provisioning NIC.
  boot.loader.systemd-boot.enable = true;
  boot.loader.efi.canTouchEfiVariables = true;
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/ESP";
    fsType = "vfat";
  };

  networking.interfaces.enp2s0.ipv4.addresses = [
    {
      address = "10.99.0.1";
      prefixLength = 24;
    }
  ];

  services.e2et.coordinator = {
    enable = true;
    inventory = import ../inventory.nix;
    provisioningInterface = "enp2s0";
    publicUrl = "http://10.99.0.1:8080";
    dhcp.subnet = "10.99.0.0";
    # Secrets live in a root-only directory on the root filesystem, so they
    # are there at every boot (files under /run/keys vanish at a reboot and
    # e2etd's LoadCredential then fails). Put each file there by hand
    # (`install -m 0600`), or let a secrets manager write them and point
    # these options at its paths: agenix's `config.age.secrets.<name>.path`
    # (/run/agenix/<name>) or sops-nix's `config.sops.secrets.<name>.path`
    # (/run/secrets/<name>), both decrypted anew at every activation.
    operatorTokenFile = "${secrets}/e2et-operator-token";
    pduCredentials.rack10-a = {
      authPasswordFile = "${secrets}/pdu-rack10-a-auth";
      privPasswordFile = "${secrets}/pdu-rack10-a-priv";
    };
    # k10's console is read over its BMC's Serial over LAN (inventory
    # consoleCapture = "ipmi-sol:...").
    bmcPasswordFiles.k10 = "${secrets}/k10-bmc";
  };
  systemd.tmpfiles.rules = [ "d ${secrets} 0700 root root -" ];

  # Kernel, initrd and init= of the netboot image come from the flake's
  # nixosConfigurations.netboot (set in flake.nix).
  services.e2et.netbootServer.enable = true;

  services.openssh.enable = true;
  system.stateVersion = "25.11";
}
