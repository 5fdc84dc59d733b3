# Shared by scripts/demo.sh and scripts/test.sh: install what the build needs (Debian
# packages only), then configure and build. Source it; do not run it.
set -euo pipefail

NIBBLE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NIBBLE_MODELS="${NIBBLE_MODELS:-$NIBBLE_ROOT/../shared/models}"
JOBS="${JOBS:-$(nproc)}"

# Build tools and the libraries named in README "Dependencies".
NIBBLE_PACKAGES=(g++ cmake ninja-build pkg-config libgtest-dev libgmock-dev libbenchmark-dev
                 libsentencepiece-dev nlohmann-json3-dev libcli11-dev libfmt-dev libxxhash-dev libeigen3-dev)
# Only the fuzz stage needs clang and its sanitizer runtimes.
NIBBLE_FUZZ_PACKAGES=(clang libclang-rt-dev)

install_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "nibble: installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

# configure_and_build BUILD_DIR [cmake options...]
configure_and_build() {
  local dir="$1"; shift
  cmake -S "$NIBBLE_ROOT" -B "$NIBBLE_ROOT/$dir" -G Ninja "$@" >/dev/null
  cmake --build "$NIBBLE_ROOT/$dir" -j "$JOBS"
}
