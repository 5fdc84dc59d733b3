#!/usr/bin/env bash
# Installs, builds and runs the test suite through CTest.
#   scripts/test.sh            every stage below, in order (what CI runs)
#   scripts/test.sh STAGE...   only those stages: unit | asan | fuzz
# unit: Release build, CTest labels `fast` and `model` (add NIBBLE_SLOW=1 for `slow`).
# asan: ASan+UBSan build, the `fast` tests plus one model smoke test.
# fuzz: clang libFuzzer build, each target for FUZZ_SECONDS (default 20) seconds or FUZZ_RUNS
#       executions, whichever comes first (fuzz/README.md: the long local run).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(unit asan fuzz)

if [ ! -d "$NIBBLE_MODELS" ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "nibble: CI=true but the shared models are missing at $NIBBLE_MODELS" >&2
    exit 1
  fi
  echo "nibble: warning: no models at $NIBBLE_MODELS; model tests will be skipped" >&2
fi

install_packages "${NIBBLE_PACKAGES[@]}"

run_unit() {
  configure_and_build build -DCMAKE_BUILD_TYPE=Release
  local labels="fast|model"
  [ "${NIBBLE_SLOW:-0}" = "1" ] && labels="fast|model|slow"
  (cd "$NIBBLE_ROOT/build" && ctest -L "$labels" --output-on-failure -j "$JOBS")
}

run_asan() {
  # -O1 -g1: sanitizer builds compile much faster than -O2 -g and still run the suite quickly.
  configure_and_build build-asan -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DNIBBLE_SANITIZE=ON
  (cd "$NIBBLE_ROOT/build-asan" && \
     ctest -L fast --output-on-failure -j "$JOBS" && \
     ctest -R 'ModelSmoke' --output-on-failure)
}

run_fuzz() {
  install_packages "${NIBBLE_FUZZ_PACKAGES[@]}"
  # The build also writes the generated seed corpora (target fuzz_seeds).
  CC=clang CXX=clang++ configure_and_build build-fuzz -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -g1" -DNIBBLE_FUZZ=ON
  local seconds="${FUZZ_SECONDS:-20}" runs="${FUZZ_RUNS:--1}"
  local corpus_root="$NIBBLE_ROOT/build-fuzz/corpus"
  for target in "$NIBBLE_ROOT"/build-fuzz/fuzz/*_fuzz; do
    local name; name="$(basename "$target")"
    mkdir -p "$corpus_root/$name"
    local log="$corpus_root/$name.log"
    # libFuzzer adds new inputs to the first directory only: the working corpus. After it
    # the generated seeds, then the committed regression inputs (fuzz/seeds/, replayed first).
    local corpora=("$corpus_root/$name" "$NIBBLE_ROOT/build-fuzz/fuzz/seeds/$name")
    [ -d "$NIBBLE_ROOT/fuzz/seeds/$name" ] && corpora+=("$NIBBLE_ROOT/fuzz/seeds/$name")
    echo "fuzz: $name for ${seconds}s"
    # libFuzzer exits non-zero on a crash, a leak, a timeout or an over-limit allocation.
    if ! "$target" -max_total_time="$seconds" -runs="$runs" -rss_limit_mb=1024 -malloc_limit_mb=512 -timeout=5 \
         -print_final_stats=1 "${corpora[@]}" > "$log" 2>&1; then
      tail -n 40 "$log"
      echo "fuzz: $name FAILED (log: $log)" >&2
      return 1
    fi
    grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss' "$log" | tr '\n' ' '
    echo
  done
}

for stage in "${stages[@]}"; do
  case "$stage" in
    unit) run_unit ;;
    asan) run_asan ;;
    fuzz) run_fuzz ;;
    *) echo "scripts/test.sh: unknown stage '$stage' (expected unit, asan or fuzz)" >&2; exit 2 ;;
  esac
done
