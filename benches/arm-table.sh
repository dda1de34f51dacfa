#!/usr/bin/env bash
# The per-board cost table: guest instructions under qemu-aarch64 for each stage of the
# capture path, on three board CPUs, measured the same way for every row. qemu-user's QEMU_CPU picks
# the core: cortex-a53 (Pi Zero 2 W, Pi 3), cortex-a72 (Pi 4), cortex-a76 (Pi 5: has the
# dot-product instructions, which tract's int8 kernels use when present). Counts repeat within
# ~0.5% run to run (hash seeds, allocation); a stage = count(examples/stage_count STAGE 2) - count(STAGE 1), so the process
# start and the model loading cancel out (for `load`, one more load).
#
#   bash benches/arm-table.sh                  # every CPU and stage (~10 min of qemu runs after the build)
#   ARM_CPUS=cortex-a72 ARM_STAGES="detect load" bash benches/arm-table.sh
#   ARM_STAGES="r50-f32 r50-int8" ARM_CPUS=cortex-a76 bash benches/arm-table.sh   # heavy models
#
# Heavy stages (GM-Arc-class networks, examples/stage_count.rs): r50-f32 r50-int8 r100-f32
# r100-int8 ensemble-photo ensemble-session-3, read from HEAVY_MODELS (default
# target/heavy-models, made by models/tools/heavy-models.sh when missing). Not in the default
# stages (hours of qemu on three CPUs): name them in ARM_STAGES, or ARM_STAGES=heavy for all six.
# A heavy stage = count(N=1) - count(N=0) (the load is seconds of qemu, one run less).
#
# Prints one line per figure, exactly `arm <cpu> <stage> <instructions>`, then a markdown table
# (millions of instructions). Needs the aarch64 cross toolchain and qemu-user (docs/testing.md:
# aarch64 under qemu) and ../shared/tools/arm-insn-count.
set -euo pipefail
cd "$(dirname "$0")/.."
cpus=${ARM_CPUS:-cortex-a53 cortex-a72 cortex-a76}
stages=${ARM_STAGES:-detect align embed-f32 embed-qdq embed-qlinear embed-int8 photo-tta session-3 load preview}
heavy_stages="r50-f32 r50-int8 r100-f32 r100-int8 ensemble-photo ensemble-session-3"
[[ $stages == heavy ]] && stages=$heavy_stages
counter=../shared/tools/arm-insn-count
[[ -x $counter ]] || { echo "arm-table: no $counter" >&2; exit 1; }
target=aarch64-unknown-linux-gnu
cargo build --locked --release --example stage_count --target "$target" >&2
bin=${CARGO_TARGET_DIR:-target}/$target/release/examples/stage_count

count() { # count CPU STAGE N: guest instructions of one run
  local out
  out=$(QEMU_CPU=$1 "$counter" "$bin" "$2" "$3" 2>&1) || { echo "arm-table: $2 $3 on $1 failed: $out" >&2; return 1; }
  awk '/^guest-instructions/ { print $2 }' <<< "$out"
}

is_heavy() { [[ " $heavy_stages " == *" $1 "* ]]; }
for stage in $stages; do
  if is_heavy "$stage"; then
    heavy=${HEAVY_MODELS:-target/heavy-models}
    [[ -f $heavy/MANIFEST.toml ]] || bash models/tools/heavy-models.sh "$heavy" >&2
    export HEAVY_MODELS=$heavy
    break
  fi
done

declare -A cost runs
for cpu in $cpus; do
  # embed-int8, photo-tta, session-3 and load use the embedder the device runs on this CPU.
  runs[$cpu]=$(QEMU_CPU=$cpu qemu-aarch64 -L /usr/aarch64-linux-gnu "$bin" which-embedder 0)
  for stage in $stages; do
    lo=1
    is_heavy "$stage" && lo=0
    one=$(count "$cpu" "$stage" $lo)
    two=$(count "$cpu" "$stage" $((lo + 1)))
    cost[$cpu/$stage]=$((two - one))
    echo "arm $cpu $stage ${cost[$cpu/$stage]}"
  done
done

echo
printf '| stage |'
for cpu in $cpus; do printf ' %s |' "$cpu"; done
printf '\n|---|'
for _ in $cpus; do printf -- '---:|'; done
echo
for stage in $stages; do
  printf '| %s |' "$stage"
  for cpu in $cpus; do
    awk -v n="${cost[$cpu/$stage]}" 'BEGIN { printf " %.1f M |", n / 1e6 }'
  done
  echo
done
echo
for cpu in $cpus; do echo "- $cpu: the device runs ${runs[$cpu]} (embed-int8, photo-tta, session-3, load, preview)"; done
