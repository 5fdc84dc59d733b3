#!/usr/bin/env bash
# The main job on the demo model: install, build, then take tiny-llama-8m from
# $NIBBLE_MODELS (default ../shared/models), quantize it with a preset into a nibble file,
# check and run that file, and compare fp32 and quantized size and perplexity.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODEL="$NIBBLE_MODELS/tiny-llama-8m/model.bin"
TEXT="$NIBBLE_MODELS/text/indomain-valid-a.txt"
PRESET="${NIBBLE_PRESET:-a8w4_g256}"
if [ ! -f "$MODEL" ]; then
  cat >&2 <<MSG
nibble: no demo model at $MODEL.
Put the shared models beside the checkout (../shared/models) or point NIBBLE_MODELS at a
directory holding tiny-llama-8m/ (see ../shared/models/README.md for what it contains).
Any llama2.c checkpoint works too: build/nibble generate -m model.bin --tokenizer tokenizer.bin -p "..."
MSG
  exit 1
fi

install_packages "${NIBBLE_PACKAGES[@]}"
configure_and_build build -DCMAKE_BUILD_TYPE=Release
NIBBLE="$NIBBLE_ROOT/build/nibble"

QUANTIZED="$NIBBLE_ROOT/build/tiny-llama-8m-$PRESET.gguf"
echo "== quantize tiny-llama-8m with $PRESET into $QUANTIZED =="
"$NIBBLE" quantize -m "$MODEL" --recipe "$PRESET" -o "$QUANTIZED" | tail -n 4
"$NIBBLE" inspect -m "$QUANTIZED" --verify | tail -n 2
echo
echo "== generate, fp32 then the $PRESET file (greedy) =="
"$NIBBLE" generate -m "$MODEL" -p "The function returns" -n 40
"$NIBBLE" generate -m "$QUANTIZED" -p "The function returns" -n 40
echo
echo "== fp32 vs $PRESET: size and perplexity on the first 20 chunks of indomain-valid-a.txt =="
fp32_bytes=$("$NIBBLE" quantize -m "$MODEL" --recipe "linear=f32,embedding=f32,lm_head=f32" --json | \
             sed -n 's/.*"total_bytes":\([0-9]*\).*/\1/p')
q_json=$("$NIBBLE" quantize -m "$MODEL" --recipe "$PRESET" --json)
q_bytes=$(echo "$q_json" | sed -n 's/.*"total_bytes":\([0-9]*\).*/\1/p')
q_bpw=$(echo "$q_json" | sed -n 's/.*"bits_per_weight":\([0-9.]*\).*/\1/p')
echo "weight matrices: fp32 $fp32_bytes bytes, $PRESET $q_bytes bytes ($q_bpw bits per weight)"
echo "files: $(stat -c %s "$MODEL") bytes (llama2.c fp32), $(stat -c %s "$QUANTIZED") bytes ($PRESET nibble file)"
"$NIBBLE" perplexity -m "$QUANTIZED" -f "$TEXT" --ctx 256 --chunks 20 --kl-ref "$MODEL"
