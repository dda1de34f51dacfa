#!/usr/bin/env bash
# Full-size random-weight GM-Arc-class networks for cost and memory counts (never for screening):
# iResNet-50 and two iResNet-100 in f32 (models/tools/make_iresnet.py) and int8
# (models/tools/qlinear_iresnet.py), plus a MANIFEST.toml with the shipped detector and dlib
# embedders, one entry per network and form, and GM-Arc's `[[ensemble]]` (r50 + two r100,
# variants plain/flip/grey/flip-grey) in each form. The files are too large for the repository
# (~700 MB in f32): they go to a folder outside git.
#
#   bash models/tools/heavy-models.sh [DIR]     # default target/heavy-models; ~25 min on 2 cores
#
# Deterministic (one torch thread): the same checkout and ../shared/faces write the same bytes;
# a file already present is kept (delete it to make it again). Prints each file's sha256.
# Needs Debian's python3-torch, python3-onnx, python3-numpy, python3-pil (/usr/bin/python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-target/heavy-models}
py=/usr/bin/python3
tools=models/tools
mkdir -p "$out"

# id file depth outputs seed
nets=(
  "gm-arc-r50 iresnet50_2out 50 2 0"
  "gm-arc-r100 iresnet100_2out 100 2 1"
  "glint360k-r100 iresnet100_1out 100 1 2"
)
for net in "${nets[@]}"; do
  read -r id file depth outputs seed <<< "$net"
  f32=$out/$file.onnx
  if [[ ! -s $f32 ]]; then
    "$py" $tools/make_iresnet.py "$f32.tmp" --depth "$depth" --outputs "$outputs" --classes 204 --seed "$seed" >&2
    mv "$f32.tmp" "$f32"
  fi
  int8=$out/${file}_int8.onnx
  if [[ ! -s $int8 ]]; then
    "$py" $tools/qlinear_iresnet.py quantize "$f32" "$int8.tmp" --form integer --activations u8 >&2
    mv "$int8.tmp" "$int8"
  fi
done
[[ -d $out/chips ]] || "$py" $tools/qlinear_iresnet.py chips "$out/chips" --count 100 --offset 1 >&2

# The shipped models (detector, dlib embedders) linked, so the folder is a whole models folder.
for f in models/*.onnx; do ln -sf "$(realpath "$f")" "$out/$(basename "$f")"; done

entry() { # entry ID FILE OUTPUTS
  local sum
  sum=$(sha256sum "$out/$2" | cut -d' ' -f1)
  cat <<EOF

[[model]]
id = "$1"
role = "embedder"
file = "$2"
sha256 = "$sum"
input_shape = [1, 3, 112, 112]
colour_order = "rgb"
mean = [127.5, 127.5, 127.5]
std = [127.5, 127.5, 127.5]
embedding_size = 512
metric = "cosine"
$([[ $3 == 2 ]] && echo 'output = "embedding"')
template = { size = [112, 112], points = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]] }
EOF
}
{
  cat models/MANIFEST.toml
  echo
  echo "# Random-weight GM-Arc-class networks made by models/tools/heavy-models.sh (cost counts only)."
  for net in "${nets[@]}"; do
    read -r id file _ outputs _ <<< "$net"
    entry "$id-f32" "$file.onnx" "$outputs"
    entry "$id-int8" "${file}_int8.onnx" "$outputs"
  done
  for form in f32 int8; do
    cat <<EOF

[[ensemble]]
id = "gm-arc-$form"
embedders = ["gm-arc-r50-$form", "gm-arc-r100-$form", "glint360k-r100-$form"]
variants = ["plain", "flip", "grey", "flip-grey"]
EOF
  done
} > "$out/MANIFEST.toml.tmp"
mv "$out/MANIFEST.toml.tmp" "$out/MANIFEST.toml"
(cd "$out" && sha256sum -- iresnet*.onnx MANIFEST.toml)
echo "heavy models in $out (HEAVY_MODELS=$out for examples/stage_count)" >&2
