// DramProbe: the machine's DRAM read bandwidth as a program here can see it, the ceiling a
// decoded token's weight stream is measured against (`nibble bench --dram`, and
// `nibble_bench --benchmark_filter=dram_read`).
//
// A buffer far larger than any cache here (1 GiB by default; a t2 read of 128 MB or more
// already runs at DRAM speed on this machine) is read once per reading by a pool's threads,
// each streaming one contiguous share (a static split, whole pages). To be a ceiling and not
// a figure a kernel can beat, it reads the way the fastest code could: the ISA's sum_words
// (its widest loads, a prefetch 2 KiB ahead; measured here, 8-byte loads gave 19.2-20.6 GB/s
// at two threads against 23.6-24.8 GB/s with 64-byte loads, and without the prefetch 64-byte
// loads gave 20.2-21.7), from huge pages where the system grants them (HugePageAllocator, as
// the decode kernel's panels).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/huge_page_allocator.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "kernels/kernel_table.h"

namespace nibble {

class DramProbe {
 public:
  static constexpr size_t kDefaultBytes = size_t{1} << 30;
  static constexpr size_t kPageBytes = 4096;

  // A buffer of `bytes` (a positive multiple of kPageBytes), every 64-bit word j set to
  // word_at(j) up front, so a reading faults in no page.
  static Result<DramProbe> create(size_t bytes = kDefaultBytes);

  struct Reading {
    double gb_per_s = 0;
    uint64_t checksum = 0;  // sum of the buffer's words modulo 2^64: what was read
  };

  // One read of the whole buffer on `pool`'s threads with `table`'s sum_words.
  Reading read(ThreadPool& pool, const KernelTable& table = kernels()) const;

  size_t bytes() const { return buffer_.size(); }

  // The buffer's 64-bit word j (little-endian).
  static uint64_t word_at(size_t j) { return static_cast<uint64_t>(j) * 0x9E3779B97F4A7C15ull; }

 private:
  explicit DramProbe(size_t bytes) : buffer_(bytes) {}

  std::vector<uint8_t, HugePageAllocator<uint8_t>> buffer_;
};

}  // namespace nibble
