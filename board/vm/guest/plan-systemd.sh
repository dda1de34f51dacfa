# The "systemd" boot's plan (bash, run by gestaltcam-vm-plan.service under the guest's systemd):
# the package's own unit under a real systemd, in the order a board meets it.
#   systemd-notify    postinst creates the user and groups, enables and starts the unit; the
#                     unit becomes active only by READY=1 (Type=notify), says its state with
#                     STATUS=, and, inside the unit's sandbox (DevicePolicy=closed, ProtectSystem=
#                     strict, the syscall filter), opens the V4L2 camera and shows the preview
#   systemd-watchdog  alive past 2 x WatchdogSec on its pings; a frozen process (SIGSTOP) is
#                     killed by the watchdog and restarted, and is active again
#   usb-refused, usb-update, usb-report
#                     USB sticks plugged and pulled by the host: guest/plan-usb.sh
#   systemd-stop      systemctl stop: the panel blanked, exit status 0, the unit inactive
# Then the guest powers off. Times are seconds of /proc/uptime.
. /mnt/guest/lib.sh
. /mnt/guest/plan-usb.sh
# dpkg runs maintainer scripts with the sbin directories on PATH (adduser, addgroup).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
U=gestaltcam.service
prop() { systemctl show -p "$1" --value $U; }
journal() { journalctl -u $U -o cat --no-pager 2> /dev/null; }
# wait_for SECONDS CMD...: polls CMD twice a second until it succeeds; prints the time it did
wait_for() {
  local until t=$1
  shift
  until=$(fcalc "$(now) + $t")
  while ftest "$(now) < $until"; do
    if "$@" > /dev/null 2>&1; then now; return 0; fi
    sleep 0.5
  done
  return 1
}
is_active() { [ "$(prop ActiveState)" = active ]; }
# The PNG panel at the default config's png_path (the unit's RuntimeDirectory), owned by the
# service user.
PNG=/run/gestaltcam/screen.png
png_written() { [ -s $PNG ] && [ "$(stat -c %U $PNG)" = gestaltcam ]; }
in_journal() { journal | grep -Eq "$1"; }
finish() {
  journal > "$W/gestaltcam.journal.txt"
  journalctl -b -o short-monotonic --no-pager > "$W/boot.journal.txt" 2>&1
  sync
  systemctl poweroff --force --force
}

trace "plan systemd: $(systemctl --version | head -n 1); system state $(systemctl is-system-running)"
id gestaltcam > /dev/null 2>&1 && { fail systemd-notify "user gestaltcam exists before postinst"; finish; }

# systemd-notify
t0=$(now)
if ! sh /mnt/board/postinst configure > "$W/postinst.log" 2>&1; then
  fail systemd-notify "postinst configure failed: $(tail -n 3 "$W/postinst.log" | tr '\n' ' ')"
fi
groups=$(id -nG gestaltcam 2> /dev/null)
enabled=$(systemctl is-enabled $U 2> /dev/null)
if ! t=$(wait_for 300 is_active); then
  fail systemd-notify "not active within 300 s of postinst (state $(prop ActiveState)/$(prop SubState), result $(prop Result)); journal: $(journal | tail -n 4 | tr '\n' ' ')"
  finish
fi
status=$(prop StatusText)
if ! tc=$(wait_for 60 in_journal 'camera /dev/video0: chose'); then
  fail systemd-notify "active, but no 'camera /dev/video0: chose' line in the journal within 60 s: node $(ls -l /dev/video0 | cut -d' ' -f1,3,4), udevd $(systemctl is-active systemd-udevd); journal: $(journal | tail -n 4 | tr '\n' ' ')"
elif ! tp=$(wait_for 120 in_journal 'screen: preview'); then
  fail systemd-notify "camera opened, but no preview screen within 120 s; journal: $(journal | tail -n 4 | tr '\n' ' ')"
elif ! wait_for 10 png_written > /dev/null; then
  fail systemd-notify "preview shown, but no screen PNG at the default $PNG owned by gestaltcam: $(ls -ld /run/gestaltcam $PNG 2>&1 | tr '\n' ' '); journal: $(journal | grep -i -m2 'display\|png' | tr '\n' ' ')"
else
  chose=$(journal | grep -m1 -o 'chose [a-z0-9]* [0-9x]*')
  pass systemd-notify "enabled ($enabled), user in '$groups'; active (READY=1) $(fcalc "$t - $t0") s after postinst, STATUS '$status'; camera $chose and preview $(fcalc "$tp - $t0") s after postinst, screen PNG at the default $PNG, inside the unit's sandbox"
fi

# systemd-watchdog (VM_SYSTEMD_SKIP=systemd-watchdog on the host skips it, as a FAIL, to try
# the later scenarios sooner)
if grep -qw systemd-watchdog /mnt/board/skip; then
  fail systemd-watchdog "skipped (VM_SYSTEMD_SKIP)"
else
wd=$(prop WatchdogUSec)
pid=$(prop MainPID)
sleep 32
restarts=$(prop NRestarts)
if ! is_active || [ "$(prop MainPID)" != "$pid" ]; then
  fail systemd-watchdog "not alive 32 s on (WatchdogUSec $wd): state $(prop ActiveState), pid $pid -> $(prop MainPID), restarts $restarts; journal: $(journal | tail -n 4 | tr '\n' ' ')"
else
  ts=$(now)
  kill -STOP "$pid"
  restarted() { [ "$(prop NRestarts)" -gt "$restarts" ]; }
  if ! tk=$(wait_for 60 restarted); then
    fail systemd-watchdog "frozen (SIGSTOP) process $pid not restarted within 60 s (WatchdogUSec $wd, restarts $(prop NRestarts))"
    kill -CONT "$pid"
  elif ! ta=$(wait_for 300 is_active); then
    fail systemd-watchdog "restarted $(fcalc "$tk - $ts") s after the freeze, but not active again within 300 s: $(prop ActiveState)/$(prop SubState)"
  else
    why=$(journalctl -b -o cat --no-pager | grep -m1 -o 'Watchdog timeout[^!]*')
    pass systemd-watchdog "alive 32 s on its pings (WatchdogUSec $wd); frozen: '${why:-no watchdog message}', restarted $(fcalc "$tk - $ts") s after the freeze (pid $pid -> $(prop MainPID)), active again $(fcalc "$ta - $ts") s after"
  fi
fi
fi

# usb-refused, usb-update, usb-report
if is_active; then
  usb_scenarios
else
  for s in usb-refused usb-update usb-report; do fail $s "not reached: the unit was not active ($(prop ActiveState))"; done
fi

# systemd-stop
if is_active; then
  ts=$(now)
  systemctl stop $U
  te=$(now)
  code=$(prop ExecMainStatus) result=$(prop Result) state=$(prop ActiveState)
  blank=$(journal | tail -n 20 | grep -c 'blanking the display')
  if [ "$code" = 0 ] && [ "$result" = success ] && [ "$state" = inactive ] && [ "$blank" -gt 0 ]; then
    pass systemd-stop "stopped in $(fcalc "$te - $ts") s: the display blanked, exit status 0, result success"
  else
    fail systemd-stop "after systemctl stop: exit status $code, result $result, state $state, 'blanking the display' lines $blank"
  fi
else
  fail systemd-stop "not reached: the unit was not active ($(prop ActiveState))"
fi
finish
