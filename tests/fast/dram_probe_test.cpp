// The streaming read (KernelTable::sum_words) on every ISA against a plain loop, and
// DramProbe, the DRAM bandwidth probe built on it.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/thread_pool.h"
#include "kernels/dram_probe.h"
#include "kernels/kernel_table.h"

namespace nibble {
namespace {

uint64_t plain_sum(const uint8_t* data, size_t n_words) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n_words; ++i) {
    uint64_t word;
    std::memcpy(&word, data + i * 8, 8);
    sum += word;
  }
  return sum;
}

TEST(SumWords, ExactOnEveryIsaForEveryLengthAndAlignment) {
  std::mt19937_64 rng(20261130);
  std::vector<uint8_t> bytes(8 * 600 + 8);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());  // full-range words: the sums wrap
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 40; ++n) lengths.push_back(n);  // every remainder of the 16- and 8-word steps
  for (size_t n : {127, 128, 129, 255, 256, 257, 511, 599, 600}) lengths.push_back(n);
  for (Isa isa : supported_isas()) {
    const KernelTable* table = *kernel_table_for(isa);
    for (size_t offset = 0; offset < 8; ++offset) {
      for (size_t n : lengths) {
        ASSERT_EQ(table->sum_words(bytes.data() + offset, n), plain_sum(bytes.data() + offset, n))
            << isa_name(isa) << " offset " << offset << " words " << n;
      }
    }
  }
}

TEST(DramProbe, RefusesABufferThatIsNotWholePages) {
  for (size_t bytes : {size_t{0}, size_t{4097}, size_t{100}}) {
    auto probe = DramProbe::create(bytes);
    ASSERT_FALSE(probe.ok()) << bytes;
    EXPECT_NE(probe.error().message.find(std::to_string(bytes)), std::string::npos) << probe.error().message;
  }
}

TEST(DramProbe, ReadsEveryWordOnAnyThreadCountAndIsa) {
  constexpr size_t kBytes = (size_t{1} << 20) + 3 * DramProbe::kPageBytes;  // pieces of unequal page counts
  auto probe = DramProbe::create(kBytes);
  ASSERT_TRUE(probe.ok()) << probe.error().message;
  ASSERT_EQ(probe->bytes(), kBytes);
  uint64_t expected = 0;
  for (size_t j = 0; j < kBytes / 8; ++j) expected += DramProbe::word_at(j);
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (Isa isa : supported_isas()) {
      const DramProbe::Reading reading = probe->read(pool, **kernel_table_for(isa));
      EXPECT_EQ(reading.checksum, expected) << isa_name(isa) << " threads " << threads;
      EXPECT_TRUE(std::isfinite(reading.gb_per_s) && reading.gb_per_s > 0.0) << reading.gb_per_s;
    }
  }
}

}  // namespace
}  // namespace nibble
