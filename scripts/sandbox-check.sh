#!/usr/bin/env bash
# The package's check phase as `nix build .#e2et` runs it, without Nix:
#   - only the files package.nix's source fileset names (evaluated from
#     package.nix itself with nixpkgs lib), copied into an empty directory;
#   - the dependencies vendored from Cargo.lock, used --frozen --offline;
#   - a fresh network namespace (loopback only, as the build sandbox);
#   - an unprivileged user, HOME=/homeless-shelter;
#   - PATH holding only the toolchain and what stdenv has (coreutils, gcc,
#     binutils, bash, sed, grep, awk, find, diff, make, tar, gzip, xz, file):
#     no python3, no mkfs, no ipmitool, no nix-instantiate;
#   - cargoCheckHook's command at nixos-25.11 (pkgs/build-support/rust/hooks/
#     cargo-check-hook.sh): RUST_TEST_THREADS=N cargo test -j N --profile
#     release --target T --offline <cargoTestFlags> -- <checkFlags>.
# A test that reaches outside the fileset, needs root, the network or a host
# tool fails here, as it would fail `nix build`.
# Usage: scripts/sandbox-check.sh [--lab]   (needs root to set the sandbox up)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
lab=false
[ "${1:-}" = --lab ] && lab=true
[ "$(id -u)" = 0 ] || { echo "sandbox-check: run as root (it creates the namespace and drops to an unprivileged user)" >&2; exit 2; }

libexpr="import $repo/scripts/nix/lib.nix { vendor = $repo/../shared/vendor/nixpkgs-lib/lib; }"
info=$(nix-instantiate --eval --strict --json scripts/nix/package-info.nix \
  --arg lib "$libexpr" --arg lab "$lab" 2>/dev/null)
get() { python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(" ".join(v) if isinstance(v,list) else str(v).lower())' "$info" "$1"; }
pname=$(get pname)
if [ "$(get doCheck)" != true ]; then
  echo "sandbox-check: $pname: doCheck is false, nothing to check"
  exit 0
fi

user=e2et-sandbox
id -u "$user" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /homeless-shelter --shell /usr/sbin/nologin "$user"

# A fixed place (not mktemp): cargo's fingerprints include the source path,
# so a second run rebuilds only what changed.
work=/var/tmp/e2et-sandbox
rm -rf "$work"
src=$work/source
mkdir -p "$src" "$work/tmp" "$work/cargo-home" "$work/bin"

# 1. Exactly the fileset.
n=0
while IFS= read -r f; do
  [ -n "$f" ] || continue
  cp --parents -a "$f" "$src/"
  n=$((n + 1))
done < <(python3 -c 'import json,sys; print("\n".join(json.loads(sys.argv[1])["files"]))' "$info")
echo "sandbox-check: $pname: $n files from package.nix's fileset"

# 2. Vendored dependencies: every package of the lock file, as importCargoLock
# fetches them (for every target, so some are not in the local cache: the
# vendoring step may use crates.io, the build after it never does). Cached
# per Cargo.lock digest.
vendor=/var/cache/e2et-sandbox-vendor/$(sha256sum Cargo.lock | cut -c1-16)
if [ ! -d "$vendor" ]; then
  rm -rf /var/cache/e2et-sandbox-vendor && mkdir -p /var/cache/e2et-sandbox-vendor
  (cd "$src" && cargo vendor --locked --quiet "$vendor.new" >/dev/null)
  chmod -R a+rX "$vendor.new"
  mv "$vendor.new" "$vendor"
fi
cat >"$work/cargo-home/config.toml" <<EOF
[source.crates-io]
replace-with = "vendored-sources"
[source.vendored-sources]
directory = "$vendor"
[net]
offline = true
EOF

# 3. The toolchain and stdenv's tools, nothing else, on PATH.
sysroot=$(rustc --print sysroot)
for t in cargo rustc rustdoc; do ln -s "/run/e2et-sandbox-toolchain/bin/$t" "$work/bin/$t"; done
for t in bash sh cat cp mv rm ln ls mkdir rmdir chmod touch head tail tr cut sort uniq wc \
  env dirname basename readlink realpath date echo printf test true false sleep tee mktemp \
  install stat id uname expr seq od md5sum sha256sum sed grep egrep awk find xargs diff cmp \
  make tar gzip xz bzip2 file patch \
  cc gcc c++ g++ cpp ld ld.bfd as ar ranlib nm strip objcopy objdump readelf; do
  p=$(type -P "$t") && ln -s "$p" "$work/bin/$t"
done
target=$(rustc -vV | sed -n 's/^host: //p')

# A persistent target directory, owned by the sandbox user, so a second run
# rebuilds only what changed.
cache=/var/cache/e2et-sandbox-target
mkdir -p "$cache"
chown -R "$user:" "$cache" "$work"
chmod 0755 "$work"

flags=$(get cargoTestFlags)
check=$(get checkFlags)
features=$(get cargoCheckFeatures)
ftr=""
[ -n "$features" ] && ftr="--features=${features// /,}"
ptype=$(get cargoCheckType)
# --no-fail-fast: every failing test binary is named, not only the first
# (the outcome is the same as the check phase's).
cmd="RUST_TEST_THREADS=$(nproc) cargo test --no-fail-fast -j $(nproc) --profile $ptype --target $target --offline $ftr $flags -- $check"
echo "sandbox-check: $pname: $cmd"

mkdir -p /run/e2et-sandbox-toolchain
# A new mount namespace (the toolchain bound where the user can read it) and
# a new network namespace with only loopback, then drop to the user.
unshare --mount --net --propagation private -- bash -euo pipefail -c '
  mount --bind "$1" /run/e2et-sandbox-toolchain
  ip link set lo up 2>/dev/null || true
  cd "$2/source"
  exec setpriv --reuid="$3" --regid="$3" --clear-groups --inh-caps=-all --bounding-set=-all \
    env -i PATH="$2/bin" HOME=/homeless-shelter TMPDIR="$2/tmp" CARGO_HOME="$2/cargo-home" \
      CARGO_TARGET_DIR="$4" RUST_BACKTRACE=1 TERM=dumb NIX_BUILD_CORES="$(nproc)" \
      bash -c "$5"
' sandbox "$sysroot" "$work" "$user" "$cache" "$cmd"
echo "sandbox-check: $pname: the check phase passed in the sandbox"
