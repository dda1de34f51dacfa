#!/usr/bin/env bash
# Checks a gestaltcam .deb the way a clinic's technician meets it:
#   - what it installs (binary for the right CPU, models named by the manifest, unit, udev rule,
#     the fully commented default config, docs) and that it needs nothing beyond libc;
#   - the HPO release files for the phenotype questions, unmodified (data/hpo/SHA256SUMS), where
#     the shipped config's hpo_data points; the USB-stick update unit and its helper;
#   - /etc/gestaltcam/config.toml is a conffile: install, edit the config, upgrade (same and changed
#     default config), remove, reinstall, purge, checking the user's edit survives every step but purge.
# The install cycle runs in a private dpkg root (dpkg --root; the maintainer scripts see DPKG_ROOT
# and leave this machine's users, udev and systemd alone), so it needs no root and changes nothing here.
# The private root has no libc6, so its dependency is forced there (checked above instead).
#
# Usage: board/deb-check.sh target/aarch64-unknown-linux-gnu/debian/gestaltcam_*.deb
set -euo pipefail
deb=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "  ok: $*"; }

echo "== $deb ($(du -h "$deb" | cut -f1))"
dpkg-deb -f "$deb" Package Version Architecture Depends Installed-Size | sed 's/^/  /'
depends=$(dpkg-deb -f "$deb" Depends)
others=$(echo "$depends" | tr ',' '\n' | sed 's/^ *//' | grep -v '^libc6\b' || true)
[[ -z "$others" ]] || fail "depends on more than libc: $others"
ok "depends only on libc6"

echo "== contents"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' > "$work/list"
need=(/usr/bin/gestaltcam /etc/gestaltcam/config.toml /usr/share/gestaltcam/models/MANIFEST.toml
      /lib/systemd/system/gestaltcam.service /lib/udev/rules.d/99-gestaltcam.rules
      /usr/share/doc/gestaltcam/README.md /usr/share/doc/gestaltcam/BOARD.md
      /lib/systemd/system/gestaltcam-usb@.service /usr/lib/gestaltcam/gestaltcam-usb
      /usr/share/gestaltcam/hpo/hp.obo /usr/share/gestaltcam/hpo/phenotype.hpoa
      /usr/share/doc/gestaltcam/HPO.md)
for f in "$repo"/docs/*.md; do need+=("/usr/share/doc/gestaltcam/docs/$(basename "$f")"); done
for f in $(grep -o '^file *= *"[^"]*"' "$repo/models/MANIFEST.toml" | sed 's/.*"\(.*\)"/\1/'); do
  need+=("/usr/share/gestaltcam/models/$f")
done
for f in "${need[@]}"; do grep -qx "$f" "$work/list" || fail "missing $f"; done
ok "${#need[@]} required files present (binary, every model in MANIFEST.toml, units, udev rule, USB helper, HPO files, config, docs)"

mkdir "$work/x"
dpkg-deb -x "$deb" "$work/x"
arch=$(dpkg-deb -f "$deb" Architecture)
machine=$(readelf -h "$work/x/usr/bin/gestaltcam" | awk -F: '/Machine/ {gsub(/^ +/, "", $2); print $2}')
case "$arch:$machine" in
  arm64:AArch64 | armhf:ARM | amd64:*X86-64*) ok "binary is $machine for $arch" ;;
  *) fail "binary is '$machine' but the package says $arch" ;;
esac
readelf -S "$work/x/usr/bin/gestaltcam" | grep -q '\.symtab' && fail "binary is not stripped"
ok "binary stripped, $(du -h "$work/x/usr/bin/gestaltcam" | cut -f1)"
(cd "$work/x/usr/share/gestaltcam/models" && python3 - "$repo/models/MANIFEST.toml" <<'PY'
import hashlib, sys, tomllib
m = tomllib.load(open(sys.argv[1], "rb"))
def walk(v):
    if isinstance(v, dict):
        if "file" in v and "sha256" in v:
            yield v["file"], v["sha256"]
        for x in v.values():
            yield from walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from walk(x)
n = 0
for f, h in walk(m):
    assert hashlib.sha256(open(f, "rb").read()).hexdigest() == h, f"{f}: sha256 differs from MANIFEST.toml"
    n += 1
assert n > 0, "no model entries found in MANIFEST.toml"
print(f"  ok: {n} model files match their MANIFEST.toml sha256")
PY
)
# The phenotype questions work after install: the HPO release files are the unmodified ones
# (sha256 pinned in data/hpo/SHA256SUMS) and the shipped config points at their folder.
hpo=$work/x/usr/share/gestaltcam/hpo
(cd "$hpo" && sha256sum -c --quiet "$repo/data/hpo/SHA256SUMS") \
  || fail "HPO files in the package differ from data/hpo/SHA256SUMS"
obo=$(sed -n 's|^data-version: hp/releases/||p' "$hpo/hp.obo" | head -n 1)
hpoa=$(sed -n 's|^#version: ||p' "$hpo/phenotype.hpoa" | head -n 1)
[[ -n $obo && $obo == "$hpoa" ]] || fail "HPO release of hp.obo ('$obo') and phenotype.hpoa ('$hpoa') differ"
grep -qx 'hpo_data = "/usr/share/gestaltcam/hpo"' "$work/x/etc/gestaltcam/config.toml" \
  || fail "the shipped config does not set hpo_data to /usr/share/gestaltcam/hpo"
ok "HPO release $obo: hp.obo ($(du -h "$hpo/hp.obo" | cut -f1)) and phenotype.hpoa ($(du -h "$hpo/phenotype.hpoa" | cut -f1)) unmodified, hpo_data points at them"
# USB-stick updates: udev starts the unit, whose root steps are the shipped helper.
[[ $(stat -c %a "$work/x/usr/lib/gestaltcam/gestaltcam-usb") == 755 ]] || fail "gestaltcam-usb is not executable"
grep -q 'SYSTEMD_WANTS}+="gestaltcam-usb@%k.service"' "$work/x/lib/udev/rules.d/99-gestaltcam.rules" \
  || fail "the udev rule does not start gestaltcam-usb@.service for a USB stick"
grep -q '^ExecStartPre=+/usr/lib/gestaltcam/gestaltcam-usb mount %i$' "$work/x/lib/systemd/system/gestaltcam-usb@.service" \
  || fail "gestaltcam-usb@.service does not mount the stick with the shipped helper"
ok "USB stick: the udev rule starts gestaltcam-usb@.service, helper /usr/lib/gestaltcam/gestaltcam-usb"
cmp -s "$work/x/etc/gestaltcam/config.toml" "$repo/board/default-config.toml" \
  || fail "shipped config differs from board/default-config.toml"
comments=$(grep -c '^ *#' "$work/x/etc/gestaltcam/config.toml")
ok "default config shipped ($comments comment lines)"

echo "== conffile"
dpkg-deb -e "$deb" "$work/ctl"
grep -qx /etc/gestaltcam/config.toml "$work/ctl/conffiles" || fail "config.toml is not a conffile"
ok "/etc/gestaltcam/config.toml is a conffile"

echo "== install, edit, upgrade, remove, purge (private dpkg root)"
root=$work/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status" "$root/var/lib/dpkg/available"
dp() {
  dpkg --root="$root" --force-not-root --force-script-chrootless --force-architecture --force-depends \
    --force-bad-path --log=/dev/null "$@" </dev/null >"$work/dpkg.log" 2>&1 \
    || { cat "$work/dpkg.log" >&2; fail "dpkg $*"; }
}
conf=$root/etc/gestaltcam/config.toml
version=$(dpkg-deb -f "$deb" Version)
# A newer package built from the same files, and one whose default config changed too.
repack() { # NAME VERSION CHANGE_CONFIG
  rm -rf "$work/pkg"; dpkg-deb -R "$deb" "$work/pkg"
  sed -i "s/^Version: .*/Version: $2/" "$work/pkg/DEBIAN/control"
  if [[ $3 == yes ]]; then echo "# a line added by the next release" >> "$work/pkg/etc/gestaltcam/config.toml"; fi
  (cd "$work/pkg" && find . -path ./DEBIAN -prune -o -type f -print0 | xargs -0 md5sum | sed 's|\./||' > DEBIAN/md5sums)
  dpkg-deb --root-owner-group -Zgzip -z1 -b "$work/pkg" "$work/$1.deb" >/dev/null
}
repack same "$version+1" no
repack changed "$version+2" yes

dp -i "$deb"
[[ -x $root/usr/bin/gestaltcam ]] || fail "binary not installed"
ok "installed $version"
sed -i 's/^top_k = .*/top_k = 7  # edited by the clinic/' "$conf"
grep -q 'edited by the clinic' "$conf" || fail "could not edit the config (no top_k line?)"
dp -i "$work/same.deb"
grep -q 'edited by the clinic' "$conf" || fail "upgrade to $version+1 lost the user's config"
ok "upgrade (default config unchanged) keeps the edited config"
dp --force-confold -i "$work/changed.deb"
grep -q 'edited by the clinic' "$conf" || fail "upgrade to $version+2 lost the user's config"
[[ -f $conf.dpkg-dist ]] || fail "the new default config was not kept beside it as config.toml.dpkg-dist"
ok "upgrade (default config changed, --force-confold as apt's unattended upgrades use) keeps the edited config, new default in config.toml.dpkg-dist"
dp -r gestaltcam
[[ ! -e $root/usr/bin/gestaltcam ]] || fail "remove left the binary"
grep -q 'edited by the clinic' "$conf" || fail "remove lost the config"
ok "remove keeps the config"
dp -i "$work/changed.deb"
grep -q 'edited by the clinic' "$conf" || fail "reinstall lost the config"
ok "reinstall keeps the config"
dp -P gestaltcam
[[ ! -e $conf ]] || fail "purge left the config"
ok "purge removes the config"
echo "deb-check: all checks passed"
