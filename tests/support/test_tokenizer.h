// A small SentencePiece-style vocabulary for tests that need a model with a tokenizer:
// <unk>, <s>, </s>, then "▁w3", "▁w4", ... up to `vocab_size` pieces.
#pragma once

#include <memory>

#include "tokenizer/tokenizer.h"

namespace nibble::testing {

std::unique_ptr<Tokenizer> make_test_tokenizer(int vocab_size);

}  // namespace nibble::testing
