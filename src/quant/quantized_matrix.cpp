#include "quant/quantized_matrix.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <span>

#include "core/file.h"
#include "core/thread_pool.h"
#include "kernels/kernel_table.h"
#include "kernels/qmatrix_view.h"
#include "kernels/scalar/qlinear_scalar.h"
#include "quant/group_quantizers.h"
#include "quant/scale_search.h"

namespace nibble {

size_t packed_row_bytes(WeightCodec codec, int cols) {
  return codec == WeightCodec::kInt8Sym ? static_cast<size_t>(cols) : (static_cast<size_t>(cols) + 1) / 2;
}

float QuantizedMatrix::scale(int r, int g) const {
  const int bytes = scale_type_bytes(format.scale_type);
  return load_scale(format.scale_type, scales.data() + (static_cast<size_t>(r) * n_groups + g) * bytes);
}

Status check_scales_finite(const QuantizedMatrix& m, const std::string& name) {
  for (int r = 0; r < m.rows; ++r)
    for (int g = 0; g < m.n_groups; ++g)
      if (const float s = m.scale(r, g); !std::isfinite(s))
        return make_error("tensor '{}': the scale of row {} group {} is {}; scales must be finite", name, r, g, s);
  return {};
}

int QuantizedMatrix::zero_point(int r, int g) const {
  return zero_points.empty() ? 0 : zero_points[static_cast<size_t>(r) * n_groups + g];
}

int QuantizedMatrix::code(int r, int i) const {
  const uint8_t* row = row_codes(r);
  if (format.codec == WeightCodec::kInt8Sym) return static_cast<int8_t>(row[i]);
  size_t byte;
  bool high;
  int4_position(cols, i, &byte, &high);
  const int u = high ? row[byte] >> 4 : row[byte] & 0x0f;
  return format.codec == WeightCodec::kInt4Sym ? u - 8 : u - zero_point(r, i / group);
}

void QuantizedMatrix::dequantize_row(int r, float* out) const {
  std::vector<int8_t> unpacked(static_cast<size_t>(cols));
  scalar::unpack_row_codes(*this, r, unpacked.data());
  scalar::dequantize_row_codes(*this, r, unpacked.data(), out);
}

Status validate_format(const QuantFormat& format, int cols, const std::string& name) {
  if (format.group_size < 0 || format.group_size > 65536)
    return make_error("{}: group_size must be 0 (per channel) or in [1, 65536], got {}", name,
                      format.group_size);
  if (format.group_size == 0 && cols > 65536)
    return make_error("{}: per-channel groups of {} elements exceed the int32-exact limit of 65536",
                      name, cols);
  return {};
}

void derive_a8_data(QuantizedMatrix& m, ThreadPool* pool) {
  m.code_sums.assign(static_cast<size_t>(m.rows) * m.n_groups, 0);
  const bool panels = panels_fit(m) && cpu_supports(Isa::kAvx512);
  m.panels = panels ? allocate_a8_panels(m) : A8Panels{};
  const QMatrixView view = view_of(m);
  // With panels, the row runs on to the end of its last chunk with zeros (zero weights).
  const size_t row_codes = panels ? static_cast<size_t>(m.panels.layout.chunks_per_row) * panel_chunk_elements(m)
                                  : static_cast<size_t>(m.cols);
  // Each row is unpacked once, for its group sums and its place in the panels (loading a
  // 1B-parameter a8 model does this for every weight, so no per-element position arithmetic).
  // Rows go out in whole panel blocks, so no two threads write the same panel bytes.
  std::atomic<bool> negatable{true};
  ThreadPool serial(1);  // runs inline: no threads
  (pool != nullptr ? *pool : serial).parallel_for(
      static_cast<size_t>(m.rows), kPanelRows,
      [&](size_t begin, size_t end) {
        std::vector<int8_t> codes(row_codes, 0);
        for (int r = static_cast<int>(begin); r < static_cast<int>(end); ++r) {
          scalar::unpack_row_codes(view, r, codes.data());
          int32_t* sums = m.code_sums.data() + static_cast<size_t>(r) * m.n_groups;
          for (int g = 0; g < m.n_groups; ++g) {
            const int last = std::min(m.cols, (g + 1) * m.group);
            int32_t sum = 0;
            for (int i = g * m.group; i < last; ++i) sum += codes[static_cast<size_t>(i)];
            sums[g] = sum;
          }
          if (panels && !put_panel_row(m.panels, m, r, codes.data()))
            negatable.store(false, std::memory_order_relaxed);
        }
      },
      ThreadPool::Split::kGuided);
  m.panels.negatable = negatable.load(std::memory_order_relaxed);
  // The panels now hold every code and scale the kernels on this CPU read, so codes and
  // scales borrowed from a mapped file go back to the OS (read again from the file should
  // anything else touch them: saving, an embedding row of a tied table, another ISA's
  // kernel). Without this, a loaded ~1B a8 model kept both copies resident.
  if (panels) {
    release_mapped_pages(std::as_bytes(m.codes.span()));
    release_mapped_pages(std::as_bytes(m.scales.span()));
  }
}

Status validate_importance(std::span<const float> importance, int cols, const std::string& name) {
  if (importance.size() != static_cast<size_t>(cols))
    return make_error("{}: the importance vector has {} entries; it needs one per input channel ({})", name,
                      importance.size(), cols);
  for (size_t i = 0; i < importance.size(); ++i)
    if (!(importance[i] >= 0.0f) || !std::isfinite(importance[i]))
      return make_error("{}: importance of input channel {} is {}; importances must be finite and >= 0", name, i,
                        importance[i]);
  return {};
}

Status validate_quantize_input(const DenseMatrix& w, const QuantFormat& format, ActivationMode activation,
                              const std::string& name) {
  NIBBLE_CHECK_OK(validate_format(format, w.cols, name));
  if (activation == ActivationMode::kInt8Token && format.codec == WeightCodec::kInt4Asym)
    return make_error("{}: dynamic int8 activations need symmetric weight codes (int8_sym or int4_sym), "
                      "got {}", name, codec_name(format.codec));
  for (size_t i = 0; i < w.data.size(); ++i)
    if (!std::isfinite(w.data[i]))
      return make_error("{}: weight [{}][{}] is {}, which cannot be quantized", name, i / w.cols,
                        i % w.cols, w.data[i]);
  return {};
}

QuantizedMatrix allocate_quantized(const QuantFormat& format, ActivationMode activation, int rows, int cols) {
  QuantizedMatrix m;
  m.format = format;
  m.activation = activation;
  m.rows = rows;
  m.cols = cols;
  m.group = format.effective_group(cols);
  m.n_groups = (cols + m.group - 1) / m.group;
  m.row_bytes = packed_row_bytes(format.codec, cols);
  m.codes.assign(static_cast<size_t>(rows) * m.row_bytes, 0);
  m.scales.assign(static_cast<size_t>(rows) * m.n_groups * scale_type_bytes(format.scale_type), 0);
  if (format.asymmetric()) m.zero_points.assign(static_cast<size_t>(rows) * m.n_groups, 0);
  return m;
}

void set_group_scale(QuantizedMatrix& m, int r, int g, float stored_scale) {
  const size_t slot = static_cast<size_t>(r) * m.n_groups + g;
  store_scale(stored_scale, m.format.scale_type, m.scales.data() + slot * scale_type_bytes(m.format.scale_type));
}

void pack_int4_row(QuantizedMatrix& m, int r, const uint8_t* nibbles) {
  uint8_t* out = m.codes.data() + static_cast<size_t>(r) * m.row_bytes;
  // Padding nibbles (odd-length last block) hold a zero weight: u = 8, or u = z.
  const uint8_t pad = m.format.asymmetric() ? m.zero_points[static_cast<size_t>(r) * m.n_groups + m.n_groups - 1] : 8;
  std::fill(out, out + m.row_bytes, static_cast<uint8_t>(pad | (pad << 4)));
  for (int i = 0; i < m.cols; ++i) {
    size_t byte;
    bool high;
    int4_position(m.cols, i, &byte, &high);
    out[byte] = high ? static_cast<uint8_t>((out[byte] & 0x0f) | (nibbles[i] << 4))
                     : static_cast<uint8_t>((out[byte] & 0xf0) | nibbles[i]);
  }
}

Result<QuantizedMatrix> quantize_matrix(const DenseMatrix& w, const QuantFormat& format,
                                        ActivationMode activation, const std::string& name,
                                        const QuantizeOptions& options) {
  NIBBLE_CHECK_OK(validate_quantize_input(w, format, activation, name));
  if (options.algorithm != QuantAlgorithm::kRtn && options.algorithm != QuantAlgorithm::kMse)
    return make_error("{}: quantize_matrix chooses scales by rtn or mse, not {}", name,
                      algorithm_name(options.algorithm));
  const bool search = options.algorithm == QuantAlgorithm::kMse;
  const float* importance = nullptr;
  if (search && !options.importance.empty()) {
    NIBBLE_CHECK_OK(validate_importance(options.importance, w.cols, name));
    importance = options.importance.data();
  }
  QuantizedMatrix m = allocate_quantized(format, activation, w.rows, w.cols);

  std::vector<int8_t> signed_codes(static_cast<size_t>(m.group));
  std::vector<uint8_t> nibbles(static_cast<size_t>(w.cols));  // the row's stored nibble values
  for (int r = 0; r < m.rows; ++r) {
    const float* row = w.row(r);
    uint8_t* out = m.codes.data() + static_cast<size_t>(r) * m.row_bytes;
    for (int g = 0; g < m.n_groups; ++g) {
      const int begin = g * m.group;
      const int n = std::min(m.group, w.cols - begin);
      const size_t slot = static_cast<size_t>(r) * m.n_groups + g;
      float s = 0.0f;
      const float* h = importance ? importance + begin : nullptr;
      switch (format.codec) {
        case WeightCodec::kInt8Sym: {
          int8_t* codes = reinterpret_cast<int8_t*>(out + begin);
          s = search ? search_group_int8_sym(row + begin, h, n, format.scale_type, codes)
                     : quantize_group_int8_sym(row + begin, n, format.scale_type, codes);
          break;
        }
        case WeightCodec::kInt4Sym:
          s = search ? search_group_int4_sym(row + begin, h, n, format.scale_type, signed_codes.data())
                     : quantize_group_int4_sym(row + begin, n, format.scale_type, signed_codes.data());
          for (int i = 0; i < n; ++i) nibbles[static_cast<size_t>(begin + i)] = static_cast<uint8_t>(signed_codes[i] + 8);
          break;
        case WeightCodec::kInt4Asym:
          s = search ? search_group_int4_asym(row + begin, h, n, format.scale_type, nibbles.data() + begin,
                                              &m.zero_points[slot])
                     : quantize_group_int4_asym(row + begin, n, format.scale_type, nibbles.data() + begin,
                                                &m.zero_points[slot]);
          break;
      }
      set_group_scale(m, r, g, s);
    }
    if (format.codec != WeightCodec::kInt8Sym) pack_int4_row(m, r, nibbles.data());
  }
  if (activation == ActivationMode::kInt8Token) derive_a8_data(m);
  return m;
}

}  // namespace nibble
