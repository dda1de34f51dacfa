#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 120) with one job, then prints a
# table: executions, final coverage (cov = edges, ft = features), coverage gained in the last
# quarter of the run (plateau evidence: ~0 means it had levelled off) and crashes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Env: SANITIZER=address (default) or none; FUZZ_TOOLCHAIN=+nightly (default when installed,
# else stable with RUSTC_BOOTSTRAP=1). Needs `cargo install cargo-fuzz --locked`.
# The working corpus grows in fuzz/target/corpus/<target> (git-ignored); the committed seeds in
# fuzz/corpus/<target> are only read. Crash inputs land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-120}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(ls fuzz_targets | sed 's/\.rs$//' | sort)
fi
san=${SANITIZER:-address}
if [[ -z "${FUZZ_TOOLCHAIN:-}" ]] && rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  FUZZ_TOOLCHAIN=+nightly
fi
cargo_fuzz() {
  if [[ -n "${FUZZ_TOOLCHAIN:-}" ]]; then
    cargo "$FUZZ_TOOLCHAIN" fuzz "$@"
  else
    RUSTC_BOOTSTRAP=1 cargo fuzz "$@"
  fi
}

echo "== build (sanitizer: $san)"
cargo_fuzz build -s "$san"

mkdir -p target/logs
rows=()
for t in "${targets[@]}"; do
  work=target/corpus/$t
  mkdir -p "$work" "artifacts/$t"
  before=$(ls "artifacts/$t" | wc -l)
  log=target/logs/$t.log
  echo "== $t: ${secs}s"
  start=$(date +%s)
  # Each libFuzzer line is prefixed with the seconds since the start.
  set +e
  cargo_fuzz run -s "$san" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$secs" -print_final_stats=1 -timeout=20 -rss_limit_mb=2560 2>&1 |
    while IFS= read -r line; do echo "$(( $(date +%s) - start )) $line"; done >"$log"
  set -e
  after=$(ls "artifacts/$t" | wc -l)
  rows+=("$(awk -v t="$t" -v secs="$secs" -v crashes=$((after - before)) '
    / cov: / {
      for (i = 1; i <= NF; i++) { if ($i == "cov:") c = $(i+1); if ($i == "ft:") f = $(i+1); if ($i == "corp:") k = $(i+1) }
      if ($1 <= 0.75 * secs) { c75 = c; f75 = f }
      if ($2 ~ /^#[0-9]+$/) n = substr($2, 2)
    }
    /stat::number_of_executed_units:/ { n = $3 }
    END {
      ran = $1
      printf "%-13s %5s %10s %8.0f %6s %7s %9s %9s %6s %7s\n", t, ran, n, n / (ran > 0 ? ran : 1), c, f,
        c - c75, f - f75, k, crashes
    }' "$log")")
  tail -n 3 "$log" | sed 's/^/   /'
done

echo
printf "%-13s %5s %10s %8s %6s %7s %9s %9s %6s %7s\n" target secs execs exec/s cov ft \
  "new_cov4" "new_ft4" corpus crashes
printf "%s\n" "${rows[@]}"
echo "(new_cov4/new_ft4: coverage gained in the last quarter of the run; sanitizer: $san)"
