#include "model/weights.h"

#include <cstring>

#include "quant/quantized_matrix.h"

namespace nibble {

int Linear::out_features() const { return quantized ? quantized->rows : weight.rows; }
int Linear::in_features() const { return quantized ? quantized->cols : weight.cols; }

void ModelWeights::embedding_row(int token, float* out) const {
  if (quantized_embedding) {
    quantized_embedding->dequantize_row(token, out);
    return;
  }
  std::memcpy(out, token_embedding.row(token), sizeof(float) * token_embedding.cols);
}

}  // namespace nibble
