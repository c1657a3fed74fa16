# A stand-in for nixpkgs' package set, enough to evaluate e2et's flake,
# modules, hosts and vmtests without a Nix store (scripts/nix/flake-eval.nix).
# Nothing here builds: a "derivation" is an attribute set with a store-like
# outPath, and the builders record what they were given (text, script,
# entries) so that scripts/nix-checks.py can check it or run it for real.
# Where a nixpkgs package only has some files on some platforms, the fake
# says so and the builders that reference a missing file fail evaluation,
# as the real build would fail.
{
  lib,
  system,
  path,
  nixosSystem,
  runNixOSTest,
}:
let
  hostPlatform = lib.systems.elaborate system;
  hashOf = s: builtins.substring 0 32 (builtins.hashString "sha256" s);

  # A fake derivation; `files`, when given, lists every file of its output.
  mkDrv =
    name: attrs:
    {
      type = "derivation";
      inherit name system;
      outPath = "${builtins.storeDir}/${hashOf (name + builtins.toJSON (builtins.attrNames attrs))}-${name}";
      drvPath = "${builtins.storeDir}/${hashOf name}-${name}.drv";
      outputs = [ "out" ];
      meta = attrs.meta or { };
      passthru = { };
    }
    // attrs;

  # A package: a fake derivation with `override` recording its arguments.
  mkPkg =
    pname: attrs:
    let
      self = mkDrv pname (
        {
          inherit pname;
          meta = {
            mainProgram = pname;
          }
          // (attrs.meta or { });
          overrideArgs = { };
          override = args: mkPkg pname (attrs // { overrideArgs = (attrs.overrideArgs or { }) // args; });
          overrideAttrs = f: mkPkg pname (attrs // (if lib.isFunction f then f self else f));
        }
        // attrs
      );
    in
    self;

  # "${drv}/sub/path" for a fake drv that lists its files: is the file there?
  checkFile =
    what: p:
    let
      m = builtins.match "(${builtins.storeDir}/[^/]+)/(.+)" (toString p);
      owner = if m == null then null else lib.findFirst (d: d.outPath == builtins.head m) null knownPkgs;
    in
    if owner == null || !(owner ? files) || lib.elem (lib.elemAt m 1) owner.files then
      p
    else
      throw "${what}: ${toString p} does not exist: ${owner.pname} on ${system} has only ${lib.concatStringsSep ", " owner.files}";

  # pkgs/by-name/ip/ipxe at nixos-25.11 (nixpkgs/NOTES.md): the files of its
  # output per platform. undionly.kpxe is a BIOS PXE image: x86 only.
  ipxe =
    let
      efi = [
        "ipxe.efi"
        "ipxe.efirom"
        "ipxe-efi.usb"
        "snp.efi"
      ];
      bios = [
        "ipxe.dsk"
        "ipxe.usb"
        "ipxe.iso"
        "ipxe.lkrn"
        "undionly.kpxe"
        "undionly.kpxe.0"
      ];
    in
    mkPkg "ipxe" {
      files =
        if hostPlatform.isx86_64 then
          efi ++ bios
        else if hostPlatform.isx86_32 then
          bios
        else if hostPlatform.isAarch64 then
          efi
        else
          [ ];
    };

  plain = [
    "bash"
    "busybox"
    "cargo"
    "chrony"
    "clippy"
    "coreutils"
    "cpio"
    "curl"
    "dnsmasq"
    "e2fsprogs"
    "gnugrep"
    "gnused"
    "iproute2"
    "ipmitool"
    "kmod"
    "krb5"
    "linux"
    "logrotate"
    "net-snmp"
    "nix"
    "nixfmt-tree"
    "ntp"
    "openldap"
    "openssh"
    "openssl"
    "qemu"
    "qemu_test"
    "rustc"
    "rustfmt"
    "sssd"
    "sudo"
    "systemd"
    "util-linux"
    "freeipa"
    "nss"
    "cyrus_sasl"
    "shadow"
  ];
  knownPkgs = [ ipxe ] ++ map (n: pkgs.${n}) plain;

  pkgs =
    lib.genAttrs plain (n: mkPkg n { })
    // {
      inherit
        lib
        path
        system
        ipxe
        ;
      stdenv = {
        inherit hostPlatform;
        buildPlatform = hostPlatform;
        targetPlatform = hostPlatform;
        isLinux = hostPlatform.isLinux;
        mkDerivation = a: mkDrv (a.name or "${a.pname}-${a.version}") a;
      };
      # nixpkgs' set contains itself (callPackage ({ pkgs }: ...) works).
      inherit pkgs;
      stdenvNoCC = pkgs.stdenv;
      buildPackages = pkgs;
      pkgsBuildBuild = pkgs;
      callPackage = lib.callPackageWith pkgs;

      writeText =
        name: text:
        mkDrv name {
          inherit text;
          builder = "writeText";
        };
      writeTextFile = a: mkDrv a.name (a // { builder = "writeTextFile"; });
      writeShellScript =
        name: text:
        mkDrv name {
          inherit text;
          builder = "writeShellScript";
        };
      writeShellScriptBin =
        name: text:
        mkDrv name {
          inherit text;
          builder = "writeShellScriptBin";
          meta.mainProgram = name;
        };
      runCommand =
        name: env: buildCommand:
        mkDrv name (
          env
          // {
            inherit buildCommand;
            builder = "runCommand";
          }
        );
      runCommandLocal = pkgs.runCommand;
      linkFarm =
        name: entries:
        let
          list =
            if lib.isList entries then
              entries
            else
              lib.mapAttrsToList (n: p: {
                name = n;
                path = p;
              }) entries;
        in
        let
          entries = map (e: e // { path = checkFile "linkFarm ${name}" e.path; }) list;
          drv = mkDrv name {
            builder = "linkFarm";
            inherit entries;
          };
        in
        # Whoever names the link farm's path needs every entry to exist,
        # as its build would.
        drv // { outPath = builtins.deepSeq (map (e: e.path) entries) drv.outPath; };
      symlinkJoin = a: mkDrv a.name (a // { builder = "symlinkJoin"; });
      mkShell = a: mkDrv (a.name or "nix-shell") (a // { builder = "mkShell"; });

      rustPlatform.buildRustPackage =
        a:
        mkDrv "${a.pname}-${a.version}" {
          inherit (a) pname version;
          meta = a.meta or { };
          buildRustPackageArgs = a;
        };

      testers.runNixOSTest = runNixOSTest pkgs;
      nixos = m: nixosSystem { modules = lib.toList m; };
    };
in
pkgs
