// The panels' layout (kernels/a8_panels.h): each 16-row block is one forward stream of
// units, each unit its groups' codes and then one line of their scales. The kernels'
// parity tests check that every ISA reads what put_panel_row wrote; these pin where it
// writes, so a layout both sides agree on but that interleaves differently fails here.
#include <cstring>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/a8_panels.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/quantized_matrix.h"

namespace nibble {
namespace {

QuantizedMatrix random_a8(int rows, int cols, WeightCodec codec, int group, ScaleType scale) {
  std::mt19937 rng(static_cast<uint32_t>(rows * 1000 + cols + group));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  DenseMatrix w;
  w.rows = rows;
  w.cols = cols;
  w.data.resize(static_cast<size_t>(rows) * cols);
  for (float& v : w.data) v = normal(rng);
  auto q = quantize_matrix(w, QuantFormat{codec, group, scale}, ActivationMode::kInt8Token, "panels");
  EXPECT_TRUE(q.ok()) << (q.ok() ? "" : q.error().message);
  return std::move(*q);
}

A8Panels build(const QuantizedMatrix& m) {
  A8Panels p = allocate_a8_panels(m);
  const QMatrixView view = view_of(m);
  std::vector<int8_t> codes(static_cast<size_t>(p.layout.chunks_per_row) * panel_chunk_elements(m));
  for (int r = 0; r < m.rows; ++r) {
    scalar::unpack_row_codes(view, r, codes.data());
    put_panel_row(p, m, r, codes.data());
  }
  return p;
}

TEST(A8Panels, OffsetsOfARaggedInt4F16Matrix) {
  // 100 columns in groups of 32: 13 chunks of 8 codes, groups of 4 chunk slots (the last
  // group holds one chunk), two groups per unit (16 f16 scales each fill half a line).
  // Five groups (160 columns) leave the last unit one group and its scales.
  const QuantizedMatrix m = random_a8(20, 100, WeightCodec::kInt4Sym, 32, ScaleType::kF16);
  const A8Panels p = build(m);
  const PanelLayout& l = p.layout;
  EXPECT_EQ(l.chunks_per_row, 13);
  EXPECT_EQ(l.group_chunks, 4);
  EXPECT_EQ(l.unit_groups, 2);
  EXPECT_EQ(l.unit_bytes, 576u);    // 8 chunks, then the scales line
  EXPECT_EQ(l.block_bytes, 1152u);  // two units
  EXPECT_EQ(p.bytes.size(), 2 * 1152u);
  // Block 1: group 2 opens its second unit, group 3 follows it; their scales come after.
  EXPECT_EQ(panel_offsets::group_codes(l, 1, 2), 1152u + 576u);
  EXPECT_EQ(panel_offsets::group_codes(l, 1, 3), 1152u + 576u + 256u);
  EXPECT_EQ(panel_offsets::group_scales(l, 1, 2, 2), 1152u + 576u + 512u);
  EXPECT_EQ(panel_offsets::group_scales(l, 1, 3, 2), 1152u + 576u + 512u + 32u);
  const PanelLayout odd = allocate_a8_panels(random_a8(20, 160, WeightCodec::kInt4Sym, 32, ScaleType::kF16)).layout;
  EXPECT_EQ(odd.block_bytes, 2 * 576u + 5 * 64u);
  EXPECT_EQ(panel_offsets::group_codes(odd, 1, 4), odd.block_bytes + 2 * 576u);
  EXPECT_EQ(panel_offsets::group_scales(odd, 1, 4, 2), odd.block_bytes + 2 * 576u + 256u);
}

TEST(A8Panels, OneGroupPerUnitForF32ScalesAndPerChannelRows) {
  const QuantizedMatrix f32 = random_a8(16, 64, WeightCodec::kInt8Sym, 32, ScaleType::kF32);
  const PanelLayout a = allocate_a8_panels(f32).layout;
  EXPECT_EQ(a.group_chunks, 8);
  EXPECT_EQ(a.unit_groups, 1);  // 16 f32 scales fill a line
  EXPECT_EQ(a.unit_bytes, 9u * 64u);
  EXPECT_EQ(a.block_bytes, 2u * 9u * 64u);
  const QuantizedMatrix per_channel = random_a8(16, 72, WeightCodec::kInt4Sym, 0, ScaleType::kBF16);
  const PanelLayout b = allocate_a8_panels(per_channel).layout;
  EXPECT_EQ(b.group_chunks, 9);
  EXPECT_EQ(b.unit_groups, 1);  // one group per row: no second group to share the line
  EXPECT_EQ(b.block_bytes, 10u * 64u);
}

// Every code and scale of every row where the layout says, padding slots and padding rows
// at code 0 and scale 0.
TEST(A8Panels, EveryCodeAndScaleAtItsPlace) {
  for (WeightCodec codec : {WeightCodec::kInt4Sym, WeightCodec::kInt8Sym}) {
    for (ScaleType scale : {ScaleType::kF16, ScaleType::kF32}) {
      for (int group : {32, 16, 0}) {
        SCOPED_TRACE(testing::Message() << "codec " << static_cast<int>(codec) << " scale "
                                        << static_cast<int>(scale) << " group " << group);
        const QuantizedMatrix m = random_a8(20, 100, codec, group, scale);
        const A8Panels p = build(m);
        const PanelLayout& l = p.layout;
        const bool int4 = codec == WeightCodec::kInt4Sym;
        const int e = int4 ? 8 : 4;
        const size_t scale_bytes = scale == ScaleType::kF32 ? 4 : 2;
        const QMatrixView view = view_of(m);
        std::vector<int8_t> codes(static_cast<size_t>(l.chunks_per_row) * e);
        for (int r = 0; r < 32; ++r) {  // 20 rows, then the padding of the second block
          const int block = r / kPanelRows, lane = r % kPanelRows;
          std::fill(codes.begin(), codes.end(), 0);
          if (r < m.rows) scalar::unpack_row_codes(view, r, codes.data());
          for (int g = 0; g < m.n_groups; ++g) {
            const uint8_t* slots = p.bytes.data() + panel_offsets::group_codes(l, block, g);
            for (int s = 0; s < l.group_chunks; ++s) {
              const int k = g * l.group_chunks + s;  // past chunks_per_row: a padding slot
              for (int j = 0; j < 4; ++j) {
                const uint8_t byte = slots[static_cast<size_t>(s) * kPanelChunkBytes + 4 * lane + j];
                const int c0 = k < l.chunks_per_row ? codes[static_cast<size_t>(k) * e + j] : 0;
                if (int4) {
                  const int c1 = k < l.chunks_per_row ? codes[static_cast<size_t>(k) * e + 4 + j] : 0;
                  ASSERT_EQ(byte, (c0 + 8) | ((c1 + 8) << 4)) << "row " << r << " chunk " << k;
                } else {
                  ASSERT_EQ(static_cast<int8_t>(byte), c0) << "row " << r << " chunk " << k;
                }
              }
            }
            const uint8_t* at = p.bytes.data() + panel_offsets::group_scales(l, block, g, scale_bytes) + lane * scale_bytes;
            std::vector<uint8_t> expected(scale_bytes, 0);
            if (r < m.rows)
              std::memcpy(expected.data(), m.scales.data() + (static_cast<size_t>(r) * m.n_groups + g) * scale_bytes,
                          scale_bytes);
            ASSERT_EQ(std::memcmp(at, expected.data(), scale_bytes), 0) << "row " << r << " group " << g;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace nibble
