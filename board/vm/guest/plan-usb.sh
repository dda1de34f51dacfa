# The systemd boot's USB-stick scenarios (bash; sourced by plan-systemd.sh once the package's
# unit runs). The host plugs and pulls the sticks on request (board/vm/usb.sh says what each
# holds); udev starts gestaltcam-usb@NAME.service, as on a board.
#   usb-refused  a tampered bundle, a truncated copy, a bundle for a model the device lacks and
#                one signed by a key it does not trust: each refused, the content unchanged, the
#                stick unmounted; a good bundle on a slow stick pulled in the middle of its
#                import: the import stopped, nothing changed; then a restart of the device: its
#                start-up screen still names the old gallery
#   usb-update   the good bundle: imported, the device restarts by itself and its start-up
#                screen (the PNG kept as usb-update.png) names the new gallery
#   usb-report   the device's usage report is on the good stick afterwards (read back here, and
#                by the host after the boot)
# Uses prop, journal, wait_for, is_active from plan-systemd.sh.

USBD=$W/usb
USB_N=0
CONTENT=/var/lib/gestaltcam/content
OLD_GALLERY="VM fixture"
NEW_GALLERY="VM update 2026-12"
SHOTS=$W/usb-screens

usb_req() { # usb_req plug|unplug STICK: the host's monitor does it; prints its answer
  USB_N=$((USB_N + 1))
  echo "$*" > "$USBD/$USB_N.req.tmp" && mv "$USBD/$USB_N.req.tmp" "$USBD/$USB_N.req"
  local n=300
  while [ $n -gt 0 ] && [ ! -e "$USBD/$USB_N.done" ]; do sleep 0.1; n=$((n - 1)); done
  cat "$USBD/$USB_N.done" 2> /dev/null || echo "no answer from the host within 30 s"
}
cursor() { journalctl -n 0 --show-cursor --no-pager 2> /dev/null | sed -n 's/^-- cursor: //p'; }
usb_log() { journalctl -u "gestaltcam-usb@$1.service" --after-cursor="$2" -o cat --no-pager 2> /dev/null; }
usb_said() { usb_log "$1" "$2" | grep -q "$3"; }
# The active content: where `current` points and a hash of what it holds ("none" before any).
content_state() {
  if [ -e $CONTENT/current ]; then
    echo "$(readlink $CONTENT/current) $(cd $CONTENT/current/ && find . -type f -print0 | sort -z | xargs -0 -r sha256sum | sha256sum | cut -c1-12)"
  else
    echo none
  fi
}
stick_mounts() { grep -c ' /run/gestaltcam-usb/' /proc/mounts; }
# Screen snapshots: a copy of the PNG panel's file each time it changes, named by uptime.
start_shots() {
  mkdir -p $SHOTS
  (
    last=
    while :; do
      m=$(stat -c %.9Y /run/gestaltcam/screen.png 2> /dev/null)
      if [ -n "$m" ] && [ "$m" != "$last" ]; then
        cp /run/gestaltcam/screen.png "$SHOTS/$(now).png" 2> /dev/null && last=$m
      fi
      sleep 0.2
    done
  ) &
  SHOTS_PID=$!
}
stop_shots() { kill "$SHOTS_PID" 2> /dev/null; wait "$SHOTS_PID" 2> /dev/null; }
# shot_after T NAME: keeps the first snapshot taken at or after uptime T as $W/NAME.png
shot_after() {
  local f
  f=$(ls $SHOTS | sort -n | while read -r s; do ftest "${s%.png} >= $1" && { echo "$s"; break; }; done)
  [ -n "$f" ] && cp "$SHOTS/$f" "$W/$2.png" && echo "$2.png"
}
# The uptime of the first journal line of the device matching a pattern after a cursor.
line_time() {
  journalctl -u gestaltcam.service --after-cursor="$1" -o short-monotonic --no-pager 2> /dev/null \
    | grep -m1 "$2" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'
}

# plug_and_wait STICK DEV SECONDS: plugs STICK, waits for gestaltcam-usb@DEV to end; sets CUR
# (the journal cursor before the plug), IMPORT (the import's line) and T_USB (its duration).
plug_and_wait() {
  CUR=$(cursor)
  local t0 t
  t0=$(now)
  usb_req plug "$1" > /dev/null
  if t=$(wait_for "$3" usb_said "$2" "$CUR" 'gestaltcam-usb: done with'); then
    T_USB=$(fcalc "$t - $t0")
  else
    T_USB="> $3"
  fi
  IMPORT=$(usb_log "$2" "$CUR" | grep -m1 '^bundle: ' || true)
}
unplug() { usb_req unplug "$1" > /dev/null; wait_for 10 test ! -e "/dev/$2" > /dev/null; }
# restart_shows PATTERN: restarts the device, waits for its start-up checks matching PATTERN
# (the `self-test:` log line: the start screen shows them only until the preview comes).
restart_shows() {
  local c t0
  c=$(cursor)
  t0=$(now)
  systemctl restart gestaltcam.service
  wait_for 300 is_active > /dev/null && wait_for 60 in_journal_after "$c" "self-test:.*$1" > /dev/null \
    && T_SHOWN=$(line_time "$c" "self-test:.*$1") && T_RESTART=$(fcalc "$T_SHOWN - $t0")
}
in_journal_after() { journalctl -u gestaltcam.service --after-cursor="$1" -o cat --no-pager | grep -q "$2"; }

usb_refused() {
  local before after detail= bad= stick dev case pid t_pull
  before=$(content_state)
  pid=$(prop MainPID)
  for case in "tampered sda" "truncated sda" "othermodel sda" "foreign sda"; do
    stick=${case% *} dev=${case#* }
    plug_and_wait "$stick" "$dev" 240
    after=$(content_state)
    case $IMPORT in
      "bundle: refused"*)
        if [ "$after" = "$before" ] && [ "$(stick_mounts)" = 0 ]; then
          detail="$detail${detail:+; }$stick: '${IMPORT#bundle: }' in $T_USB s, content unchanged, unmounted"
        else
          bad="$bad${bad:+; }$stick: refused but content '$before' -> '$after', $(stick_mounts) stick mounts left"
        fi ;;
      *) bad="$bad${bad:+; }$stick: not refused ('${IMPORT:-no import line}'; unit log: $(usb_log $dev "$CUR" | tail -n 3 | tr '\n' ' '))" ;;
    esac
    unplug "$stick" "$dev"
  done
  # The slow stick: pulled once the import has read for a while.
  CUR=$(cursor)
  usb_req plug slow > /dev/null
  local ipid opts who
  if ! wait_for 60 pgrep -f 'bundle import --stick /run/gestaltcam-usb/sda1' > /dev/null; then
    bad="$bad${bad:+; }slow: no import started within 60 s: $(usb_log sda1 "$CUR" | tail -n 3 | tr '\n' ' ')"
    unplug slow sda
  else
    ipid=$(pgrep -f 'bundle import --stick /run/gestaltcam-usb/sda1' | head -n 1)
    who=$(ps -o user= -p "$ipid")
    opts=$(awk '$2 == "/run/gestaltcam-usb/sda1" { print $4 }' /proc/mounts)
    sleep 3
    if kill -0 "$ipid" 2> /dev/null; then
      t_pull=$(now)
      unplug slow sda
      wait_for 60 usb_said sda1 "$CUR" 'gestaltcam-usb: done with' > /dev/null
      after=$(content_state)
      IMPORT=$(usb_log sda1 "$CUR" | grep -m1 '^bundle: ' || true)
      if [ "$after" = "$before" ] && [ "$(stick_mounts)" = 0 ] && ! kill -0 "$ipid" 2> /dev/null \
          && [ "${IMPORT#bundle: imported}" = "$IMPORT" ]; then
        detail="$detail; slow stick pulled 3 s into its import (running as $who; mounted $opts): import stopped (${IMPORT:-no result line}), content unchanged, unmounted"
      else
        bad="$bad${bad:+; }slow: pulled mid-import, then content '$before' -> '$after', import pid alive: $(kill -0 "$ipid" 2> /dev/null && echo yes || echo no), '$IMPORT', $(stick_mounts) mounts"
      fi
    else
      bad="$bad${bad:+; }slow: the import ended within 3 s ('$(usb_log sda1 "$CUR" | grep -m1 '^bundle: ')'): no pull in the middle"
      unplug slow sda
    fi
  fi
  [ "$(prop MainPID)" = "$pid" ] || detail="$detail; (the device restarted meanwhile: pid $pid -> $(prop MainPID))"
  if restart_shows "$OLD_GALLERY"; then
    shot_after "$T_SHOWN" usb-refused-restart > /dev/null
    detail="$detail; restarted, its start-up checks name '$OLD_GALLERY' $T_RESTART s later (usb-refused-restart.png)"
  else
    bad="$bad${bad:+; }after a restart no start-up checks naming '$OLD_GALLERY': $(journal | grep 'self-test:' | tail -n 1)"
  fi
  if [ -n "$bad" ]; then fail usb-refused "$bad"; else pass usb-refused "$detail"; fi
}

usb_update() {
  local pid t0 before after tn
  pid=$(prop MainPID)
  before=$(content_state)
  t0=$(now)
  plug_and_wait good sda1 300
  after=$(content_state)
  case $IMPORT in
    "bundle: imported"*) ;;
    *)
      fail usb-update "good bundle not imported ('${IMPORT:-no import line}', $T_USB s); unit log: $(usb_log sda1 "$CUR" | tail -n 4 | tr '\n' ' ')"
      return ;;
  esac
  restarted() { [ "$(prop MainPID)" != "$pid" ] && is_active; }
  if ! wait_for 300 restarted > /dev/null; then
    fail usb-update "'$IMPORT' in $T_USB s, but the device did not restart within 300 s (pid $pid, $(prop ActiveState))"
  elif ! tn=$(line_time "$CUR" "update notice: Gallery updated: $NEW_GALLERY") || [ -z "$tn" ]; then
    fail usb-update "'$IMPORT', restarted, but no update notice 'Gallery updated: $NEW_GALLERY' on the panel: $(journal | grep 'update notice' | tail -n 1)"
  elif ! wait_for 120 in_journal_after "$CUR" "self-test:.*$NEW_GALLERY" > /dev/null; then
    fail usb-update "'$IMPORT', restarted, but no start-up checks naming '$NEW_GALLERY': $(journal | grep 'self-test:' | tail -n 1)"
  else
    local ts png
    ts=$(line_time "$CUR" "self-test:.*$NEW_GALLERY")
    png=$(shot_after "$tn" usb-update)
    pass usb-update "'$IMPORT' in $T_USB s (content '$before' -> '$after'); the notice '$(journal | grep -m1 -o "Gallery updated: $NEW_GALLERY[^(]*")' on the panel (${png:-no PNG snapshot}); the device restarted (pid $pid -> $(prop MainPID)) and its start-up checks name '$NEW_GALLERY' $(fcalc "$ts - $t0") s after the plug"
  fi
}

usb_report() {
  local r v
  mkdir -p /tmp/stick-check
  if ! mount -t vfat -o ro /dev/sda1 /tmp/stick-check; then
    fail usb-report "could not mount the good stick to read it back"
  elif r=$(ls /tmp/stick-check/gestaltcam-report-*.json 2> /dev/null | head -n 1) && [ -s "$r" ] && [ -s "$r.sig" ]; then
    # Checked with the device's public key, as a programme would.
    if v=$(/usr/bin/gestaltcam report --verify "$r" --key /var/lib/gestaltcam/device-key.pub.pem 2>&1); then
      pass usb-report "${r##*/} and its .sig on the stick after the import ($(stat -c %s "$r") bytes), '$v'"
    else
      fail usb-report "${r##*/} on the stick does not verify with the device's key: $v"
    fi
    cp "$r" "$r.sig" "$W/"
  else
    fail usb-report "no gestaltcam-report-*.json with its .sig on the stick: $(ls /tmp/stick-check | tr '\n' ' '); unit log: $(usb_log sda1 "$CUR" | tail -n 3 | tr '\n' ' ')"
  fi
  umount /tmp/stick-check 2> /dev/null
  unplug good sda
}

usb_scenarios() {
  mkdir -p "$USBD"
  start_shots
  usb_refused
  usb_update
  usb_report
  stop_shots
}
