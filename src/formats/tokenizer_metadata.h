// A tokenizer's vocabulary as GGUF `tokenizer.ggml.*` metadata (model "llama", the
// SentencePiece family): what nibble files and `nibble export-gguf` write, in the keys
// and spelling llama.cpp reads.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "formats/gguf_metadata.h"
#include "formats/gguf_writer.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

namespace nibble {

// Sets tokenizer.ggml.{model, tokens, scores, token_type, bos/eos/unknown_token_id,
// add_bos_token, add_eos_token}.
Status write_tokenizer_metadata(const Tokenizer& tokenizer, GgufWriter& gguf);

// Reads those keys back. Errors: a tokenizer model other than "llama", arrays of
// different lengths, missing keys (each named, with what was found).
Result<TokenVocabulary> read_tokenizer_metadata(const GgufMetadata& metadata, const std::string& source);

// The tokenizer of a GGUF or nibble model file: options.tokenizer_path when given, else
// the file's SentencePiece vocabulary; none (null) when the file has none, or another
// kind, and options.require_tokenizer is false. Its size must equal `vocab_size`.
Result<std::unique_ptr<Tokenizer>> tokenizer_for_model(const GgufMetadata& metadata, int vocab_size,
                                                       const std::string& source, const LoadOptions& options);

// The tokenizer those keys describe (nibble's BPE encoder, LlamaBinTokenizer).
Result<std::unique_ptr<Tokenizer>> tokenizer_from_gguf_metadata(const GgufMetadata& metadata,
                                                               const std::string& source);

}  // namespace nibble
