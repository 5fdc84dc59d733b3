// Panels: an a8 layer's codes and scales re-laid out (at load, in memory only; files keep
// the QuantizedMatrix layout) so the AVX-512 VNNI kernel multiplies sixteen rows by four
// inputs in one vpdpbusd, with no horizontal sums, and reads each block as one forward stream.
//
// Layout (PanelLayout, kernels/qmatrix_view.h), for each block of kPanelRows consecutive
// rows (the last block padded with rows of zero codes and zero scales): the block's groups
// in order, `unit_groups` at a time. A unit is its groups' codes, group_chunks chunk slots
// each, then one line of kPanelChunkBytes holding their scales: [unit group][kPanelRows] in
// the matrix's own scale type (its bytes as stored), two groups per line for 16-bit scales,
// one for f32. So a decoded token reads no more scale bytes than the file holds (plus the
// half line of a unit with one group), and a thread running through its blocks reads one
// stream of bytes. Why: with the scales in a second array each thread read two streams.
// The ~1B model's decode (`bench -p 0 -n 64 -r 3 -t 2 --act-int8`, five rounds alternated
// with the two-array build): 59.73 -> 65.93 tok/s, medians of the rounds; the outputs are
// the same bits.
// - codes: chunk k of a row (k counted from the row's start; group g's slots hold chunks
//   g * group_chunks onwards) covers input elements [k * E, (k + 1) * E), E = 4 for int8
//   codes and 8 for int4. Byte 4 * i + j of a chunk is row i's element k * E + j: the int8
//   code itself, or for int4 the offset-binary nibble c + 8 of element k * 8 + j in the low
//   half and of element k * 8 + 4 + j in the high half. Elements past the row's end, and
//   the unused slots of a short last group, hold code 0 (zero weight).
// - The group code sums the activation zero point needs are not stored: the kernel
//   recomputes them from the codes (one more vpdpbusd per chunk, against ones), which costs
//   less than reading them.
// A chunk never spans two groups: panels exist only when the group size is a multiple of E
// or the row is one group.
#pragma once

#include <cstdint>
#include <vector>

#include "core/huge_page_allocator.h"
#include "kernels/qmatrix_view.h"

namespace nibble {

struct QuantizedMatrix;

struct A8Panels {
  PanelLayout layout;  // chunks_per_row 0 when the matrix has no panels
  // Streamed whole by every decoded token: huge pages where the system grants them.
  std::vector<uint8_t, HugePageAllocator<uint8_t>> bytes;  // n_blocks * layout.block_bytes
  // Every code's negation is a code (no int8 code is -128, which nibble's quantizers never
  // write but a GGUF Q8_0 block may hold): the AMX kernel multiplies by negated codes.
  bool negatable = true;

  bool empty() const { return layout.chunks_per_row == 0; }
};

// Elements per chunk for `m`'s codec (4 for int8, 8 for int4).
int panel_chunk_elements(const QuantizedMatrix& m);

// Whether `m` (an a8 layer) can be laid out as panels: symmetric codes and groups that are
// whole chunks.
bool panels_fit(const QuantizedMatrix& m);

// Panels sized for `m`, every code 0 and every scale 0, to be filled row by row with
// put_panel_row; requires panels_fit(m).
A8Panels allocate_a8_panels(const QuantizedMatrix& m);

// Row `r` of `m` into `p`: its scales, and its codes from `codes` (row r unpacked, as
// scalar::unpack_row_codes writes it), which must hold p.layout.chunks_per_row * E of them: the
// m.cols codes, then zeros. Writes only the row's own bytes, so rows of different blocks
// can be put from different threads. Returns false when the row holds the int8 code -128,
// which makes the panels not negatable; the caller records that in p.negatable.
bool put_panel_row(A8Panels& p, const QuantizedMatrix& m, int r, const int8_t* codes);

}  // namespace nibble
