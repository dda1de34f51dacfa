# Harness self-test (`camera-test.sh --infra`): proves every piece the scenarios stand on with
# the stock tools only (v4l2-ctl, gpiod, feed, pulse), no gestaltcam binary needed. Checks:
#   infra-vivid      vivid's formats and sizes; YUYV/NV12 captures decode to 75% colour bars
#   infra-unbind     sysfs unbind removes /dev/video0, bind brings it back and it streams
#   infra-fault      vivid's inject_fatal_streaming_error control ends a running stream
#   infra-loopback   v4l2loopback + feed: YUYV (from PPM) and MJPEG frames reach a reader
#   infra-stall      feed --stall-after / SIGUSR1 stops the frames while the node stays
#   infra-gpio-sim   gpio-sim lines read high at rest, low when pulled, edge events seen by gpiomon
. /mnt/guest/lib.sh
. /mnt/guest/frames.sh

infra_vivid() {
  load_vivid || { fail infra-vivid "modprobe vivid: no /dev/video0"; return; }
  v4l2-ctl -d /dev/video0 --all > "$W/vivid-all.txt" 2>&1
  v4l2-ctl -d /dev/video0 --list-formats-ext > "$W/vivid-formats.txt" 2>&1
  v4l2-ctl -d /dev/video0 -L > "$W/vivid-ctrls.txt" 2>&1
  bad=
  for f in YUYV NV12; do grep -q "'$f'" "$W/vivid-formats.txt" || bad="$bad no $f;"; done
  for s in 640x480 1280x720; do grep -q "Size: Discrete $s" "$W/vivid-formats.txt" || bad="$bad no $s;"; done
  sizes=$(awk '/\[[0-9]+\]:/ { on = /YUYV/ } on && /Size: Discrete/ { printf "%s%s", sep, $3; sep = " " }' "$W/vivid-formats.txt")
  for spec in YUYV:640:480 YUYV:1280:720 NV12:640:480; do
    IFS=: read -r f w h <<EOF
$spec
EOF
    out=/tmp/cap.raw
    v4l2-ctl -d /dev/video0 --set-fmt-video=width=$w,height=$h,pixelformat=$f \
      --stream-mmap --stream-count=3 --stream-to=$out > /dev/null 2>&1
    size=$(wc -c < $out)
    per=$(( w * h * 2 )); [ $f = NV12 ] && per=$(( w * h * 3 / 2 ))
    if [ "$size" != $(( per * 3 )) ]; then bad="$bad $f ${w}x$h captured $size bytes, want $((per * 3));"; continue; fi
    got=$(samples_raw $out $f $w $h)
    dev=$(max_dev "$got" "$BARS")
    trace "vivid $f ${w}x$h samples: $got (max dev $dev from bars)"
    ftest "$dev <= 24" || bad="$bad $f ${w}x$h samples $got are not the 75% bars (dev $dev);"
  done
  if [ -z "$bad" ]; then pass infra-vivid "YUYV+NV12 captures show 75% bars; YUYV sizes: $sizes"
  else fail infra-vivid "$bad"; fi
}

infra_unbind() {
  echo vivid.0 > /sys/bus/platform/drivers/vivid/unbind
  if ! wait_path /dev/video0 2 gone; then fail infra-unbind "/dev/video0 still there after unbind"; return; fi
  echo vivid.0 > /sys/bus/platform/drivers/vivid/bind
  if ! wait_path /dev/video0 2; then fail infra-unbind "/dev/video0 not back after bind"; return; fi
  v4l2-ctl -d /dev/video0 --stream-mmap --stream-count=2 --stream-to=/tmp/cap.raw > /dev/null 2>&1
  [ -s /tmp/cap.raw ] && pass infra-unbind "node gone on unbind, back and streaming on bind" \
    || fail infra-unbind "no frames after rebind"
}

infra_fault() {
  ctrl=$(sed -n 's/^ *\(inject_fatal_streaming_error\) .*/\1/p' "$W/vivid-ctrls.txt")
  [ -n "$ctrl" ] || { fail infra-fault "no inject_fatal_streaming_error in v4l2-ctl -L"; return; }
  v4l2-ctl -d /dev/video0 --set-fmt-video=width=640,height=480,pixelformat=YUYV \
    --stream-mmap --stream-count=1000 --stream-to=/dev/null > /tmp/fault.out 2>&1 &
  p=$!
  sleep 1
  v4l2-ctl -d /dev/video0 -c inject_fatal_streaming_error=1
  n=30
  while [ $n -gt 0 ] && running $p; do usleep 100000; n=$((n - 1)); done
  if running $p; then kill $p; fail infra-fault "stream still running 3 s after the injection"; return; fi
  wait $p; rc=$?
  pass infra-fault "stream ended by the injection (v4l2-ctl rc $rc: $(tail -c 120 /tmp/fault.out | tr '\n' ' '))"
}

infra_loopback() {
  rmmod vivid 2> /dev/null   # its second instance holds /dev/video1
  load_loopback || { fail infra-loopback "modprobe v4l2loopback failed"; return; }
  bad=
  start_feed /dev/video1 $FIX/obama-640x480.ppm 640 480 YUYV 15 || bad="$bad feed YUYV did not start: $(cat $W/feed-video1.log);"
  p1=$FEED_PID
  start_feed /dev/video2 $FIX/obama-640x480.jpg 640 480 MJPG 15 || bad="$bad feed MJPG did not start: $(cat $W/feed-video2.log);"
  p2=$FEED_PID
  v4l2-ctl -d /dev/video1 --list-formats-ext > "$W/loop-yuyv-formats.txt" 2>&1
  v4l2-ctl -d /dev/video2 --list-formats-ext > "$W/loop-mjpeg-formats.txt" 2>&1
  v4l2-ctl -d /dev/video1 --all > "$W/loop-yuyv-all.txt" 2>&1
  grep -q "'YUYV'" "$W/loop-yuyv-formats.txt" || bad="$bad video1 lists no YUYV;"
  grep -q "'MJPG'" "$W/loop-mjpeg-formats.txt" || bad="$bad video2 lists no MJPG;"
  timeout 10 v4l2-ctl -d /dev/video1 --stream-mmap --stream-count=3 --stream-to=/tmp/l1.raw > /dev/null 2>&1
  size=$(wc -c < /tmp/l1.raw)
  if [ "$size" = $((640 * 480 * 2 * 3)) ]; then
    got=$(samples_raw /tmp/l1.raw YUYV 640 480)
    dev=$(max_dev "$got" "$(cat $FIX/obama-640x480.samples)")
    trace "loopback YUYV samples $got; from the PPM: $(cat $FIX/obama-640x480.samples); dev $dev"
    ftest "$dev <= 24" || bad="$bad YUYV frame samples $got differ from the PPM's by $dev;"
  else bad="$bad YUYV capture $size bytes;"; fi
  # v4l2loopback 0.12 quirk: a reader's REQBUFS resets every buffer's bytesused to sizeimage
  # (w*h*4 for MJPEG), so the first frame a new reader dequeues is the JPEG plus stale bytes;
  # later frames carry the written size. Readers must (and real MJPEG decoders do) stop at EOI.
  timeout 10 v4l2-ctl -d /dev/video2 --verbose --stream-mmap --stream-count=3 --stream-to=/tmp/l2.raw > /tmp/l2.v 2>&1
  jsize=$(wc -c < $FIX/obama-640x480.jpg)
  used=$(sed -n 's/.*bytesused: *\([0-9]*\).*/\1/p' /tmp/l2.v | tr '\n' ' ')
  head2=$(od -An -tx1 -N2 /tmp/l2.raw | tr -d ' ')
  set -- $used
  if [ $# != 3 ] || [ "$head2" != ffd8 ] || [ "$2" != "$jsize" ] || [ "$3" != "$jsize" ]; then
    bad="$bad MJPEG frames of $used bytes starting $head2 (the $jsize-byte JPEG wanted);"
  fi
  mjpeg_used=$used
  stop_feed $p1; stop_feed $p2
  [ -z "$bad" ] && pass infra-loopback "YUYV (PPM via feed) frames match the PPM; MJPEG frames of $mjpeg_used bytes (JPEG: $jsize)" \
    || fail infra-loopback "$bad"
}

infra_stall() {
  start_feed /dev/video3 $FIX/obama-640x480.ppm 640 480 YUYV 15 --stall-after 30 || { fail infra-stall "feed did not start"; return; }
  p=$FEED_PID
  timeout 6 v4l2-ctl -d /dev/video3 --stream-mmap --stream-count=100 --stream-to=/tmp/l3.raw > /dev/null 2>&1
  rc=$?
  frames=$(( $(wc -c < /tmp/l3.raw) / (640 * 480 * 2) ))
  stalled=$(grep -c stalled "$W/feed-video3.log")
  stop_feed $p
  start_feed /dev/video3 $FIX/obama-640x480.ppm 640 480 YUYV 15 || { fail infra-stall "feed (2) did not start"; return; }
  p=$FEED_PID
  sleep 1; kill -USR1 $p; sleep 1
  usr1=$(grep -c 'stalled' "$W/feed-video3.log")
  running $p && alive=yes || alive=no
  stop_feed $p
  if [ "$rc" -ne 0 ] && [ "$frames" -le 31 ] && [ "$stalled" = 1 ] && [ "$usr1" = 1 ] && [ $alive = yes ]; then
    pass infra-stall "reader got $frames frames then blocked (timeout rc $rc); SIGUSR1 stalls too, fd kept open"
  else
    fail infra-stall "reader rc $rc, $frames frames, stalled-lines $stalled/$usr1, feed alive $alive"
  fi
}

infra_gpio() {
  setup_gpio_sim || { fail infra-gpio-sim "gpio-sim chip not created"; return; }
  gpiodetect > "$W/gpiodetect.txt" 2>&1
  gpioinfo "$GPIO_CHIP" > "$W/gpioinfo.txt" 2>&1
  idle=$(gpioget "$GPIO_CHIP" 17 22 23 | tr -d '\n')
  echo pull-down > "$GPIO_SYSFS/sim_gpio22/pull"
  low=$(gpioget "$GPIO_CHIP" 22)
  echo pull-up > "$GPIO_SYSFS/sim_gpio22/pull"
  gpiomon -n 4 -F '%e %s.%n' "$GPIO_CHIP" 17 > /tmp/mon.txt 2>&1 &
  m=$!
  sleep 1
  p1=$(press 17 5)
  p2=$(press 17 200)
  n=30
  while [ $n -gt 0 ] && running $m; do usleep 100000; n=$((n - 1)); done
  running $m && kill $m
  edges=$(wc -l < /tmp/mon.txt)
  trace "gpiomon: $(tr '\n' ' ' < /tmp/mon.txt); $p1; $p2"
  if [ "$idle" = "1 1 1" ] || [ "$idle" = "111" ]; then ok_idle=1; else ok_idle=0; fi
  if [ $ok_idle = 1 ] && [ "$low" = 0 ] && [ "$edges" = 4 ]; then
    pass infra-gpio-sim "$GPIO_CHIP lines 17/22/23 idle high, pull-down reads 0, 4 edges for a 5 ms and a 200 ms press ($p1)"
  else
    fail infra-gpio-sim "idle '$idle', pulled '$low', gpiomon saw $edges edges: $(tr '\n' ' ' < /tmp/mon.txt)"
  fi
}

trace "plan infra"
infra_vivid
infra_unbind
infra_fault
infra_loopback
infra_stall
infra_gpio
trace "plan infra done"
