// GPTQ (Frantar et al. 2022, "GPTQ: Accurate Post-Training Quantization for Generative
// Pre-trained Transformers"): quantizes a linear layer's weight matrix one input column at
// a time, and after each column spreads its rounding error over the columns not yet
// quantized, weighted by the inverse Hessian of the layer's output error,
//
//   H = mean over calibration tokens of x x^T   (cols x cols),
//
// so that ||W X^T - Q X^T|| on the calibration inputs is what is minimised, not the plain
// weight error. Steps: dead inputs (H_ii = 0) get H_ii = 1; damping adds damp * mean(diag H)
// to the diagonal; U = the upper Cholesky factor of H^-1 (Eigen); columns are processed in
// blocks of `block` with the feedback inside a block applied column by column and the rest
// applied once per block (the "lazy batch" update, same result up to float rounding).
//
// Groups stay contiguous, so the stored format is the same as for RTN: without act_order a
// group's scale is chosen when its first column is reached, from the weights as updated
// so far; with act_order (columns by decreasing H_ii) every group's scale is chosen first
// from the original weights ("static groups"), since the group's columns are then visited
// out of order. A scale is chosen by the importance-weighted scale search of
// scale_search.h with importance diag(H), and each column is rounded to the nearest level
// of its group's stored scale (and zero point).
//
// Deterministic: the same matrix, Hessian and options give the same bits (Eigen runs
// single-threaded here; the caller parallelises over tensors).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "model/weights.h"
#include "quant/quantized_matrix.h"

namespace nibble {

struct GptqOptions {
  double damp = 0.01;      // fraction of the mean Hessian diagonal added to the diagonal
  int block = 128;         // columns per lazy batch update
  bool act_order = false;  // visit columns by decreasing Hessian diagonal (static groups)
  // A tied lm_head (tied_table_hessian): weight of the embedding's objective.
  double tied_identity_weight = 1.0;
};

// The Hessian GPTQ uses for a table that is both the classifier and the embedding (tied
// lm_head): the classifier's input Hessian scaled to a mean diagonal of 1, plus
// `identity_weight` times the identity, which is the plain row error an embedding lookup
// sees. With identity_weight = 0 the table would serve the classifier alone; measured on
// tiny-llama-8m q4_g32 (README "Quantization algorithms"), 1 and 0.1 both beat the
// unweighted scale search, 1 slightly more.
std::vector<double> tied_table_hessian(std::span<const double> classifier_hessian, int cols, double identity_weight);

// `hessian`: w.cols * w.cols values, row-major, the mean of x x^T over the calibration
// tokens of this layer's input. Errors: those of quantize_matrix, a Hessian of the wrong
// size or with a non-finite entry, damp not in (0, 1], block < 1, or a Hessian that stays
// singular after damping.
Result<QuantizedMatrix> gptq_quantize(const DenseMatrix& w, const QuantFormat& format, ActivationMode activation,
                                      const std::string& name, std::span<const double> hessian,
                                      const GptqOptions& options = {});

}  // namespace nibble
