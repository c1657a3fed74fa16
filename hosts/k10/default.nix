# k10: an example field host, an IPA/SSSD client (profile aaa-domain-client)
# behind rack 10's AP7901. Its identity state lives on /persist, so it
# survives the acceptance run's power cycle.
{ pkgs, ... }:
{
  networking.hostName = "k10";
  networking.domain = "lab.e2et.test";

  boot.loader.systemd-boot.enable = true;
  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };
  fileSystems."/persist" = {
    device = "/dev/disk/by-label/persist";
    fsType = "ext4";
    neededForBoot = true;
  };
  fileSystems."/boot" = {
    device = "/dev/disk/by-label/ESP";
    fsType = "vfat";
  };

  services.e2et.agent.enable = true;
  services.e2et.identity = {
    enable = true;
    persistencePath = "/persist";
    ipa = {
      domain = "lab.e2et.test";
      realm = "LAB.E2ET.TEST";
      server = "ipa.lab.e2et.test";
      basedn = "dc=lab,dc=e2et,dc=test";
      # A test CA generated for this example (its key was discarded), so
      # the system builds: security.ipa imports it into an NSS database with
      # `certutil -A -i`, which refuses an empty or malformed file. Replace
      # it with your IPA server's https://<server>/ipa/config/ca.crt.
      certificate = pkgs.writeText "ipa-ca.crt" (builtins.readFile ./ipa-ca.crt);
    };
    # The inventory's profile aaa-domain-client names the break-glass
    # account "rescue".
    breakGlass = {
      user = "rescue";
      hashedPasswordFile = "/persist/secrets/breakglass.hash";
    };
  };

  services.openssh.enable = true;
  system.stateVersion = "25.11";
}
