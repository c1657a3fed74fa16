#!/usr/bin/env python3
"""The Nix side of e2et, checked without a Nix store.

scripts/nix/flake-eval.nix evaluates the flake by its own outputs function,
with nixpkgs lib at 25.11 and option declarations written from nixpkgs' 25.11
sources; this script reads what it reports and checks each class of defect a
user would otherwise meet in `nix flake check`, `nix build` or
`nixos-rebuild`:

  eval        every host and vmtest node evaluates: option types hold, no
              assertion fails, no warning; modules import together once
  inventory   every inventory (hosts/inventory.nix, each coordinator's)
              passes `e2etd check-config`; the coordinator module's own
              build-time commands run for real (check-config, dnsmasq-config)
              and dnsmasq accepts the configuration (`dnsmasq --test`)
  profiles    every host (and each vmtest's netboot client) meets its
              inventory profile where its configuration decides it
  mounts      every bind mount's source is created before the mount; no
              mount of a test node is silently dropped by qemu-vm.nix
  console     the netboot image is not open on its console (no autologin,
              no empty password, sudo asks, no channel copy)
  ipa         security.ipa's certificate is a real PEM X.509 certificate
  ldap        each test LDAP server's entries load into Debian's slapd
  docs        docs/nix.md names each nixpkgs file where 25.11 has it
  stubs       the stand-in nixpkgs passes its own self-test
  vmtests     each testScript rendered and linted as nixpkgs' driver.nix
              does (pyflakes, mypy), its wait_for_unit targets can be
              waited for, and no two NICs share a MAC

Usage: scripts/nix-checks.py [--root DIR] [--e2etd PATH] [CHECK...]
Prints one line per finding and a closing `N passed, N failed` line.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, check, what):
        self.passed += 1
        print(f"ok   {check}: {what}")

    def fail(self, check, what):
        self.failed += 1
        print(f"FAIL {check}: {what}")

    def expect(self, cond, check, what, why=""):
        if cond:
            self.ok(check, what)
        else:
            self.fail(check, f"{what}: {why}" if why else what)
        return cond


def nix_eval(root, vendor, attr):
    cmd = [
        "nix-instantiate", "--eval", "--strict", "--json",
        str(HERE / "nix" / "flake-eval.nix"),
        "--arg", "root", str(root),
        "--arg", "vendor", str(vendor),
        "-A", attr,
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    err = "\n".join(l for l in p.stderr.splitlines() if "build-users-group" not in l)
    if p.returncode != 0:
        return None, err.strip()
    return json.loads(p.stdout), err.strip()


def load_report(c, root, vendor):
    """The report, piece by piece: a piece that does not evaluate is a
    finding naming it and Nix's message, and the other pieces still count."""
    names, err = nix_eval(root, vendor, "report.names")
    if names is None:
        c.fail("eval", f"the flake does not evaluate: {err[-3000:]}")
        return None
    rep = {"hosts": {}, "coordinatorPerSystem": {}, "vmtests": {}, "moduleCombinations": {}}
    pieces = [("hosts", n, f"nixosConfigurations.{n}") for n in names["hosts"]]
    pieces += [("coordinatorPerSystem", s, f"the coordinator module on {s}") for s in names["systems"]]
    pieces += [("vmtests", t, f"vmtest {t}") for t in names["vmtests"]]
    for section, key, label in pieces:
        v, err = nix_eval(root, vendor, f'report.{section}."{key}"')
        if c.expect(v is not None, "eval", f"{label} evaluates", err[-2500:]):
            rep[section][key] = v
    v, err = nix_eval(root, vendor, "report.moduleCombinations")
    rep["moduleCombinations"] = v or {"default-and-agent": None}
    if v is None:
        c.fail("eval", f"nixosModules.default, .agent and .coordinator imported together: {err[-1500:]}")
    return rep


def merge(base, over):
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merge(base.get(k), v) if k in base else v
        return out
    return over


def resolved_expect(inv, host):
    h = inv["hosts"][host]
    prof = inv.get("profiles", {}).get(h.get("profile", ""), {})
    return merge(prof, h.get("expect", {}))


# ---------------------------------------------------------------- eval
def check_eval(c, rep):
    def one(label, h, allow_warnings=False):
        c.expect(not h["failedAssertions"], "eval", f"{label}: assertions hold",
                 " | ".join(x.strip() for x in h["failedAssertions"]))
        if not allow_warnings:
            c.expect(not h["warnings"], "eval", f"{label}: evaluates without warnings",
                     " | ".join(x.strip() for x in h["warnings"]))

    for name, h in rep["hosts"].items():
        one(f"nixosConfigurations.{name}", h)
    for system, h in rep["coordinatorPerSystem"].items():
        one(f"the coordinator module on {system}", h)
    for t, test in rep["vmtests"].items():
        for n, h in test["nodes"].items():
            one(f"vmtest {t}, node {n}", h)
    if rep["moduleCombinations"]["default-and-agent"]:
        c.ok("eval", "nixosModules.default, .agent and .coordinator imported together define the package once")
    check_enrolled_agent(c, rep["moduleCombinations"])
    for name, h in list(rep["hosts"].items()) + list(rep["coordinatorPerSystem"].items()):
        unit = h["services"].get("e2etd") if h.get("coordinator") else None
        if unit is None:
            continue
        lim = unit["serviceConfig"].get("LimitNOFILE", "")
        c.expect(lim.isdigit() and int(lim) >= 16384 + 64, "eval",
                 f"{name}: e2etd's open-file limit leaves room for its 16384 connections",
                 f"LimitNOFILE = {lim!r} (e2etd caps connections at the limit less 64)")


def check_enrolled_agent(c, combos):
    """The installed host's enrolling agent: its allow-list and caps reach
    the agent, its unit is hardened, and a list word with whitespace fails."""
    h = combos.get("enrolledAgent")
    if not c.expect(h is not None, "agent", "the enrolling agent's configuration evaluates"):
        return
    one = h["services"].get("e2et-agent-enrol")
    if not c.expect(one is not None, "agent", "enrol.enable defines e2et-agent-enrol.service"):
        return
    ex = one["execStart"] or ""
    c.expect(not h["failedAssertions"], "agent", "the enrolling agent's configuration passes its assertions",
             " | ".join(h["failedAssertions"]))
    for flag in ("--allow-commands", "--max-disk-mib 256", "--max-tcp-mib 256", "--key-file %d/enrol-key"):
        c.expect(flag in ex, "agent", f"e2et-agent-enrol runs with {flag}", ex)
    sc = one["serviceConfig"]
    for k, want in (("ProtectSystem", "strict"), ("NoNewPrivileges", "1"), ("ProtectHome", "read-only"),
                    ("PrivateTmp", "1"), ("ReadWritePaths", ["/var/tmp"])):
        c.expect(sc.get(k) == want, "agent", f"e2et-agent-enrol: {k} = {want}", f"got {sc.get(k)!r}")
    caps = sc.get("CapabilityBoundingSet") or []
    c.expect(caps and "CAP_SYS_BOOT" not in caps, "agent",
             "e2et-agent-enrol: a capability bounding set without CAP_SYS_BOOT", f"got {caps!r}")
    bad = combos.get("enrolledAgentBadWord")
    c.expect(bad is not None and any("allowedCommands" in m for m in bad["failedAssertions"]), "agent",
             "an allow-list word with whitespace fails its assertion",
             repr(bad and bad["failedAssertions"]))


# ---------------------------------------------------------------- inventory
def store_map(e2etd_dir, texts, tmp):
    """Maps fake store paths to real files: texts written out, the e2et
    package to the binaries built here, anything else to an empty dir."""

    def sub(m):
        path = m.group(0)
        if path in texts:
            f = tmp / (re.sub(r"[^A-Za-z0-9.-]", "_", path.rsplit("/", 1)[-1]))
            f.write_text(texts[path])
            return str(f)
        name = path.split("-", 1)[1] if "-" in path else path
        if name.startswith("e2et-") and re.match(r"e2et-\d", name):
            return str(e2etd_dir)
        d = tmp / ("dir-" + name)
        d.mkdir(exist_ok=True)
        return str(d)

    return sub


def run_build_command(c, label, drv, texts, e2etd_dir, tmp):
    """Runs a runCommand's script as the builder would ($out set), with the
    store paths it names replaced by real files."""
    script = drv.get("buildCommand")
    if script is None:
        c.fail("inventory", f"{label}: {drv.get('name')} has no build command")
        return None
    real = re.sub(r"/nix/store/[a-z0-9]{32}-[A-Za-z0-9._+-]+?(?=/bin/|[\s'\"]|$)",
                  store_map(e2etd_dir, texts, tmp), script)
    out = tmp / f"out-{drv['name']}"
    p = subprocess.run(["bash", "-euo", "pipefail", "-c", real], capture_output=True, text=True,
                       env=dict(os.environ, out=str(out)))
    if not c.expect(p.returncode == 0, "inventory", f"{label}: {drv['name']} builds",
                    (p.stderr or p.stdout).strip()[-800:]):
        return None
    return out


def check_inventory(c, rep, root, e2etd):
    e2etd_dir = Path(e2etd).resolve().parent.parent if Path(e2etd).parent.name == "bin" else None
    tmp = Path(tempfile.mkdtemp(prefix="e2et-nix-checks-"))
    try:
        if e2etd_dir is None:
            # target/release/e2etd: give it a bin/ the store path can name.
            e2etd_dir = tmp / "e2et"
            (e2etd_dir / "bin").mkdir(parents=True)
            for b in Path(e2etd).resolve().parent.iterdir():
                if b.name in ("e2etd", "e2et", "e2et-probe", "e2et-score", "e2et-pdu") and b.is_file():
                    (e2etd_dir / "bin" / b.name).symlink_to(b)
        inv_nix = root / "hosts" / "inventory.nix"
        p = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", str(inv_nix)],
                           capture_output=True, text=True)
        if c.expect(p.returncode == 0, "inventory", "hosts/inventory.nix evaluates to JSON", p.stderr[-400:]):
            f = tmp / "inventory.json"
            f.write_text(p.stdout)
            q = subprocess.run([e2etd, "--inventory", str(f), "check-config"], capture_output=True, text=True)
            c.expect(q.returncode == 0, "inventory", "hosts/inventory.nix passes e2etd check-config",
                     (q.stderr or q.stdout).strip()[-600:])

        coordinators = [(f"nixosConfigurations.{n}", h) for n, h in rep["hosts"].items()]
        coordinators += [(f"coordinator module on {s}", h) for s, h in rep["coordinatorPerSystem"].items()]
        coordinators += [(f"vmtest {t}, node {n}", h) for t, test in rep["vmtests"].items()
                         for n, h in test["nodes"].items()]
        for label, h in coordinators:
            co = h.get("coordinator")
            if not co:
                continue
            f = tmp / "coordinator-inventory.json"
            f.write_text(json.dumps(co["inventory"]))
            q = subprocess.run([e2etd, "--inventory", str(f), "check-config"], capture_output=True, text=True)
            c.expect(q.returncode == 0, "inventory", f"{label}: its inventory passes e2etd check-config",
                     (q.stderr or q.stdout).strip()[-600:])
            gen = co["generated"]
            texts = {d["path"]: d["text"] for d in gen.values() if d.get("text") is not None}
            for d in co["checks"]:
                run_build_command(c, label, d, texts, e2etd_dir, tmp)
            if "dnsmasqConf" not in gen:
                c.fail("inventory", f"{label}: the module exposes no generated dnsmasq configuration to check")
                continue
            conf = run_build_command(c, label, gen["dnsmasqConf"], texts, e2etd_dir, tmp)
            if conf is not None and shutil.which("dnsmasq"):
                # The tftp-root, log directory and interface are the target
                # machine's: check the syntax and options, as dnsmasq does.
                text = conf.read_text()
                test = tmp / "dnsmasq-test.conf"
                test.write_text("\n".join(
                    l for l in text.splitlines()
                    if not l.startswith(("tftp-root=", "log-facility=", "interface="))) + "\n")
                q = subprocess.run(["dnsmasq", "--test", "-C", str(test)], capture_output=True, text=True)
                c.expect(q.returncode == 0, "inventory", f"{label}: dnsmasq accepts the generated configuration",
                         (q.stderr or q.stdout).strip())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- profiles
UNIT_OPTION = {
    "sshd": "openssh", "ssh": "openssh", "sssd": None, "chronyd": "chrony", "chrony": "chrony",
    "systemd-timesyncd": "timesyncd", "ntpd": "ntp",
}


def unit_enabled(h, unit):
    opt = UNIT_OPTION.get(unit, "")
    if opt:
        return bool(h.get(opt))
    if unit == "sssd":
        return h["sssd"]["enable"]
    return unit in h["services"]


def check_host_profile(c, label, h, inv, host):
    e = resolved_expect(inv, host)
    fb = e.get("firstBoot", {})
    where = f"{label} as inventory host {host} (profile {inv['hosts'][host].get('profile')})"
    if fb.get("ssh", True):
        c.expect(h["openssh"], "profiles", f"{where}: runs sshd (firstBoot.ssh)", "services.openssh.enable is false")
    if fb.get("timeSync", True):
        c.expect(h["chrony"] or h["timesyncd"] or h["ntp"], "profiles",
                 f"{where}: runs a time daemon (firstBoot.timeSync)", "no chrony, timesyncd or ntpd")
    if h["chrony"] or h["timesyncd"] or h["ntp"]:
        on = [d for d in ("chrony", "timesyncd", "ntp") if h[d]]
        c.expect(len(on) == 1, "profiles", f"{where}: one time daemon sets the clock", f"{' and '.join(on)} both run")
    if fb.get("init"):
        c.expect(fb["init"] == "systemd", "profiles", f"{where}: the init system is {fb['init']}",
                 "a NixOS system runs systemd")
    want_root = e.get("storage", {}).get("rootFstype")
    if want_root:
        c.expect(h["rootFsType"] == want_root, "profiles", f"{where}: root filesystem is {want_root}",
                 f"fileSystems.\"/\".fsType is {h['rootFsType']}")
    for alt in e.get("service", {}).get("required", []):
        names = alt.split("|")
        c.expect(any(unit_enabled(h, u) for u in names), "profiles",
                 f"{where}: a required service runs ({alt})", "none of them is enabled")
    idn = e.get("identity", {})
    if idn.get("sssd"):
        c.expect(h["sssd"]["enable"], "profiles", f"{where}: SSSD is enabled (identity.sssd)")
    if idn.get("ipa"):
        c.expect(h["ipa"] is not None, "profiles", f"{where}: enrolled with FreeIPA (identity.ipa)",
                 "security.ipa.enable is false")
    bg = idn.get("breakGlass")
    if bg:
        c.expect(bg in h["users"] and h["users"][bg]["isNormalUser"], "profiles",
                 f"{where}: has the break-glass account {bg!r} (identity.breakGlass)",
                 f"users: {', '.join(u for u, v in h['users'].items() if v['isNormalUser']) or 'none'}")
    if idn.get("sudoSss"):
        pkg = (h["sudo"]["package"] or {}).get("overrideArgs", {})
        c.expect(h["sudo"]["enable"] and pkg.get("withSssd") is True and "sss" in h["nssSudoers"], "profiles",
                 f"{where}: sudo rules come from SSSD (identity.sudoSss)",
                 f"sudo withSssd={pkg.get('withSssd')}, nsswitch sudoers={h['nssSudoers']}")
    if idn.get("sshKeysSss"):
        c.expect(h["sssd"]["sshAuthorizedKeysIntegration"], "profiles",
                 f"{where}: SSH keys come from SSSD (identity.sshKeysSss)",
                 "services.sssd.sshAuthorizedKeysIntegration is false")
    # persistentPaths are not decided here: whether a path survives a power
    # cycle is what the run itself proves (the persistence vmtest declares a
    # RAM path on purpose and expects the run to fail).


def check_profiles(c, rep, root):
    p = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", str(root / "hosts" / "inventory.nix")],
                       capture_output=True, text=True)
    inv = json.loads(p.stdout)
    for name, h in rep["hosts"].items():
        if name in inv["hosts"]:
            check_host_profile(c, f"nixosConfigurations.{name}", h, inv, name)
    # The vmtests' hosts boot the netboot image their coordinator serves.
    for t, test in rep["vmtests"].items():
        for n, node in test["nodes"].items():
            co = node.get("coordinator")
            served = node.get("netbootClient")
            if co and served:
                for host in co["inventory"]["hosts"]:
                    check_host_profile(c, f"vmtest {t}: the netboot image {n} serves", served, co["inventory"], host)


# ---------------------------------------------------------------- mounts
def all_systems(rep):
    for n, h in rep["hosts"].items():
        yield f"nixosConfigurations.{n}", h
    for t, test in rep["vmtests"].items():
        for n, h in test["nodes"].items():
            yield f"vmtest {t}, node {n}", h


def escape_path(p):
    t = p.strip("/")
    return "-" if not t else t.replace("-", "\\x2d").replace("/", "-")


def check_mounts(c, rep):
    for label, h in all_systems(rep):
        binds = [(m, f["device"]) for m, f in h["fileSystems"].items() if "bind" in f["options"]]
        binds += [(m["where"], m["what"]) for m in h["mounts"] if "bind" in m["options"].split(",")]
        for where, src in binds:
            unit = f"{escape_path(where)}.mount"
            creators = [n for n, s in h["services"].items()
                        if unit in s["before"] and (unit in s["requiredBy"] or unit in s["wantedBy"])
                        and src in s["script"]]
            is_mount = src in h["fileSystems"]
            c.expect(bool(creators) or is_mount, "mounts",
                     f"{label}: the source {src} of bind mount {where} exists before {unit}",
                     "nothing ordered before the mount creates it (tmpfiles runs after local-fs.target)")
        declared = set(h.get("fileSystemsDeclared", []))
        dropped = sorted(declared - set(h["fileSystems"]))
        if h.get("nodeNumber") is not None:
            c.expect(not dropped, "mounts", f"{label}: every fileSystems entry it declares is mounted in the test VM",
                     f"{', '.join(dropped)} dropped by qemu-vm.nix (fileSystems = mkVMOverride "
                     "virtualisation.fileSystems): declare them in virtualisation.fileSystems")


# ---------------------------------------------------------------- console
def check_console(c, rep):
    images = [("nixosConfigurations.netboot", rep["hosts"]["netboot"])] if "netboot" in rep["hosts"] else []
    for t, test in rep["vmtests"].items():
        for n, node in test["nodes"].items():
            if node.get("netbootClient"):
                images.append((f"vmtest {t}: the netboot image {n} serves", node["netbootClient"]))
    for label, h in images:
        c.expect(h["autologinUser"] is None, "console", f"{label}: no console autologin",
                 f"services.getty.autologinUser = {h['autologinUser']!r}")
        empty = [u for u, v in h["users"].items()
                 if "" in (v["initialHashedPassword"], v["hashedPassword"], v["initialPassword"], v["password"])]
        c.expect(not empty, "console", f"{label}: no account with an empty password", ", ".join(empty))
        c.expect(not h["sudo"]["enable"] or h["sudo"]["wheelNeedsPassword"], "console",
                 f"{label}: sudo asks wheel for a password", "security.sudo.wheelNeedsPassword = false")
        c.expect(not h["channel"], "console", f"{label}: no nixpkgs channel copy in the image",
                 "system.installer.channel.enable = true")


# ---------------------------------------------------------------- ipa
def check_ipa(c, rep, root):
    for label, h in all_systems(rep):
        ipa = h.get("ipa")
        if not ipa:
            continue
        cert = ipa["certificate"]
        text = cert.get("text")
        if text is None and cert.get("path") and Path(cert["path"]).is_file():
            text = Path(cert["path"]).read_text()
        if text is None:
            c.fail("ipa", f"{label}: security.ipa.certificate {cert.get('path')} cannot be read here")
            continue
        p = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=text, capture_output=True, text=True)
        c.expect(p.returncode == 0, "ipa",
                 f"{label}: security.ipa.certificate is a PEM X.509 certificate (certutil -A -i takes it)",
                 (p.stderr.strip() or "empty")[:200])


# ---------------------------------------------------------------- vmtests
MAC_SCHEME = "52:54:00:12:{:02x}:{:02x}"


def check_vmtests(c, rep, root, vendor):
    lint = Path(vendor).parent.parent / "nixos-test-driver" / "lint-testscript.sh"
    for t, test in rep["vmtests"].items():
        nodes = test["nodes"]
        script = test["testScript"]
        vlans = sorted({v for h in nodes.values() for v in h["vlans"]})
        with tempfile.NamedTemporaryFile("w", suffix=f"-{t}-testScript.py", delete=False) as f:
            f.write(script)
            path = f.name
        try:
            cmd = ["bash", str(lint)]
            for v in vlans:
                cmd += ["-v", str(v)]
            p = subprocess.run(cmd + [path] + list(nodes), capture_output=True, text=True)
            out = "\n".join(l for l in p.stdout.splitlines() if not l.startswith(("==", "   (")))
            c.expect(p.returncode == 0, "vmtests", f"{t}: testScript passes pyflakes and mypy as driver.nix runs them",
                     (out + p.stderr).strip()[-1500:])
        finally:
            os.unlink(path)

        for node, unit in re.findall(r"(\w+)\.wait_for_unit\(\s*[\"']([^\"']+)[\"']", script):
            h = nodes.get(node)
            if h is None:
                continue
            name = unit.removesuffix(".service")
            s = h["services"].get(name)
            if s is None:
                continue
            c.expect(s["type"] != "oneshot" or s["remainAfterExit"], "vmtests",
                     f"{t}: {node}.wait_for_unit({unit!r}) can succeed",
                     "a oneshot without RemainAfterExit is inactive once done, and the driver raises "
                     "'inactive and there are no pending jobs'")

        macs = {}
        for n, h in nodes.items():
            for i, v in enumerate(h["vlans"]):
                macs.setdefault(MAC_SCHEME.format(v, h["nodeNumber"]), []).append(f"node {n} (eth{i + 1})")
        for n, h in nodes.items():
            co = h.get("coordinator")
            if co:
                for host, hh in co["inventory"]["hosts"].items():
                    macs.setdefault(hh["mac"].lower(), []).append(f"inventory host {host}")
        clash = {m: who for m, who in macs.items() if len(who) > 1}
        c.expect(not clash, "vmtests", f"{t}: every NIC on the test VLANs has its own MAC",
                 "; ".join(f"{m}: {' and '.join(w)}" for m, w in clash.items()))


def check_ldap(c, rep):
    """Each test LDAP server's declarativeContents, loaded by Debian's
    slapadd in dry-run mode (-u) with the schemas the node includes: an
    entry its objectClasses refuse fails here, as it fails slapd's import."""
    for label, h in all_systems(rep):
        ol = h.get("openldap")
        if not ol:
            continue
        if not shutil.which("slapadd"):
            c.fail("ldap", f"{label}: slapadd (Debian slapd) is not installed (scripts/lab-deps.sh)")
            continue
        for suffix, ldif in ol["declarativeContents"].items():
            with tempfile.TemporaryDirectory() as d:
                schemas = [f"include /etc/ldap/schema/{Path(s).name.removesuffix('.ldif')}.schema"
                           for s in ol["schemas"]]
                Path(d, "slapd.conf").write_text("\n".join(
                    schemas + ["modulepath /usr/lib/ldap", "moduleload back_mdb", "database mdb", f"suffix \"{suffix}\"", f"directory {d}", ""]))
                Path(d, "data.ldif").write_text(ldif)
                p = subprocess.run(["slapadd", "-u", "-f", f"{d}/slapd.conf", "-b", suffix, "-l", f"{d}/data.ldif"],
                                   capture_output=True, text=True)
                c.expect(p.returncode == 0, "ldap", f"{label}: slapd takes the declarativeContents of {suffix}",
                         (p.stderr or p.stdout).strip()[-600:])


# nixpkgs paths outside NixOS modules that docs/nix.md may name: each was
# read at nixos-25.11 (scripts/nix/nixpkgs/NOTES.md says where and how).
PKGS_PATHS_25_11 = {
    "pkgs/by-name/ip/ipxe",
    "pkgs/by-name/su/sudo",
    "pkgs/build-support/rust/build-rust-package",
    "pkgs/build-support/rust/hooks/cargo-check-hook.sh",
    "pkgs/development/compilers/rust/1_91.nix",
    # read as references, not modelled in the stub tree
    "nixos/modules/installer/tools/nixos-version.sh",
    "nixos/tests/boot.nix",
    "nixos/tests/sssd-ldap.nix",
}


def check_docs(c, root, vendor):
    """docs/nix.md names, for every nixpkgs interface relied on, the file it
    was read in: each such path must be where nixos-25.11 has it (a module
    path in the stub tree, which mirrors 25.11's paths; lib in the vendored
    lib; the test driver in the vendored driver; pkgs paths as read)."""
    doc = (root / "docs" / "nix.md").read_text()
    stubs = HERE / "nix" / "nixpkgs"
    driver = Path(vendor).parent.parent / "nixos-test-driver"
    seen = set()
    for m in re.finditer(r"(?<![\w/.-])((?:nixos|pkgs|lib)/[A-Za-z0-9_./-]+[A-Za-z0-9_])", doc):
        path = m.group(1)
        if path in seen:
            continue
        seen.add(path)
        if path.startswith("pkgs/") or path in PKGS_PATHS_25_11:
            ok = path in PKGS_PATHS_25_11 or any(path.startswith(p + "/") for p in PKGS_PATHS_25_11)
        elif path.startswith("lib/"):
            ok = (Path(vendor).parent / path).exists()
        else:
            ok = (stubs / path).exists() or (driver / path).exists()
        c.expect(ok, "docs", f"docs/nix.md: {path} is a nixos-25.11 path that was read",
                 "not at that path in 25.11 (or not read: add it to the stub tree or PKGS_PATHS_25_11)")


def check_stubs(c, vendor):
    """The stand-in nixpkgs itself: its self-test proves its option types
    refuse what nixpkgs' refuse and its modules render what nixpkgs' do."""
    p = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json",
                        str(HERE / "nix" / "nixpkgs" / "tests" / "selftest.nix")],
                       capture_output=True, text=True)
    try:
        r = json.loads(p.stdout)
    except json.JSONDecodeError:
        c.fail("stubs", f"the stub tree's self-test does not evaluate: {p.stderr[-800:]}")
        return
    c.expect(r["ok"], "stubs", f"the stub tree's self-test: {len(r['results'])} cases",
             f"failed: {', '.join(r['failed'])}")


def check_msrv(c, root):
    cargo = (root / "Cargo.toml").read_text()
    m = re.search(r'rust-version\s*=\s*"([0-9.]+)"', cargo)
    if not c.expect(m is not None, "msrv", "the workspace declares rust-version"):
        return
    declared = tuple(int(x) for x in m.group(1).split("."))
    # Not --offline: metadata needs every locked package's manifest, also
    # those of other platforms that no build here has downloaded yet.
    p = subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"],
                       cwd=root, capture_output=True, text=True)
    if not c.expect(p.returncode == 0, "msrv", "cargo metadata reads the lock file", p.stderr[-400:]):
        return
    meta = json.loads(p.stdout)
    ws = set(meta["workspace_members"])
    # A crate that does not inherit it is held to nothing (clippy's
    # incompatible_msrv reads each crate's own rust-version).
    loose = sorted(pk["name"] for pk in meta["packages"]
                   if pk["id"] in ws and pk.get("rust_version") != m.group(1))
    c.expect(not loose, "msrv", f"every workspace crate inherits rust-version {m.group(1)}",
             f"{', '.join(loose)} declare(s) none or another")
    need = max(((tuple(int(x) for x in pk["rust_version"].split(".")), pk["name"]) for pk in meta["packages"]
                if pk["id"] not in ws and pk.get("rust_version")), default=((0,), ""))
    c.expect(declared >= need[0], "msrv",
             f"rust-version {m.group(1)} is at least every locked dependency's ({need[1]} needs "
             f"{'.'.join(map(str, need[0]))})")
    pin = (1, 91)  # rustc of nixpkgs nixos-25.11 (pkgs/development/compilers/rust/1_91.nix)
    c.expect(declared <= pin, "msrv", f"rust-version {m.group(1)} builds with the pinned nixpkgs' rustc 1.91")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=HERE.parent)
    ap.add_argument("--vendor", type=Path, default=None,
                    help="nixpkgs lib (default: ROOT/../shared/vendor/nixpkgs-lib/lib)")
    ap.add_argument("--e2etd", default=None, help="e2etd binary (default: ROOT/target/release/e2etd)")
    ap.add_argument("checks", nargs="*")
    a = ap.parse_args()
    root = a.root.resolve()
    vendor = (a.vendor or (HERE.parent / ".." / "shared" / "vendor" / "nixpkgs-lib" / "lib")).resolve()
    e2etd = a.e2etd or str(HERE.parent / "target" / "release" / "e2etd")
    wanted = set(a.checks) or {"eval", "inventory", "profiles", "mounts", "console", "ipa", "vmtests", "ldap", "docs", "stubs", "msrv"}
    c = Checks()
    rep = load_report(c, root, vendor)
    if rep is None:
        print(f"nix-checks: {c.passed} passed, {c.failed} failed")
        return 1
    for name, fn in [
        ("eval", lambda: check_eval(c, rep)),
        ("inventory", lambda: check_inventory(c, rep, root, e2etd)),
        ("profiles", lambda: check_profiles(c, rep, root)),
        ("mounts", lambda: check_mounts(c, rep)),
        ("console", lambda: check_console(c, rep)),
        ("ipa", lambda: check_ipa(c, rep, root)),
        ("vmtests", lambda: check_vmtests(c, rep, root, vendor)),
        ("ldap", lambda: check_ldap(c, rep)),
        ("docs", lambda: check_docs(c, root, vendor)),
        ("stubs", lambda: check_stubs(c, vendor)),
        ("msrv", lambda: check_msrv(c, root)),
    ]:
        if name in wanted:
            fn()
    print(f"nix-checks: {c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
