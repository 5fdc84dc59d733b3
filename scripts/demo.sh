#!/usr/bin/env bash
# The main job on the demo model: install, build, then load tiny-llama-8m from
# $NIBBLE_MODELS (default ../shared/models), generate text and measure its perplexity.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MODEL_DIR="$NIBBLE_MODELS/tiny-llama-8m"
if [ ! -f "$MODEL_DIR/model.bin" ]; then
  cat >&2 <<MSG
nibble: no demo model at $MODEL_DIR.
Put the shared models beside the checkout (../shared/models) or point NIBBLE_MODELS at a
directory holding tiny-llama-8m/ (see ../shared/models/README.md for what it contains).
Any llama2.c checkpoint works too: build/nibble generate -m model.bin --tokenizer tokenizer.bin -p "..."
MSG
  exit 1
fi

install_packages "${NIBBLE_PACKAGES[@]}"
configure_and_build build -DCMAKE_BUILD_TYPE=Release
NIBBLE="$NIBBLE_ROOT/build/nibble"

echo "== inspect =="
"$NIBBLE" inspect -m "$MODEL_DIR/hf" | head -n 20
echo
echo "== generate (fp32, greedy) =="
"$NIBBLE" generate -m "$MODEL_DIR/model.bin" -p "The function returns" -n 48 --temp 0
echo
echo "== perplexity (fp32, first 20 chunks of text/indomain-valid-a.txt) =="
"$NIBBLE" perplexity -m "$MODEL_DIR/model.bin" -f "$NIBBLE_MODELS/text/indomain-valid-a.txt" --ctx 256 --chunks 20
