#include "support/test_tokenizer.h"

#include <string>

#include "tokenizer/llama_bin_tokenizer.h"

namespace nibble::testing {

std::unique_ptr<Tokenizer> make_test_tokenizer(int vocab_size) {
  TokenVocabulary v;
  for (int i = 0; i < vocab_size; ++i) {
    v.pieces.push_back(i == 0 ? "<unk>" : i == 1 ? "<s>" : i == 2 ? "</s>" : "\xe2\x96\x81w" + std::to_string(i));
    v.scores.push_back(-static_cast<float>(i));
    v.types.push_back(i == 0 ? kTokenTypeUnknown : i < 3 ? kTokenTypeControl : kTokenTypeNormal);
  }
  v.unk_id = 0;
  v.bos_id = 1;
  v.eos_id = 2;
  auto tokenizer = LlamaBinTokenizer::from_vocabulary(v, "test vocabulary");
  if (!tokenizer.ok()) return nullptr;
  return std::make_unique<LlamaBinTokenizer>(std::move(tokenizer.value()));
}

}  // namespace nibble::testing
