#!/usr/bin/env bash
# Fails when an object outside src/kernels/<isa>/ contains VEX/EVEX (AVX and later)
# instructions: baseline code must run on any x86-64 CPU, and only the kernel table may
# send work to ISA-specific code after checking CPUID.
set -euo pipefail
status=0
for object in "$@"; do
  case "$object" in
    */kernels/avx2/*|*/kernels/avx512/*|*/kernels/amx/*) continue ;;
  esac
  # Every VEX/EVEX mnemonic starts with 'v' (verr/verw are legacy and excluded).
  hits=$(objdump -d --no-show-raw-insn "$object" | grep -P '^\s+[0-9a-f]+:\s+v(?!err|erw)[a-z0-9]+\b' | head -3 || true)
  if [ -n "$hits" ]; then
    echo "AVX instructions in baseline object $object:"
    echo "$hits"
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "checked $# objects: no AVX outside src/kernels/<isa>/"
exit "$status"
