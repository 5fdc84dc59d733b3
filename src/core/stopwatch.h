// Wall time since a steady_clock reading, in seconds: the one way every timed figure
// (prefill and decode speed, load and quantize time, the DRAM probe) is taken.
#pragma once

#include <chrono>

namespace nibble {

inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace nibble
