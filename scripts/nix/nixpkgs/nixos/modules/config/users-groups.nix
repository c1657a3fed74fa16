# Stub of nixpkgs nixos/modules/config/users-groups.nix (subset), written for
# e2et's evaluation checks; not a copy.
#
# Modelled on the 25.x module (not read page by page; option set long-standing):
#   users.mutableUsers: bool, true.
#   users.users.<name>: name, description, uid (nullOr int), isSystemUser,
#     isNormalUser (bool, false), group (str, ""; "users" for normal users),
#     extraGroups (listOf str), home (default "/var/empty"; "/home/<name>" for
#     normal users), homeMode, createHome (true for normal users), shell
#     (nullOr (either shellPackage path)), hashedPassword,
#     initialHashedPassword (nullOr str; "" means an EMPTY password -- anyone
#     logs in), initialPassword, password (nullOr str), hashedPasswordFile
#     (nullOr str), openssh.authorizedKeys.{keys (listOf singleLineStr), keyFiles}
#     , linger, packages, subUid/GidRanges (loose).
#   users.groups.<name>: name, gid (nullOr int), members (listOf str).
#   Built-in accounts as in nixpkgs: root (uid 0, group root, home /root,
#   initialHashedPassword = mkDefault "!" i.e. locked since 23.11), nobody;
#   groups root, wheel, users, nogroup.
#   Assertions kept (nixpkgs wording): exactly one of isSystemUser /
#   isNormalUser (uid < 1000 counts as system); group must be set; hashed
#   passwords must not contain ":"; with mutableUsers = false, root or a
#   wheel user must have a password, hashedPasswordFile or SSH key.
#   Warning kept: several password options set on one user.
{ config, lib, pkgs, ... }:

let
  cfg = config.users;
  inherit (lib) mkOption mkDefault types;
  fake = import ../../lib/fake-drv.nix { inherit lib; };

  passwdEntry =
    t:
    types.addCheck t (s: builtins.match ".*[:\n].*" (toString s) == null)
    // {
      description = "${t.description}, not containing newlines or colons";
    };

  userOpts =
    { name, config, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
          description = "Whether to create this user.";
        };
        name = mkOption {
          type = passwdEntry types.str;
          description = "The name of the user account.";
        };
        description = mkOption {
          type = passwdEntry types.str;
          default = "";
          description = "A short description of the user account (GECOS).";
        };
        uid = mkOption {
          type = types.nullOr types.int;
          default = null;
          description = "The account UID (allocated automatically when null).";
        };
        isSystemUser = mkOption {
          type = types.bool;
          default = false;
          description = "Whether the user is a system user.";
        };
        isNormalUser = mkOption {
          type = types.bool;
          default = false;
          description = "Whether this is a real user (home in /home, group users, login shell).";
        };
        group = mkOption {
          type = types.str;
          default = "";
          description = "The user's primary group.";
        };
        extraGroups = mkOption {
          type = types.listOf types.str;
          default = [ ];
          description = "The user's auxiliary groups.";
        };
        home = mkOption {
          type = passwdEntry types.path;
          default = "/var/empty";
          description = "The user's home directory.";
        };
        homeMode = mkOption {
          type = types.strMatching "[0-7]{1,5}";
          default = "700";
          description = "The user's home directory mode in numeric format.";
        };
        createHome = mkOption {
          type = types.bool;
          default = false;
          description = "Whether to create the home directory and ensure ownership as well as permissions.";
        };
        useDefaultShell = mkOption {
          type = types.bool;
          default = false;
          description = "Use users.defaultUserShell.";
        };
        shell = mkOption {
          type = types.nullOr (types.either types.package (passwdEntry types.path));
          default = fake.pkgOr pkgs "shadow";
          defaultText = lib.literalExpression "pkgs.shadow";
          description = "The path to the user's shell.";
        };
        hashedPassword = mkOption {
          type = with types; nullOr (passwdEntry str);
          default = null;
          description = "The hashed password (mkpasswd); overrides the others.";
        };
        password = mkOption {
          type = with types; nullOr str;
          default = null;
          description = "The clear-text password (world-readable in the store).";
        };
        hashedPasswordFile = mkOption {
          type = with types; nullOr str;
          default = null;
          description = "The full path to a file that contains the hash of the user's password.";
        };
        initialHashedPassword = mkOption {
          type = with types; nullOr (passwdEntry str);
          default = null;
          description = ''
            The initial password hash; "" means an empty password (login
            without a password), "!" locks the account.
          '';
        };
        initialPassword = mkOption {
          type = with types; nullOr str;
          default = null;
          description = "The initial clear-text password.";
        };
        openssh.authorizedKeys = {
          keys = mkOption {
            type = types.listOf types.singleLineStr;
            default = [ ];
            description = "A list of verbatim OpenSSH public keys.";
          };
          keyFiles = mkOption {
            type = types.listOf types.path;
            default = [ ];
            description = "A list of files each containing one OpenSSH public key.";
          };
        };
        linger = mkOption {
          type = types.nullOr types.bool;
          default = null;
          description = "Whether to enable lingering for this user.";
        };
        packages = mkOption {
          type = types.listOf types.package;
          default = [ ];
          description = "The set of packages that should be made available to the user.";
        };
        subUidRanges = mkOption {
          type = types.listOf types.attrs;
          default = [ ];
          description = "Subordinate user ids (loose).";
        };
        subGidRanges = mkOption {
          type = types.listOf types.attrs;
          default = [ ];
          description = "Subordinate group ids (loose).";
        };
        autoSubUidGidRange = mkOption {
          type = types.bool;
          default = false;
          description = "Automatically allocate subordinate user and group ids.";
        };
      };

      config = lib.mkMerge [
        {
          name = mkDefault name;
          shell = lib.mkIf config.useDefaultShell (mkDefault cfg.defaultUserShell);
        }
        (lib.mkIf config.isNormalUser {
          group = mkDefault "users";
          createHome = mkDefault true;
          home = mkDefault "/home/${config.name}";
          homeMode = mkDefault "700";
          useDefaultShell = mkDefault true;
          isSystemUser = mkDefault false;
        })
      ];
    };

  groupOpts =
    { name, ... }:
    {
      options = {
        name = mkOption {
          type = passwdEntry types.str;
          description = "The name of the group.";
        };
        gid = mkOption {
          type = types.nullOr types.int;
          default = null;
          description = "The group GID (allocated automatically when null).";
        };
        members = mkOption {
          type = types.listOf (passwdEntry types.str);
          default = [ ];
          description = "The user names of the group members, added to the `extraGroups` option.";
        };
      };
      config.name = mkDefault name;
    };

  passwordOptions = [
    "hashedPassword"
    "password"
    "hashedPasswordFile"
    "initialPassword"
    "initialHashedPassword"
  ];
  allowsLogin = hash: hash == "" || !(lib.elem hash [ null "!" "!!" "*" ]);
  enabledUsers = lib.filterAttrs (_: u: u.enable) cfg.users;
in
{
  options.users = {
    mutableUsers = mkOption {
      type = types.bool;
      default = true;
      description = "If false, the contents of the user and group files are replaced on system activation.";
    };
    defaultUserShell = mkOption {
      type = types.either types.package types.path;
      default = fake.pkgOr pkgs "bashInteractive";
      defaultText = lib.literalExpression "pkgs.bashInteractive";
      description = "The user's shell when `useDefaultShell` is set.";
    };
    users = mkOption {
      type = types.attrsOf (types.submodule userOpts);
      default = { };
      description = "Additional user accounts to be created automatically by the system.";
    };
    groups = mkOption {
      type = types.attrsOf (types.submodule groupOpts);
      default = { };
      description = "Additional groups to be created automatically by the system.";
    };
  };

  config = {
    users.users = {
      root = {
        uid = 0;
        description = "System administrator";
        home = "/root";
        shell = mkDefault cfg.defaultUserShell;
        group = "root";
        initialHashedPassword = mkDefault "!";
      };
      nobody = {
        uid = 65534;
        isSystemUser = true;
        description = "Unprivileged account (don't use!)";
        group = "nogroup";
      };
    };
    users.groups = {
      root.gid = 0;
      wheel.gid = 1;
      users.gid = 100;
      nogroup.gid = 65534;
    };

    assertions =
      [
        {
          assertion =
            cfg.mutableUsers
            || lib.any lib.id (
              lib.mapAttrsToList (
                n: u:
                (n == "root" || u.group == "wheel" || lib.elem "wheel" u.extraGroups)
                && (
                  allowsLogin (if u.hashedPassword != null then u.hashedPassword else "!")
                  || u.password != null
                  || u.hashedPasswordFile != null
                  || u.openssh.authorizedKeys.keys != [ ]
                  || u.openssh.authorizedKeys.keyFiles != [ ]
                )
              ) enabledUsers
            );
          message = ''
            Neither the root account nor any wheel user has a password or SSH authorized key.
            You must set one to prevent being locked out of your system.
          '';
        }
      ]
      ++ lib.flatten (
        lib.mapAttrsToList (n: u: [
          {
            assertion = (u.hashedPassword != null) -> (builtins.match ".*:.*" u.hashedPassword == null);
            message = "The password hash of user \"${u.name}\" contains a \":\" character. This is invalid and would break the login system because the fields of /etc/shadow (file where hashes are stored) are colon-separated. Please check the value of option `users.users.\"${u.name}\".hashedPassword`.";
          }
          {
            assertion =
              let
                isEffectivelySystemUser = u.isSystemUser || (u.uid != null && u.uid < 1000);
              in
              lib.xor isEffectivelySystemUser u.isNormalUser;
            message = ''
              Exactly one of users.users.${u.name}.isSystemUser and users.users.${u.name}.isNormalUser must be set.
            '';
          }
          {
            assertion = u.group != "";
            message = ''
              users.users.${u.name}.group is unset. This used to default to
              nogroup, but this is unsafe. For example you can create a group
              for this user with:
              users.users.${u.name}.group = "${u.name}";
              users.groups.${u.name} = {};
            '';
          }
        ]) enabledUsers
      );

    warnings = lib.flatten (
      lib.mapAttrsToList (
        n: u:
        let
          # As in nixpkgs, the initial* options only count with mutableUsers;
          # root's built-in locked default ("!") is not counted here.
          opts = if cfg.mutableUsers then passwordOptions else [ "hashedPassword" "password" "hashedPasswordFile" ];
          set = lib.filter (o: u.${o} != null && !(o == "initialHashedPassword" && u.${o} == "!")) opts;
        in
        lib.optional (lib.length set > 1) ''
          The user '${u.name}' has multiple of the options
          `initialHashedPassword`, `hashedPassword`, `initialPassword`, `password`
          & `hashedPasswordFile` set to a non-null value.
          ${lib.concatMapStringsSep "\n" (o: "users.users.${n}.${o}") set}
        ''
      ) enabledUsers
    );
  };
}
