# Helpers for the guest plans (busybox ash; sourced by plan-*.sh).
#
# Results: one line per check in /mnt/work/results.txt, "NAME PASS|FAIL DETAIL". A scenario may
# report several lines (e.g. one per format); the host prints one verdict per scenario name.
# Times are seconds of /proc/uptime (CLOCK_BOOTTIME), the clock the log stamper, feed and pulse
# print, so waits and log lines can be compared directly. busybox sh has no floating point:
# every comparison of times goes through awk.

W=/mnt/work
RESULTS=$W/results.txt
APP=/mnt/bin/gestaltcam
FIX=/mnt/fixtures
export PATH=/bin:/usr/bin:/usr/local/bin
export RUST_BACKTRACE=1

now() { cut -d' ' -f1 /proc/uptime; }
trace() { echo "[$(now)] $*"; }

result() { # result NAME PASS|FAIL DETAIL
  echo "$1 $2 $3" >> "$RESULTS"
  trace "result: $1 $2 $3"
}
pass() { result "$1" PASS "$2"; }
fail() { result "$1" FAIL "$2"; }

# fcalc EXPR [VAR=VALUE...]: prints an awk expression's value (floating point arithmetic).
fcalc() {
  local e=$1; shift
  awk "$@" "BEGIN { printf \"%.2f\", $e }" /dev/null
}
# ftest EXPR: exit status 0 when the awk expression is true.
ftest() { awk "BEGIN { exit !($1) }" /dev/null; }

# ---------------------------------------------------------------------------------------------
# Kernel side: cameras and buttons.

wait_path() { # wait_path PATH SECONDS [gone]: waits for PATH to appear (or to go, with "gone").
  local n=$(( $2 * 10 ))
  while [ $n -gt 0 ]; do
    if [ "${3:-}" = gone ]; then [ -e "$1" ] || return 0; else [ -e "$1" ] && return 0; fi
    usleep 100000
    n=$((n - 1))
  done
  return 1
}

load_vivid() {
  # Two vivid instances, video capture node only (node_types bit 0) -> /dev/video0 (vivid.0)
  # and /dev/video1 (vivid.1); the second lets two doctor or run checks go at once. Their
  # first input is the "Webcam" input: discrete sizes, 75% colour bars by default.
  modprobe vivid n_devs=2 node_types=0x1,0x1 || return 1
  wait_path /dev/video0 5 && wait_path /dev/video1 5
}

# v4l2loopback nodes: /dev/video1 (YUYV feeds), /dev/video2 and /dev/video4 (MJPEG feeds: two,
# so doctor and a run can read MJPEG at once without sharing buffers), /dev/video3 (the infra
# plan's stall test).
# exclusive_caps=1 makes each node look like a plain capture camera to a reader once a writer
# has set the format (what a V4L2 app sees with a real webcam); so feed starts before the reader.
load_loopback() {
  modprobe v4l2loopback devices=4 video_nr=1,2,3,4 exclusive_caps=1,1,1,1 \
    card_label=vm-loop-yuyv,vm-loop-mjpeg,vm-loop-stall,vm-loop-mjpeg2 \
    max_width=1920 max_height=1080 || return 1
  wait_path /dev/video4 5
}

FEED_PID=
start_feed() { # start_feed NODE FILE W H FOURCC FPS [--stall-after N]; log in $W/feed-NODE.log
  local log=$W/feed-$(basename "$1").log n
  feed "$@" > "$log" 2>&1 &
  FEED_PID=$!
  # The reader must not open before the format is set (exclusive_caps) and the first frame is
  # in (an earlier reader would get an unwritten buffer): wait for feed to say so.
  n=30
  while [ $n -gt 0 ] && ! grep -q 'first frame written' "$log"; do usleep 100000; n=$((n - 1)); done
  grep -q 'first frame written' "$log"
}
stop_feed() { # stop_feed [PID]
  local p=${1:-$FEED_PID}
  [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  return 0
}

# gpio-sim: one chip with 32 lines (capture 17, next 22, clear 23 as on the Pi); idle level
# high (pull-up) because the device's buttons are active-low. Sets GPIO_SYSFS to the chip's
# sysfs folder and GPIO_CHIP to its /dev name.
GPIO_SYSFS=
GPIO_CHIP=
setup_gpio_sim() {
  local c=/sys/kernel/config/gpio-sim/vm l
  modprobe gpio-sim || return 1
  mkdir "$c" "$c/gpio-bank0" || return 1
  echo 32 > "$c/gpio-bank0/num_lines"
  for l in 17 22 23; do
    mkdir "$c/gpio-bank0/line$l"
    echo "btn$l" > "$c/gpio-bank0/line$l/name"
  done
  echo 1 > "$c/live" || return 1
  GPIO_CHIP=$(cat "$c/gpio-bank0/chip_name")
  GPIO_SYSFS=/sys/devices/platform/$(cat "$c/dev_name")/$GPIO_CHIP
  for l in 17 22 23; do echo pull-up > "$GPIO_SYSFS/sim_gpio$l/pull"; done
  [ -e "/dev/$GPIO_CHIP" ]
}
press() { # press LINE MS: active-low press of MS milliseconds; prints pulse's edge stamps
  pulse "$GPIO_SYSFS/sim_gpio$1/pull" "$2"
}

# ---------------------------------------------------------------------------------------------
# The device binary.

# write_config FILE DEVICE FORMAT WIDTH HEIGHT INPUT
#   DEVICE: 0 or "\"/dev/video1\""; INPUT: keyboard (stdin keys) or gpio.
#   $CFG_EXTRA: more top-level TOML lines (e.g. results_per_page = 1).
write_config() {
  mkdir -p /tmp/state
  cat > "$1" <<EOF
models_dir = "/mnt/models"
gallery = "$FIX/fixture.gmg"
state_dir = "/tmp/state"
log_level = "debug"
photos_per_patient = 1
idle_timeout_s = 0
${CFG_EXTRA:-}
[camera]
device = $2
width = $4
height = $5
format = "$3"
fps = 15
[display]
panel = "png"
png_path = "/tmp/screen.png"
[buttons]
input = "$6"
gpiochip = "/dev/${GPIO_CHIP:-gpiochip0}"
capture_pin = 17
next_pin = 22
clear_pin = 23
active_low = true
EOF
}

# start_app NAME CONFIG: runs `gestaltcam run` in the background. Its stdout+stderr go through a
# stamper (awk prefixing /proc/uptime) into $W/NAME.log; its stdin is the FIFO /tmp/NAME.in,
# opened read-write by the app itself (`<>`), so it never reaches EOF and `key c` can type into
# it. Sets APP_PID, STAMP_PID, LOG, APP_IN (the functions below act on these; save and restore
# them to handle two runs at once).
APP_PID=
STAMP_PID=
LOG=
APP_IN=
start_app() {
  LOG=$W/$1.log
  APP_IN=/tmp/$1.in
  rm -f "$APP_IN" "/tmp/$1.out"
  mkfifo "$APP_IN" "/tmp/$1.out"
  awk '{ getline up < "/proc/uptime"; close("/proc/uptime"); split(up, a, " ");
         print a[1], $0; fflush() }' < "/tmp/$1.out" > "$LOG" &
  STAMP_PID=$!
  trace "start $1: gestaltcam run --config $2"
  # The binary's own libraries (copied from the host's ldd) are on the share.
  LD_LIBRARY_PATH=/mnt/lib "$APP" run --config "$2" <> "$APP_IN" > "/tmp/$1.out" 2>&1 &
  APP_PID=$!
}
key() { echo "$1" > "$APP_IN"; trace "key $1"; }

running() { # running PID: true while PID exists and is not a zombie
  local s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
  [ -n "$s" ] && [ "$s" != Z ]
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime+stime, 1/100 s (USER_HZ)

# snapshot_app [WHY]: what each of the app's threads is doing (state, CPU ticks, kernel wait
# channel, kernel stack) appended to $W/<log name>.threads.txt; for FAIL reports of a process
# that is alive but silent. Prints the file's name.
snapshot_app() {
  local f=${LOG%.log}.threads.txt t
  {
    echo "== [$(now)] ${1:-snapshot} pid $APP_PID: $(awk '{ print "state", $3, "cpu ticks", $14 + $15 }' "/proc/$APP_PID/stat" 2>/dev/null)"
    for t in /proc/$APP_PID/task/*; do
      # syscall: number and arguments of a blocked thread (7 poll, 16 ioctl: fd, request, ...)
      echo "-- tid ${t##*/} $(awk '{ print $2, "state", $3, "ticks", $14 + $15 }' "$t/stat" 2>/dev/null) wchan $(cat "$t/wchan" 2>/dev/null) syscall $(cut -d' ' -f1-3 "$t/syscall" 2>/dev/null)"
      sed 's/^/     /' "$t/stack" 2>/dev/null | head -n 12
    done
  } >> "$f"
  echo "$f"
}

# stop_app [SIGNAL] [SECONDS]: signals the app (TERM by default), waits for it to exit, KILLs
# it after SECONDS (5). Sets APP_RC (exit status; 128+N if killed by signal N; "hung" if it had
# to be killed).
APP_RC=
stop_app() {
  local n
  APP_RC=
  if running "$APP_PID"; then
    kill -"${1:-TERM}" "$APP_PID" 2>/dev/null
    n=$(( ${2:-5} * 10 ))
    while [ $n -gt 0 ] && running "$APP_PID"; do usleep 100000; n=$((n - 1)); done
    if running "$APP_PID"; then
      snapshot_app "still running ${2:-5} s after SIG${1:-TERM}" > /dev/null
      kill -KILL "$APP_PID"
      wait "$APP_PID" 2>/dev/null
      APP_RC=hung
    fi
  fi
  if [ -z "$APP_RC" ]; then wait "$APP_PID" 2>/dev/null; APP_RC=$?; fi
  wait "$STAMP_PID" 2>/dev/null   # the stamper ends at EOF
  trace "stopped app $APP_PID: rc $APP_RC"
}

# wait_log REGEX SECONDS [SINCE]: waits for a log line (awk ERE, on the line after the stamp)
# stamped at or after SINCE; prints its stamp. Exit status 1 on timeout or when the app died.
wait_log() {
  local t end
  end=$(fcalc "$(now) + $2")
  while :; do
    t=$(awk -v s="${3:-0}" -v re="$1" '$1 + 0 >= s + 0 { l = $0; sub(/^[^ ]* /, "", l);
          if (l ~ re) { print $1; exit } }' "$LOG")
    if [ -n "$t" ]; then echo "$t"; return 0; fi
    ftest "$(now) > $end" && return 1
    running "$APP_PID" || { sleep 1; t=$(awk -v s="${3:-0}" -v re="$1" '$1 + 0 >= s + 0 {
          l = $0; sub(/^[^ ]* /, "", l); if (l ~ re) { print $1; exit } }' "$LOG");
        [ -n "$t" ] && { echo "$t"; return 0; }; return 1; }
    usleep 200000
  done
}
count_log() { # count_log REGEX FROM TO: lines matching REGEX stamped in [FROM, TO)
  awk -v a="$2" -v b="$3" -v re="$1" '$1 + 0 >= a + 0 && $1 + 0 < b + 0 { l = $0;
      sub(/^[^ ]* /, "", l); if (l ~ re) n++ } END { print n + 0 }' "$LOG"
}
first_log() { # first_log REGEX [SINCE]: the first matching line (without its stamp)
  awk -v s="${2:-0}" -v re="$1" '$1 + 0 >= s + 0 { l = $0; sub(/^[^ ]* /, "", l);
      if (l ~ re) { print l; exit } }' "$LOG"
}
last_lines() { # last_lines N: the log's last N lines on one line, for a FAIL message; for a
  # live process also its threads' states (snapshot_app) and CPU use
  tail -n "$1" "$LOG" | cut -c1-220 | tr '\n' '|' | sed 's/|$//'
  alive_note
}
alive_note() { # for a FAIL message about a live process: its state, CPU, main thread's wait
  running "$APP_PID" || return 0
  echo " [process alive: $(awk '{ print "state", $3 ", cpu", ($14 + $15) / 100, "s" }' "/proc/$APP_PID/stat"); main thread in $(cat "/proc/$APP_PID/wchan" 2>/dev/null) syscall $(cut -d' ' -f1-3 "/proc/$APP_PID/syscall" 2>/dev/null); all threads: $(basename "$(snapshot_app "FAIL report")")]"
}
log_since() { # log_since T N: the first N log lines stamped at or after T, on one line
  awk -v s="$1" '$1 + 0 >= s + 0' "$LOG" | grep -v 'still not open' | head -n "$2" | cut -c1-200 | tr '\n' '|' | sed 's/|$//'
  alive_note
}
speed_note() { # how slow the emulated loop is, for timing FAILs: open -> first preview
  local o p
  o=$(awk '/camera opened/ { print $1; exit }' "$LOG")
  [ -n "$o" ] || return 0
  p=$(awk -v s="$o" '$1 + 0 >= s + 0 && /screen: preview/ { print $1; exit }' "$LOG")
  [ -n "$p" ] && echo " [emulated CPU: the first preview came $(fcalc "$p - $o") s after 'camera opened']"
}
why_died() { # a FAIL detail for an app that exited early
  echo "gestaltcam exited (pid $APP_PID); log tail: $(last_lines 6)"
}

doctor_run() { # doctor_run NAME CONFIG: doctor's output in $W/NAME.txt, exit status in
  # $W/NAME.rc (so two can run at once in the background); sets DOC_RC
  LD_LIBRARY_PATH=/mnt/lib timeout 240 "$APP" doctor --config "$2" > "$W/$1.txt" 2>&1
  DOC_RC=$?
  echo "$DOC_RC" > "$W/$1.rc"
  trace "doctor $1 rc $DOC_RC"
}

# cpu_pct PID SECONDS: the process's CPU use over the next SECONDS, in % of one core
cpu_pct() {
  local c0 c1
  c0=$(cpu_ticks "$1")
  sleep "$2"
  c1=$(cpu_ticks "$1")
  fcalc "($c1 - $c0) / $2" # ticks are 1/100 s: ticks per second = percent
}

# cpu_pcts PID SECONDS: "LOOP TOTAL": the CPU use over the next SECONDS, in % of one core, of the
# main loop's thread (the process's first thread: camera, buttons, screens) and of the whole
# process (with the analysis thread and the inference pool)
cpu_pcts() {
  local l0 t0 l1 t1
  l0=$(cpu_ticks "$1/task/$1") t0=$(cpu_ticks "$1")
  sleep "$2"
  l1=$(cpu_ticks "$1/task/$1") t1=$(cpu_ticks "$1")
  echo "$(fcalc "($l1 - $l0) / $2") $(fcalc "($t1 - $t0) / $2")"
}

# The regexes of the device's log contract (see board/vm/README.md). They reach awk through -v,
# which eats backslashes: write literal parentheses as [(] [)].
RE_PREVIEW='screen: preview'
RE_READY='screen: preview: Ready - press capture'
RE_MISSING='screen: error [(]CameraMissing[)]|camera lost'
RE_RESULTS='screen: results page'
RE_ANALYSING='screen: analysing'
RE_BLANK='screen: [(]blank[)]'
RE_CHOSE='camera /dev/video[0-9]+: chose '
