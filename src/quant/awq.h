// AWQ (Lin et al. 2023, "AWQ: Activation-aware Weight Quantization"): before quantizing,
// scale each input channel i of a group of layers by s_i (W' = W diag(s)) and fold 1/s_i
// into what produces that input, so the float model computes the same function while the
// channels that carry large activations get finer quantization steps.
//
// Pairs (producer -> layers reading its output), per transformer layer, in this order:
//   attn_norm -> q, k, v       (the RMSNorm gain g_i /= s_i)
//   v_proj    -> o_proj        (v's output row c and bias /= s_c); skipped under
//                              grouped-query attention, where o's input width differs
//   ffn_norm  -> gate, up
//   up_proj   -> down_proj     (up's output row c /= s_c: silu(gate) * up is linear in up)
//   final_norm -> lm_head      skipped when lm_head is tied (the table is the embedding too)
// Each fold is exact in real arithmetic, and with power-of-two scales in float too.
//
// Search: s_i = r_i^alpha with r_i the RMS of input channel i on the calibration text
// (sqrt of the importance; AWQ uses the mean |x|), normalised by sqrt(max s * min s), for
// alpha in {0, 1/grid, ..., (grid-1)/grid}, each s_i then rounded to a power of two (so
// the fold is exact in float too: the rescaled float model's outputs are bit-identical);
// the alpha minimising the summed layer-output
// error sum_layers tr((W - Q(W')/s) H (W - Q(W')/s)^T) is kept, with H = mean x x^T from
// calibration and Q the recipe's round-to-nearest format. alpha = 0 is s = 1 (no change),
// so the kept scaling never raises that error. The statistics are updated for the scaled
// inputs (importance_i / s_i^2, H_ij / (s_i s_j)) so the quantizer that follows (the
// importance-weighted scale search: AWQ's clip search) sees the new channels.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "model/model.h"
#include "quant/calibration.h"
#include "quant/recipe.h"

namespace nibble {

struct AwqOptions {
  int grid = 20;  // alpha candidates: 0, 1/grid, ..., (grid - 1)/grid
};

struct AwqPair {
  std::string producer;             // "layers.0.input_layernorm", "layers.0.mlp.up_proj", ...
  std::vector<std::string> layers;  // the layers whose input columns were scaled
  double alpha = 0.0;               // the kept exponent (0: left unscaled)
  double error_before = 0.0;        // summed layer-output error at alpha = 0
  double error_after = 0.0;         // at the kept alpha
  std::string skipped;              // why the pair was not scaled, or empty
};

// Scales `model` (float, not yet quantized) in place and updates `stats` to match.
// Errors: a quantized model, statistics without Hessians, grid < 1.
Result<std::vector<AwqPair>> apply_awq(Model& model, const Recipe& recipe, CalibrationStats& stats,
                                       const AwqOptions& options = {});

}  // namespace nibble
