# The deployable coordinator: `nixos-rebuild switch --flake .#coordinator`.
{ ... }:
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
    operatorTokenFile = "/run/keys/e2et-operator-token";
    pduCredentials.rack10-a = {
      authPasswordFile = "/run/keys/pdu-rack10-a-auth";
      privPasswordFile = "/run/keys/pdu-rack10-a-priv";
    };
    # k10's console is read over its BMC's Serial over LAN (inventory
    # consoleCapture = "ipmi-sol:...").
    bmcPasswordFiles.k10 = "/run/keys/k10-bmc";
  };

  # Kernel, initrd and init= of the netboot image come from the flake's
  # nixosConfigurations.netboot (set in flake.nix).
  services.e2et.netbootServer.enable = true;

  services.openssh.enable = true;
  system.stateVersion = "25.11";
}
