// llama.cpp's tokenizer test vectors (its test-tokenizer-0): NAME.inp holds texts, each
// followed by "\n__ggml_vocab_test__\n"; line i of NAME.out holds the ids of text i,
// space-separated. llama.cpp makes them with its SPM tokenizer without BOS and with the
// dummy-prefix space, which is what SentencePiece's Encode does.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace nibble::testing {

struct VocabTestVectors {
  std::vector<std::string> texts;
  std::vector<std::vector<int>> ids;  // ids[i] encodes texts[i] (no BOS)
};

// Reads a .inp/.out pair. Errors: a text without its closing separator, or files
// holding different numbers of texts and id lines.
Result<VocabTestVectors> read_vocab_test_vectors(const std::string& inp_path, const std::string& out_path);

}  // namespace nibble::testing
