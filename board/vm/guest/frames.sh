# Frame sampling in the guest, the same 8 points `gestaltcam doctor` reports on its "frame"
# line: row h/2, x = (2i+1)w/16 for i = 0..7 (the centre of each of vivid's 8 colour bars).

# vivid's default test pattern on its Webcam input is "75% Colorbar": white, yellow, cyan,
# green, magenta, red, blue, black at 75% (191) and 0 (checked by the infra plan's captures).
BARS="191,191,191 191,191,0 0,191,191 0,191,0 191,0,191 191,0,0 0,0,191 0,0,0"

# bytes FILE OFFSET N: N unsigned bytes at OFFSET, space separated
bytes() { od -An -tu1 -v -j "$2" -N "$3" "$1" | tr -s ' \n' '  ' | sed 's/^ //; s/ $//'; }

# yuv2rgb Y U V: BT.601 limited range -> "r,g,b"
yuv2rgb() {
  awk -v y="$1" -v u="$2" -v v="$3" 'function c(x) { x = int(x + 0.5); return x < 0 ? 0 : x > 255 ? 255 : x }
    BEGIN { yy = 1.164383 * (y - 16); u -= 128; v -= 128
            printf "%d,%d,%d", c(yy + 1.596027 * v), c(yy - 0.391762 * u - 0.812968 * v), c(yy + 2.017232 * u) }'
}

# samples_raw FILE YUYV|NV12 W H: the 8 samples of the first frame in a raw capture
samples_raw() {
  local f=$1 fmt=$2 w=$3 h=$4 x y yv s i out=
  y=$((h / 2))
  for i in 0 1 2 3 4 5 6 7; do
    x=$(( (2 * i + 1) * w / 16 ))
    if [ "$fmt" = YUYV ]; then
      x=$((x - x % 2))
      set -- $(bytes "$f" $(( (y * w + x) * 2 )) 4)
      s=$(yuv2rgb "$1" "$2" "$4")
    else # NV12: Y plane, then interleaved U,V at half resolution
      yv=$(bytes "$f" $((y * w + x)) 1)
      set -- $(bytes "$f" $(( w * h + (y / 2) * w + (x / 2) * 2 )) 2)
      s=$(yuv2rgb "$yv" "$1" "$2")
    fi
    out="$out${out:+ }$s"
  done
  echo "$out"
}

# max_dev "r,g,b ..." "r,g,b ...": the largest channel difference between two sample lists
# (999 when they do not both have 8 samples)
max_dev() {
  echo "$1|$2" | awk -F'|' '{ n = split($1, a, / +/); m = split($2, b, / +/)
    if (n != 8 || m != 8) { print 999; exit }
    d = 0
    for (i = 1; i <= 8; i++) { split(a[i], p, ","); split(b[i], q, ",")
      for (j = 1; j <= 3; j++) { e = p[j] - q[j]; if (e < 0) e = -e; if (e > d) d = e } }
    print d }'
}
