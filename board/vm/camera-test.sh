#!/usr/bin/env bash
# Real-V4L2 tests of gestaltcam in a VM: Debian 12's kernel under qemu-system-x86_64 (TCG), a
# busybox initramfs, vivid and v4l2loopback cameras, gpio-sim buttons, and a systemd boot of the
# package's unit; the binary, the models and the results travel over virtio-9p. See
# board/vm/README.md.
#
#   bash board/vm/camera-test.sh            # all scenarios (needs the camera-capable binary)
#   bash board/vm/camera-test.sh --infra    # harness self-test with v4l2-ctl/gpiod only
#   bash board/vm/camera-test.sh --boot vivid|loopback|systemd   # one of the scenario boots
#   GESTALTCAM_BIN=/path/to/gestaltcam ...  # default target/debug/gestaltcam
#
# Prints one line per check, "vm: PASS <name>[: detail]" or "vm: FAIL <name>: <why>", the wall
# time of each boot and "vm: total N s"; exits 1 on any FAIL. Anything that keeps the tests
# from running (no qemu, no apt, no binary) is "vm: FAIL setup: <why>", never a silent pass.
#
# Cache and outputs, all under target/vm/ (reused when present; VM_REFRESH=1 re-picks the
# kernel apt offers): debs/ (apt-get download), kroot/ hdr/ src/ (extracted), build/ (modules),
# initramfs.cpio.gz, share/ (the 9p share), logs/ (console + device logs), artifacts/.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/board/vm
VM=$REPO/target/vm
SHARE=$VM/share
LOGS=$VM/logs
T_START=$(date +%s)

BIN=${GESTALTCAM_BIN:-target/debug/gestaltcam}
[[ $BIN = /* ]] || BIN=$REPO/$BIN

# Three scenario boots: two grouped by the camera driver they need, "vivid" (the synthetic
# camera: formats, preview rate, unplug/replug by sysfs unbind, fault injection, no camera) and
# "loopback" (v4l2loopback fed with a face photo: MJPEG, stall, gpio-sim buttons, face results,
# SIGTERM); and "systemd" (the package's unit under a real systemd: guest/systemd-root.sh). A boot itself is cheap (~8 s to the guest's init here, not the ~40 s expected); what
# costs is each start of the binary under TCG (~15-25 s of model loading), so inside a boot the
# scenarios share processes. Two boots rather than one so a driver or guest wedged by one group
# cannot take the other group's verdicts with it; each wait is bounded inside the guest, and
# qemu has a hard timeout on top.
declare -A BOOT_SCENARIOS=(
  [vivid]="no-camera-idle doctor formats preview unplug replug stream-error odd-modes"
  [loopback]="formats odd-modes stall buttons face-results sigterm"
  [systemd]="systemd-notify systemd-watchdog usb-refused usb-update usb-report systemd-stop"
  [infra]="infra-vivid infra-unbind infra-fault infra-loopback infra-stall infra-gpio-sim"
)
# The guest CPU: qemu's "max" without the AVX family. tract picks AVX2/FMA kernels when the CPU
# has them, and qemu 7.2's TCG emulates those ~8x slower than SSE: with plain "max" the first
# preview took 41 s after the camera opened and an analysis 56 s; without AVX, 4 s and 8 s
# (measured here with the same binary). The device is ARM, so no code path of interest is lost.
QEMU_CPU=${VM_QEMU_CPU:-max,avx=off,avx2=off,fma=off,f16c=off}

# The systemd boot's USB sticks: the host controller, the storage driver, FAT and its character
# sets (Debian's kernel mounts FAT with iocharset "ascii" by default: nls_ascii; all modules; the guest's root is this host's userland, whose /lib/modules is for
# another kernel, so they come from the initramfs).
USB_MODULES="xhci_pci usb_storage sd_mod vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1"

# Hard limits per boot (the guest bounds every wait itself; this catches a hung guest).
declare -A BOOT_TIMEOUT=([vivid]=${VM_BOOT_TIMEOUT:-480} [loopback]=${VM_BOOT_TIMEOUT:-480}
  [systemd]=${VM_BOOT_TIMEOUT:-600} [infra]=150)
# The order the verdicts are printed in.
ALL_SCENARIOS="doctor formats preview unplug replug no-camera-idle odd-modes stall stream-error buttons face-results sigterm systemd-notify systemd-watchdog usb-refused usb-update usb-report systemd-stop"

say() { echo "vm: $*"; }
# The systemd boot's USB sticks and their hot-plug (board/vm/usb.sh).
# shellcheck source=board/vm/usb.sh
. "$HERE/usb.sh"
note() { echo "vm: .. $*" >&2; }   # progress, on stderr so stdout holds only verdicts
setup_fail() {
  say "FAIL setup: $*"
  say "total $(( $(date +%s) - T_START )) s"
  exit 1
}

# ---------------------------------------------------------------------------------------------
# Host tools. Installed with apt when missing (this needs root and a package source).

ensure_host_tools() {
  local -A need=(
    [qemu-system-x86_64]=qemu-system-x86 [v4l2-ctl]=v4l-utils [gpioget]=gpiod
    [jpegtopnm]=netpbm [pamscale]=netpbm [cjpeg]=libjpeg-turbo-progs [djpeg]=libjpeg-turbo-progs
    [modprobe]=kmod [depmod]=kmod [cpio]=cpio [gcc]=gcc [make]=make [xz]=xz-utils
    [dpkg-deb]=dpkg [timeout]=coreutils [strip]=binutils
    [systemctl]=systemd [adduser]=adduser
    [mkfs.vfat]=dosfstools [fsck.vfat]=dosfstools [mcopy]=mtools [sfdisk]=fdisk [python3]=python3
  )
  local missing=() c
  command -v apt-get > /dev/null || setup_fail "no apt-get: the kernel and modules come from Debian 12 packages"
  for c in "${!need[@]}"; do command -v "$c" > /dev/null || missing+=("${need[$c]}"); done
  # feed and pulse are linked statically (the guest has no libc for them): libc.a.
  [[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
  ((${#missing[@]} == 0)) && return 0
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  note "installing host packages: ${missing[*]}"
  [[ $(id -u) = 0 ]] || setup_fail "missing host packages ${missing[*]} (run as root or install them)"
  apt-get install -y --no-install-recommends "${missing[@]}" > "$VM/apt-install.log" 2>&1 \
    || setup_fail "apt-get install ${missing[*]} failed (no network or package source?): $(tail -n 2 "$VM/apt-install.log" | tr '\n' ' ')"
}

# ---------------------------------------------------------------------------------------------
# Debian packages: kernel, its headers (for out-of-tree modules), busybox, v4l2loopback source,
# and the kernel source (only gpio-sim is taken from it: Debian's kernel lacks CONFIG_GPIO_SIM).

KVER=      # e.g. 6.1.0-57-amd64
KPKGVER=   # e.g. 6.1.192-3

pick_kernel() {
  if [[ -s $VM/kver && -z ${VM_REFRESH:-} ]]; then
    read -r KVER KPKGVER < "$VM/kver"
    return 0
  fi
  local dep
  dep=$(apt-cache depends linux-image-amd64 2> /dev/null | sed -n 's/^ *Depends: linux-image-\(6\.1\.[0-9]*-[0-9]*-amd64\)$/\1/p' | head -n 1)
  [[ -n $dep ]] || setup_fail "apt-cache knows no linux-image-amd64 kernel (no package lists? run apt-get update)"
  KVER=$dep
  KPKGVER=$(apt-cache policy "linux-image-$KVER" | sed -n 's/^ *Candidate: //p')
  [[ -n $KPKGVER && $KPKGVER != "(none)" ]] || setup_fail "no candidate version for linux-image-$KVER"
  echo "$KVER $KPKGVER" > "$VM/kver"
}

fetch_debs() {
  mkdir -p "$VM/debs"
  local want=(
    "linux-image-$KVER=$KPKGVER" "linux-headers-$KVER=$KPKGVER"
    "linux-headers-${KVER%-amd64}-common=$KPKGVER" "linux-kbuild-6.1=$KPKGVER"
    "linux-source-6.1=$KPKGVER" v4l2loopback-dkms busybox-static
  )
  # udev for the systemd boot's root (this host's userland, which may lack it: a container image
  # does), the version of this host's systemd, as Debian pins them together.
  want+=("udev=$(dpkg-query -W -f '${Version}' systemd)")
  local get=() w name ver
  for w in "${want[@]}"; do
    name=${w%%=*} ver=*
    [[ $w = *=* ]] && ver=${w#*=}
    compgen -G "$VM/debs/${name}_${ver}_*.deb" > /dev/null || get+=("$w")
  done
  ((${#get[@]} == 0)) && return 0
  note "apt-get download ${get[*]}"
  (cd "$VM/debs" && apt-get -o APT::Sandbox::User=root download "${get[@]}") > "$VM/apt-download.log" 2>&1 \
    || setup_fail "apt-get download failed (no network?): $(tail -n 2 "$VM/apt-download.log" | tr '\n' ' ')"
}

deb() { # deb PACKAGE: the downloaded .deb (this kernel's version where it has one)
  case $1 in
    linux-*) compgen -G "$VM/debs/${1}_${KPKGVER}_*.deb" | head -n 1 ;;
    *) compgen -G "$VM/debs/${1}_*.deb" | sort -V | tail -n 1 ;;
  esac
}

extract_debs() {
  if [[ ! -e $VM/kroot/boot/vmlinuz-$KVER ]]; then
    note "extracting linux-image-$KVER"
    rm -rf "$VM/kroot"
    dpkg-deb -x "$(deb "linux-image-$KVER")" "$VM/kroot"
  fi
  if [[ ! -e $VM/hdr/.done-$KVER ]]; then
    note "extracting headers, kbuild, v4l2loopback source"
    rm -rf "$VM/hdr"
    local p
    for p in "linux-headers-$KVER" "linux-headers-${KVER%-amd64}-common" linux-kbuild-6.1 v4l2loopback-dkms; do
      dpkg-deb -x "$(deb "$p")" "$VM/hdr"
    done
    # The headers' Makefile includes the common tree by absolute path (/usr/src/...); point it
    # at the extracted copy instead of installing the headers on this machine.
    sed -i "s|^include /usr/src/|include $VM/hdr/usr/src/|" "$VM/hdr/usr/src/linux-headers-$KVER/Makefile"
    touch "$VM/hdr/.done-$KVER"
  fi
  if [[ ! -e $VM/src/.done-$KVER ]]; then
    note "extracting gpio-sim from linux-source-6.1 (the whole tarball is decompressed: ~20 s)"
    rm -rf "$VM/src"
    mkdir -p "$VM/src"
    dpkg-deb --fsys-tarfile "$(deb linux-source-6.1)" \
      | tar -xO ./usr/src/linux-source-6.1.tar.xz \
      | xz -dc -T2 \
      | tar -x -C "$VM/src" --strip-components=1 \
          linux-source-6.1/drivers/gpio/gpio-sim.c linux-source-6.1/drivers/gpio/gpiolib.h \
          linux-source-6.1/kernel/irq/irq_sim.c \
      || setup_fail "could not extract gpio-sim from linux-source-6.1"
    touch "$VM/src/.done-$KVER"
  fi
  [[ -d $VM/bb ]] || dpkg-deb -x "$(deb busybox-static)" "$VM/bb"
}

# ---------------------------------------------------------------------------------------------
# Out-of-tree modules, built against the extracted headers with the host's gcc-12 (the
# compiler Debian built this kernel with).

kmake() { make -s -C "$VM/hdr/usr/src/linux-headers-$KVER" M="$1" -j2 modules > "$1/build.log" 2>&1; }

build_modules() {
  local b=$VM/build
  if [[ ! -e $b/v4l2loopback/v4l2loopback.ko ]]; then
    note "building v4l2loopback"
    rm -rf "$b/v4l2loopback"
    mkdir -p "$b"
    cp -r "$VM"/hdr/usr/src/v4l2loopback-* "$b/v4l2loopback"
    kmake "$b/v4l2loopback" || setup_fail "v4l2loopback build failed: $(tail -n 3 "$b/v4l2loopback/build.log" | tr '\n' ' ')"
  fi
  if [[ ! -e $b/gpio-sim/gpio-sim.ko ]]; then
    # Debian 12's kernel has neither CONFIG_GPIO_SIM nor CONFIG_IRQ_SIM (the interrupt simulator
    # gpio-sim needs for edge events), so both are built into one module. irq_sim.c calls the
    # unexported irq_to_desc(); generic_handle_irq() (exported) does the same for this use.
    note "building gpio-sim (+ irq_sim)"
    rm -rf "$b/gpio-sim"
    mkdir -p "$b/gpio-sim"
    cp "$VM/src/drivers/gpio/gpio-sim.c" "$b/gpio-sim/gpio-sim-drv.c"
    cp "$VM/src/drivers/gpio/gpiolib.h" "$VM/src/kernel/irq/irq_sim.c" "$b/gpio-sim/"
    sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' "$b/gpio-sim/irq_sim.c"
    grep -q 'generic_handle_irq(irqnum)' "$b/gpio-sim/irq_sim.c" || setup_fail "irq_sim.c patch did not apply"
    printf 'obj-m := gpio-sim.o\ngpio-sim-y := gpio-sim-drv.o irq_sim.o\n' > "$b/gpio-sim/Kbuild"
    kmake "$b/gpio-sim" || setup_fail "gpio-sim build failed: $(tail -n 3 "$b/gpio-sim/build.log" | tr '\n' ' ')"
  fi
  # Static helpers for the guest (no libraries needed there).
  local t
  for t in feed pulse; do
    if [[ ! -e $b/$t || $HERE/$t.c -nt $b/$t ]]; then
      gcc -static -O2 -Wall -Wextra -o "$b/$t" "$HERE/$t.c" || setup_fail "gcc $t.c failed"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# Initramfs: busybox as init, the modules the plans load (with their dependencies), v4l2-ctl and
# the gpiod tools with their libraries, feed and pulse. Rebuilt every run (a few seconds) so it
# never lags behind board/vm/guest/init. The gestaltcam binary is not in it (it comes over 9p).

copy_with_libs() { # copy_with_libs ROOT DEST_DIR BINARY...: binaries + their ldd libraries
  local root=$1 dest=$2 b l
  shift 2
  mkdir -p "$root$dest"
  for b in "$@"; do
    cp -L "$b" "$root$dest/"
    for l in $(ldd "$b" | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
      mkdir -p "$root$(dirname "$l")"
      [[ -e $root$l ]] || cp -L "$l" "$root$l"
    done
  done
}

build_initramfs() {
  local r=$VM/initramfs m ko mods=$VM/kroot/lib/modules/$KVER
  rm -rf "$r"
  mkdir -p "$r"/{bin,dev,proc,sys,tmp,run,mnt,usr/bin,usr/local/bin,lib/modules/$KVER}
  cp "$VM/bb/bin/busybox" "$r/bin/busybox"
  cp "$HERE/guest/init" "$r/init"
  chmod 755 "$r/init"
  # Our two modules go under updates/ of the extracted kernel so modprobe resolves their
  # dependencies (videodev, configfs) like any other.
  mkdir -p "$mods/updates"
  cp "$VM/build/v4l2loopback/v4l2loopback.ko" "$VM/build/gpio-sim/gpio-sim.ko" "$mods/updates/"
  depmod -b "$VM/kroot" "$KVER"
  for m in virtio_pci 9pnet_virtio 9p configfs overlay vivid v4l2loopback gpio-sim $USB_MODULES; do
    for ko in $(modprobe -d "$VM/kroot" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'); do
      mkdir -p "$r$(dirname "${ko#"$VM/kroot"}")"
      cp "$ko" "$r${ko#"$VM/kroot"}"
    done
  done
  find "$r/lib/modules" -name '*.ko' -path '*updates*' -exec strip --strip-debug {} +
  cp "$mods"/modules.builtin* "$mods/modules.order" "$r/lib/modules/$KVER/"
  depmod -b "$r" "$KVER"
  copy_with_libs "$r" /usr/bin "$(command -v v4l2-ctl)" "$(command -v gpioget)" \
    "$(command -v gpioset)" "$(command -v gpioinfo)" "$(command -v gpiodetect)" "$(command -v gpiomon)"
  cp "$VM/build/feed" "$VM/build/pulse" "$r/usr/local/bin/"
  (cd "$r" && find . | cpio -o -H newc --quiet) | gzip -1 > "$VM/initramfs.cpio.gz"
}

# ---------------------------------------------------------------------------------------------
# The share (/mnt in the guest): the binary and its libraries, the guest scripts, fixtures, and
# work/ for results and logs. The repo's models/ is a second, read-only share at /mnt/models.

prepare_share() {
  mkdir -p "$SHARE"/{bin,lib,guest,fixtures,models} "$LOGS"
  rm -rf "$SHARE/work" "$SHARE/guest"/*
  mkdir -p "$SHARE/work"
  cp "$HERE"/guest/*.sh "$SHARE/guest/"
  prepare_package
  prepare_fixtures
}

prepare_binary() {
  [[ -x $BIN ]] || setup_fail "no gestaltcam binary at $BIN (set GESTALTCAM_BIN; needs --features camera-v4l)"
  rm -rf "$SHARE/bin" "$SHARE/lib"
  mkdir -p "$SHARE/bin" "$SHARE/lib"
  cp "$BIN" "$SHARE/bin/gestaltcam"
  local l
  for l in $(ldd "$BIN" | awk '/=> \// { print $3 }'); do cp -L "$l" "$SHARE/lib/"; done
  build_gallery
}

# The probe image: obama.jpg scaled to 640 wide and cropped to its top 480 rows (the face stays
# large and centred); as PPM (feed turns it into YUYV) and as a 4:2:2 JPEG (webcam-like MJPEG).
# The .samples files hold the 8 doctor sample points of each, decoded here.
prepare_fixtures() {
  local f=$SHARE/fixtures src=$REPO/tests/fixtures/photos/obama.jpg
  if [[ ! -s $f/obama-640x480.jpg || $src -nt $f/obama-640x480.jpg ]]; then
    jpegtopnm "$src" 2> /dev/null | pamscale -width 640 | pamcut -top 0 -height 480 > "$f/obama-640x480.ppm"
    cjpeg -quality 90 -sample 2x1 "$f/obama-640x480.ppm" > "$f/obama-640x480.jpg"
    ppm_samples "$f/obama-640x480.ppm" > "$f/obama-640x480.samples"
    djpeg "$f/obama-640x480.jpg" > "$f/obama-jpg-decoded.ppm"
    ppm_samples "$f/obama-jpg-decoded.ppm" > "$f/obama-640x480.jpg.samples"
  fi
}

ppm_samples() { # ppm_samples FILE.ppm: "r,g,b ..." at row h/2, x=(2i+1)w/16
  local w h i out=
  read -r w h < <(pamfile "$1" | sed -n 's/.* \([0-9]*\) by \([0-9]*\) .*/\1 \2/p')
  for i in 0 1 2 3 4 5 6 7; do
    out+="${out:+ }$(pamcut -left $(( (2 * i + 1) * w / 16 )) -top $(( h / 2 )) -width 1 -height 1 "$1" \
      | pnmtoplainpnm | tail -n 1 | awk '{ printf "%d,%d,%d", $1, $2, $3 }')"
  done
  echo "$out"
}

# The gallery the face-results scenario ranks against, made by the binary under test: three
# labels; obama.jpg (the probe) is not in it.
# Rebuilt when the binary, the labels or the models change (the key is their hashes).
build_gallery() {
  local f=$SHARE/fixtures key
  printf 'image,label\nobama2.jpg,Obama\nobama3.jpg,Obama\nbiden.jpg,Biden\nastronaut.png,Astronaut\n' > "$f/labels.csv"
  key=$( (cat "$BIN" "$f/labels.csv" "$REPO"/models/MANIFEST.toml; echo "VM fixture") | sha256sum | cut -c1-16)
  [[ -s $f/fixture.gmg && $(cat "$f/fixture.gmg.key" 2> /dev/null) = "$key" ]] && return 0
  note "building the fixture gallery with $BIN"
  rm -f "$f/fixture.gmg" "$f/fixture.gmg.key"
  "$BIN" gallery build --images "$REPO/tests/fixtures/photos" --labels "$f/labels.csv" \
    --out "$f/fixture.gmg" --name "VM fixture" --models "$REPO/models" --quiet > "$LOGS/gallery-build.log" 2>&1 \
    || { rm -f "$f/fixture.gmg"; setup_fail "gallery build failed: $(tail -n 3 "$LOGS/gallery-build.log" | tr '\n' ' ')"; }
  echo "$key" > "$f/fixture.gmg.key"
}

# The "systemd" boot installs what the .deb installs: the unit and postinst unmodified, and the
# shipped config with only what a VM without SPI panel or GPIO buttons needs changed (PNG panel
# under the unit's StateDirectory, keyboard buttons, debug log for the screen lines).
prepare_package() {
  local b=$SHARE/board
  rm -rf "$b" "$SHARE/udev"
  mkdir -p "$b"
  cp "$REPO/board/systemd/gestaltcam.service" "$REPO/board/debian/postinst" \
    "$REPO/board/udev/99-gestaltcam.rules" "$REPO/board/systemd/gestaltcam-usb@.service" \
    "$REPO/board/usb/gestaltcam-usb" "$b/"
  # The HPO release files the .deb installs (data/hpo/fetch.sh put them in the checkout): the
  # guest binds the checkout's folder (its root is this host's) where the package puts them.
  (cd "$REPO/data/hpo" && sha256sum -c --quiet SHA256SUMS > /dev/null 2>&1) \
    || setup_fail "no HPO files in data/hpo (run bash data/hpo/fetch.sh): the package ships them"
  echo "$REPO/data/hpo" > "$b/hpo-path"
  echo "${VM_SYSTEMD_SKIP:-}" > "$b/skip"
  if [[ ! -e /lib/systemd/systemd-udevd ]]; then
    local u=$SHARE/udev d
    dpkg-deb -x "$(deb udev)" "$u"
    # This host's root has merged /usr (/lib -> usr/lib): so does the copy that goes into it.
    for d in bin sbin lib; do
      if [[ -L /$d && -d $u/$d ]]; then
        mkdir -p "$u/usr/$d"
        cp -a "$u/$d/." "$u/usr/$d/"
        rm -rf "${u:?}/$d"
      fi
    done
  fi
  sed -e 's/^log_level = .*/log_level = "debug"/' \
      -e 's/^panel = .*/panel = "png"/' \
      -e 's/^input = .*/input = "keyboard"/' \
      "$REPO/board/default-config.toml" > "$b/config.toml"
  for k in 'log_level = "debug"' 'panel = "png"' 'input = "keyboard"'; do
    grep -qx "$k" "$b/config.toml" || setup_fail "board/default-config.toml: no line to turn into '$k'"
  done
}

# ---------------------------------------------------------------------------------------------
# One boot: qemu with a hard timeout, console to logs/NAME.console.log, the guest's results and
# logs copied to logs/NAME/.

boot() {
  local name=$1 t0 t1 rc=0 up
  rm -rf "$SHARE/work" "$LOGS/$name"
  mkdir -p "$SHARE/work" "$LOGS/$name"
  note "boot $name (timeout ${BOOT_TIMEOUT[$name]} s)"
  local extra=() append= ctl=
  if [[ $name = systemd ]]; then
    # The guest's root: this host's own userland, read-only (guest/systemd-root.sh). An xHCI
    # controller for the USB sticks, which the host plugs through the monitor (usb.sh).
    extra=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,id=hostroot"
      -device qemu-xhci,id=xhci -monitor "unix:$MONITOR,server=on,wait=off")
    append=" systemd.show_status=0"
    rm -f "$MONITOR" "$LOGS/usb-monitor.log"
    mkdir -p "$SHARE/work/usb"
    usb_controller &
    ctl=$!
  fi
  t0=$(date +%s.%N)
  # TCG (no KVM: nested KVM hangs on this machine), 2 vCPUs = 2 host threads (MTTCG).
  timeout -k 5 "${BOOT_TIMEOUT[$name]}" qemu-system-x86_64 \
    -machine q35 -accel tcg,thread=multi -cpu "$QEMU_CPU" -smp 2 -m 3072 \
    -nographic -no-reboot -nic none \
    -kernel "$VM/kroot/boot/vmlinuz-$KVER" -initrd "$VM/initramfs.cpio.gz" \
    -append "console=ttyS0 quiet panic=-1 mitigations=off vmplan=$name$append" \
    -virtfs "local,path=$SHARE,mount_tag=host0,security_model=none,id=host0" \
    -virtfs "local,path=$REPO/models,mount_tag=models,security_model=none,readonly=on,id=models" \
    "${extra[@]}" \
    < /dev/null > "$LOGS/$name.console.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  if [[ -n $ctl ]]; then
    kill "$ctl" 2> /dev/null
    wait "$ctl" 2> /dev/null || true
  fi
  cp -r "$SHARE/work/." "$LOGS/$name/"
  up=$(grep -ao 'vm-guest: up at [0-9.]* s' "$LOGS/$name.console.log" | head -n 1 | awk '{ print $4 }')
  local wall
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  # The host's load matters: the guest's timing checks run on emulated CPUs sharing its cores.
  say "boot $name: $(printf '%.0f' "$wall") s wall, guest init reached at ${up:-?} s (host load average $(cut -d' ' -f1-3 /proc/loadavg))"
  if ((rc == 124 || rc == 137)); then
    echo "$name-boot FAIL qemu killed after ${BOOT_TIMEOUT[$name]} s (guest hung? see $LOGS/$name.console.log)" >> "$VM/results.txt"
  elif ((rc != 0)); then
    echo "$name-boot FAIL qemu exited with status $rc: $(tail -n 2 "$LOGS/$name.console.log" | tr '\n' ' ')" >> "$VM/results.txt"
  fi
  [[ -f $SHARE/work/results.txt ]] && cat "$SHARE/work/results.txt" >> "$VM/results.txt"
  [[ $name = systemd ]] && check_sticks
  grep -ao 'vm-guest: .*' "$LOGS/$name.console.log" | grep -v 'up at\|exited' | sed 's/^/vm: .. /' >&2 || true
}

# ---------------------------------------------------------------------------------------------
# Verdicts: one line per scenario, in the brief's order; parts of a scenario reported by both
# boots (formats, odd-modes) are joined.

report() { # report SCENARIO...
  local s fails passes any_fail=0
  for s in "$@"; do
    fails=$(awk -v n="$s" '$1 == n && $2 == "FAIL" { $1 = $2 = ""; sub(/^  /, ""); printf "%s%s", sep, $0; sep = "; " }' "$VM/results.txt")
    passes=$(awk -v n="$s" '$1 == n && $2 == "PASS" { $1 = $2 = ""; sub(/^  /, ""); printf "%s%s", sep, $0; sep = "; " }' "$VM/results.txt")
    if [[ -n $fails ]]; then
      say "FAIL $s: $fails"
      any_fail=1
    elif [[ -n $passes ]]; then
      say "PASS $s: $passes"
    else
      say "FAIL $s: no result (the guest stopped before it; see $LOGS/)"
      any_fail=1
    fi
  done
  # A boot that hung is a failure even if its scenarios had all reported.
  if grep -q -- '-boot FAIL' "$VM/results.txt"; then
    grep -- '-boot FAIL' "$VM/results.txt" | while read -r n _ why; do say "FAIL ${n%-boot}-boot: $why"; done
    any_fail=1
  fi
  return $any_fail
}

main() {
  local boots=(vivid loopback systemd) order=$ALL_SCENARIOS b
  case "${1:-}" in
    --infra) boots=(infra); order=${BOOT_SCENARIOS[infra]} ;;
    --boot)
      [[ -n ${BOOT_SCENARIOS[${2:-}]:-} ]] || { echo "usage: $0 [--infra | --boot vivid|loopback|systemd]" >&2; exit 2; }
      boots=("$2"); order=${BOOT_SCENARIOS[$2]} ;;
    "") ;;
    *) echo "usage: $0 [--infra | --boot vivid|loopback|systemd]" >&2; exit 2 ;;
  esac
  mkdir -p "$VM" "$LOGS" "$VM/artifacts"
  [[ $(uname -m) = x86_64 ]] || setup_fail "needs an x86_64 host (the guest is Debian amd64)"
  ensure_host_tools
  pick_kernel
  fetch_debs
  extract_debs
  build_modules
  build_initramfs
  prepare_share
  [[ ${boots[0]} = infra ]] || prepare_binary
  [[ " ${boots[*]} " = *" systemd "* ]] && prepare_sticks
  note "setup done in $(( $(date +%s) - T_START )) s (kernel $KVER)"
  : > "$VM/results.txt"
  for b in "${boots[@]}"; do boot "$b"; done
  [[ -f $LOGS/loopback/face-results.png ]] && cp "$LOGS/loopback/face-results.png" "$VM/artifacts/"
  cp "$LOGS"/systemd/usb-*.png "$VM/artifacts/" 2> /dev/null || true
  local rc=0
  # shellcheck disable=SC2086  # word splitting of the scenario list is intended
  report $order || rc=1
  say "total $(( $(date +%s) - T_START )) s"
  return $rc
}

main "$@"
