# Sourced by camera-test.sh: the systemd boot's virtual USB sticks. The host makes FAT images
# holding content bundles made by the binary under test, and plugs and pulls them while the
# guest runs, through the QEMU monitor (drive_add + device_add usb-storage on the guest's xHCI
# controller; device_del), when the guest's plan asks (guest/plan-usb.sh).
#
# The sticks (target/vm/sticks/NAME.img; bundles signed with a programme key made here, whose
# public half the guest trusts):
#   good       bundle "VM update" 2026.12.1: a new gallery, named "VM update 2026-12"; partitioned
#              (MBR, FAT32 partition: /dev/sda1 in the guest), as sticks come from a shop
#   tampered   the good bundle with one byte changed in its middle (whole-disk FAT: /dev/sda)
#   othermodel a bundle, correctly signed, whose gallery was made by a model the device lacks
#   truncated  the first half of the good bundle
#   slow       a bundle with a gallery and every model (~40 MB) on a stick read at 2 MB/s, for
#              the pull in the middle of an import
#   foreign    the good gallery signed by a key the device does not trust
STICKS=$VM/sticks
MONITOR=$VM/monitor.sock
# Read rate of the "slow" stick (bytes/s): its bundle then takes ~20 s to read.
SLOW_BPS=2000000

hmp() { # hmp COMMAND: one QEMU monitor (HMP) command over the unix socket; prints its output
  python3 - "$MONITOR" "$1" << 'PY'
import re, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
def until_prompt():
    buf = b""
    while not buf.endswith(b"(qemu) "):
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf.decode(errors="replace")
until_prompt()
s.sendall(sys.argv[2].encode() + b"\n")
out = until_prompt()
# The monitor echoes the command with terminal escapes; keep the lines after it.
out = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out).replace("\r", "")
print(" ".join(l for l in out.split("\n")[1:] if l and l != "(qemu) ").strip())
PY
}

# The controller, in the background during the systemd boot: the guest writes work/usb/N.req
# ("plug STICK" or "unplug STICK"), the host answers work/usb/N.done with the monitor's words.
usb_controller() {
  local d=$SHARE/work/usb n=1 op stick out throttle
  while :; do
    if [[ -e $d/$n.req ]]; then
      read -r op stick < "$d/$n.req"
      case $op in
        plug)
          throttle=
          [[ $stick = slow ]] && throttle=",throttling.bps-read=$SLOW_BPS"
          out=$(hmp "drive_add 0 if=none,id=drv$n,format=raw,file=$STICKS/$stick.img$throttle" 2>&1)
          out+=$(hmp "device_add usb-storage,bus=xhci.0,drive=drv$n,id=$stick,removable=on" 2>&1)
          ;;
        unplug) out=$(hmp "device_del $stick" 2>&1) ;;
        *) out="unknown request '$op'" ;;
      esac
      echo "[$(date +%T.%N | cut -c1-12)] $n $op $stick: ${out:-ok}" >> "$LOGS/usb-monitor.log"
      echo "${out:-ok}" > "$d/$n.done.tmp" && mv "$d/$n.done.tmp" "$d/$n.done"
      n=$((n + 1))
    fi
    sleep 0.1
  done
}

# stick_image NAME PARTITIONED(yes|no) SIZE_MB FILE...: a FAT image with FILE... at its top.
stick_image() {
  local name=$1 parted=$2 mb=$3 img=$STICKS/$1.img target
  shift 3
  rm -f "$img"
  truncate -s "${mb}M" "$img"
  if [[ $parted = yes ]]; then
    echo 'start=2048, type=c' | sfdisk -q "$img" > /dev/null
    mkfs.vfat -F 32 --offset 2048 -n GESTALTCAM "$img" $(( (mb * 1024) - 1024 )) > /dev/null
    target="$img@@1M"
  else
    mkfs.vfat -n GESTALTCAM "$img" > /dev/null
    target=$img
  fi
  ((${#@} == 0)) || mcopy -i "$target" "$@" ::/
}

# The bundles and their sticks, remade when the binary, the models or this file change.
prepare_sticks() {
  local f=$SHARE/fixtures w=$STICKS/work key
  mkdir -p "$STICKS"
  key=$(cat "$BIN" "$REPO"/models/MANIFEST.toml "$HERE/usb.sh" | sha256sum | cut -c1-16)
  [[ -s $STICKS/good.img && $(cat "$STICKS/key" 2> /dev/null) = "$key" ]] && return 0
  "$BIN" bundle --help > /dev/null 2>&1 \
    || setup_fail "$BIN has no 'bundle' command: the USB scenarios need 'gestaltcam bundle make|import'"
  note "making the USB sticks' bundles with $BIN"
  rm -rf "$w" "$STICKS"/*.img "$STICKS/key" "$f"/programme.*
  mkdir -p "$w"
  local log=$LOGS/sticks.log
  : > "$log"
  run() { "$@" >> "$log" 2>&1 || setup_fail "$* failed: $(tail -n 3 "$log" | tr '\n' ' ')"; }
  run "$BIN" gallery keygen --secret "$f/programme.key" --public "$f/programme.pub"
  run "$BIN" gallery keygen --secret "$w/foreign.key" --public "$w/foreign.pub"
  # The new gallery: the fixture's cases under a new name.
  run "$BIN" gallery build --images "$REPO/tests/fixtures/photos" --labels "$f/labels.csv" \
    --out "$w/update.gmg" --name "VM update 2026-12" --models "$REPO/models" --quiet
  # A model the device does not have: the manifest's first embedder (int8) with 3 bytes added
  # (an unknown protobuf field, skipped by the ONNX reader), so another file and sha256, under
  # another id.
  mkdir -p "$w/othermodels"
  cp "$REPO"/models/*.onnx "$w/othermodels/"
  cp "$REPO/models/dlib_face_resnet_v1_int8.onnx" "$w/othermodels/other.onnx"
  printf '\xc0\x3e\x01' >> "$w/othermodels/other.onnx"
  local h
  h=$(sha256sum "$w/othermodels/other.onnx" | cut -d' ' -f1)
  sed -e '0,/^id = "dlib-resnet-v1-int8"$/s//id = "dlib-resnet-v9-other"/' \
    -e '0,/^file = "dlib_face_resnet_v1_int8.onnx"$/s//file = "other.onnx"/' \
    -e "0,/^sha256 = \".*\"\$/s//sha256 = \"$h\"/" \
    "$REPO/models/MANIFEST.toml" > "$w/othermodels/MANIFEST.toml"
  run "$BIN" gallery build --images "$REPO/tests/fixtures/photos" --labels "$f/labels.csv" \
    --out "$w/other.gmg" --name "VM other model" --models "$w/othermodels" \
    --embedder dlib-resnet-v9-other --quiet
  local make=("$BIN" bundle make --key "$f/programme.key" --created 2026-12-01T00:00:00Z)
  run "${make[@]}" --out "$w/good.gcb" --name "VM update" --version 2026.12.1 --gallery "$w/update.gmg"
  run "${make[@]}" --out "$w/other.gcb" --name "VM other model" --version 2026.12.3 --gallery "$w/other.gmg"
  run "${make[@]}" --out "$w/slow.gcb" --name "VM update with models" --version 2026.12.2 \
    --gallery "$w/update.gmg" --models-dir "$REPO/models"
  run "$BIN" bundle make --key "$w/foreign.key" --out "$w/foreign.gcb" --name "VM foreign" \
    --version 2026.12.4 --gallery "$w/update.gmg"
  local size
  size=$(stat -c %s "$w/good.gcb")
  mkdir -p "$w/tampered" "$w/truncated"
  cp "$w/good.gcb" "$w/tampered/good.gcb"
  printf '\xff' | dd of="$w/tampered/good.gcb" bs=1 seek=$((size / 2)) conv=notrunc status=none
  cmp -s "$w/good.gcb" "$w/tampered/good.gcb" && printf '\x00' \
    | dd of="$w/tampered/good.gcb" bs=1 seek=$((size / 2)) conv=notrunc status=none
  head -c $((size / 2)) "$w/good.gcb" > "$w/truncated/good.gcb"
  stick_image good yes 64 "$w/good.gcb"
  stick_image tampered no 16 "$w/tampered/good.gcb"
  stick_image truncated no 16 "$w/truncated/good.gcb"
  stick_image othermodel no 16 "$w/other.gcb"
  stick_image foreign no 16 "$w/foreign.gcb"
  stick_image slow yes 96 "$w/slow.gcb"
  echo "$key" > "$STICKS/key"
}

# After the boot: every stick's FAT is clean (nothing half-written, no dirty flag: it was
# mounted read-only but for the one report copy) and the good stick carries the report.
check_sticks() {
  # Only a boot that reached the scenarios (a verdict here alone would pass them).
  grep -q '^usb-refused ' "$SHARE/work/results.txt" 2> /dev/null || return 0
  local s fs img out bad= files=
  for s in good tampered truncated othermodel foreign slow; do
    fs=$STICKS/$s.img img=$STICKS/$s.img
    if [[ $s = good || $s = slow ]]; then
      # The FAT partition, 1 MiB in.
      fs=$STICKS/$s.part img="$img@@1M"
      dd if="$STICKS/$s.img" of="$fs" bs=1M skip=1 status=none
    fi
    out=$(fsck.vfat -n "$fs" 2>&1) || bad+="$s: $(echo "$out" | tail -n 2 | tr '\n' ' '); "
    [[ $fs = *.part ]] && rm -f "$fs"
    files+="${files:+, }$s: $(mdir -b -i "$img" ::/ 2> /dev/null | sed 's|^::/||' | tr '\n' ' ' | sed 's/ $//')"
  done
  if [[ -n $bad ]]; then
    echo "usb-refused FAIL after the boot, fsck.vfat -n: $bad" >> "$VM/results.txt"
  else
    echo "usb-refused PASS after the boot every stick's FAT is clean (fsck.vfat -n; files: $files)" >> "$VM/results.txt"
  fi
  rm -f "$VM"/artifacts/gestaltcam-report-*
  if mcopy -o -i "$STICKS/good.img@@1M" '::/gestaltcam-report-*' "$VM/artifacts/" 2> /dev/null; then
    echo "usb-report PASS read back on the host after the boot: $(cd "$VM/artifacts" && ls gestaltcam-report-* | tr '\n' ' ')(target/vm/artifacts/)" >> "$VM/results.txt"
  else
    echo "usb-report FAIL no gestaltcam-report-* on the good stick after the boot" >> "$VM/results.txt"
  fi
}
