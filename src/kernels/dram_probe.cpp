#include "kernels/dram_probe.h"

#include <atomic>
#include <chrono>
#include <cstring>
#include <new>

#include "core/stopwatch.h"

namespace nibble {

Result<DramProbe> DramProbe::create(size_t bytes) {
  if (bytes == 0 || bytes % kPageBytes != 0)
    return make_error("the DRAM probe's buffer must be a positive multiple of {} bytes, not {}", kPageBytes, bytes);
  try {
    DramProbe probe(bytes);
    uint8_t* data = probe.buffer_.data();
    for (size_t j = 0; j < bytes / 8; ++j) {
      const uint64_t word = word_at(j);
      std::memcpy(data + j * 8, &word, 8);
    }
    return probe;
  } catch (const std::bad_alloc&) {
    return make_error("could not allocate {} bytes for the DRAM probe's buffer", bytes);
  }
}

DramProbe::Reading DramProbe::read(ThreadPool& pool, const KernelTable& table) const {
  std::atomic<uint64_t> checksum{0};
  const uint8_t* data = buffer_.data();
  const auto start = std::chrono::steady_clock::now();
  pool.parallel_for(buffer_.size(), kPageBytes, [&](size_t begin, size_t end) {
    checksum.fetch_add(table.sum_words(data + begin, (end - begin) / 8), std::memory_order_relaxed);
  });
  const double seconds = seconds_since(start);
  return Reading{static_cast<double>(buffer_.size()) / seconds * 1e-9, checksum.load()};
}

}  // namespace nibble
