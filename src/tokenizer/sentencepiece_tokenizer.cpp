#include "tokenizer/sentencepiece_tokenizer.h"

#include <sentencepiece_processor.h>

namespace nibble {
namespace {

constexpr std::string_view kWordBoundary = "\xE2\x96\x81";  // SentencePiece's '▁' for a space

// The byte of a byte-fallback piece "<0xXX>"; SentencePiece always writes two upper-case
// hex digits. -1 if `piece` is not spelled that way.
int byte_of_piece(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  int value = 0;
  for (const char c : piece.substr(3, 2)) {
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::unique_ptr<sentencepiece::SentencePieceProcessor> processor,
                                               std::string source)
    : processor_(std::move(processor)), source_(std::move(source)) {}
SentencePieceTokenizer::SentencePieceTokenizer(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer& SentencePieceTokenizer::operator=(SentencePieceTokenizer&&) noexcept = default;
SentencePieceTokenizer::~SentencePieceTokenizer() = default;

namespace {

// libsentencepiece reports most bad models through its Status, but some (a zero-length
// piece in a unigram model: Darts "failed to insert key") throw from deep inside; the
// exception is turned into an error like the others instead of terminating the program.
template <typename LoadFn>
Result<std::unique_ptr<sentencepiece::SentencePieceProcessor>> load_processor(const std::string& source, LoadFn load) {
  auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
  try {
    if (const auto status = load(*processor); !status.ok())
      return make_error("{}: cannot load the SentencePiece model: {}", source, status.ToString());
  } catch (const std::exception& e) {
    return make_error("{}: cannot load the SentencePiece model: libsentencepiece refused it: {}", source, e.what());
  }
  return processor;
}

}  // namespace

Result<SentencePieceTokenizer> SentencePieceTokenizer::open(const std::string& path) {
  NIBBLE_ASSIGN_OR_RETURN(auto processor, load_processor(path, [&](sentencepiece::SentencePieceProcessor& p) {
                            return p.Load(path);
                          }));
  return SentencePieceTokenizer(std::move(processor), path);
}

Result<SentencePieceTokenizer> SentencePieceTokenizer::from_serialized(std::string_view model_proto,
                                                                       const std::string& source) {
  NIBBLE_ASSIGN_OR_RETURN(auto processor, load_processor(source, [&](sentencepiece::SentencePieceProcessor& p) {
                            return p.LoadFromSerializedProto(model_proto);
                          }));
  return SentencePieceTokenizer(std::move(processor), source);
}

int SentencePieceTokenizer::vocab_size() const { return processor_->GetPieceSize(); }
int SentencePieceTokenizer::bos_id() const { return processor_->bos_id(); }
int SentencePieceTokenizer::eos_id() const { return processor_->eos_id(); }

TokenVocabulary SentencePieceTokenizer::vocabulary() const {
  TokenVocabulary v;
  const int n = processor_->GetPieceSize();
  for (int id = 0; id < n; ++id) {
    v.pieces.push_back(processor_->IdToPiece(id));
    v.scores.push_back(processor_->GetScore(id));
    v.types.push_back(processor_->IsUnknown(id)   ? kTokenTypeUnknown
                      : processor_->IsControl(id) ? kTokenTypeControl
                      : processor_->IsByte(id)    ? kTokenTypeByte
                      : processor_->IsUnused(id)  ? kTokenTypeUnused
                                                  : kTokenTypeNormal);
  }
  v.bos_id = processor_->bos_id();
  v.eos_id = processor_->eos_id();
  v.unk_id = processor_->unk_id();
  return v;
}

Result<std::vector<int>> SentencePieceTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  if (add_bos) {
    if (bos_id() < 0) return make_error("{}: cannot add BOS: the model has no BOS piece", source_);
    ids.push_back(bos_id());
  }
  std::vector<int> text_ids;
  if (const auto status = processor_->Encode(text, &text_ids); !status.ok())
    return make_error("{}: SentencePiece cannot encode a text of {} bytes: {}", source_, text.size(),
                      status.ToString());
  ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  return ids;
}

Result<std::string> SentencePieceTokenizer::decode_piece(int previous_id, int id) const {
  if (id < 0 || id >= vocab_size())
    return make_error("token id {} is outside the vocabulary of {} tokens", id, vocab_size());
  // Control pieces (<s>, </s>) are markers, not text; SentencePiece decodes them to nothing.
  if (processor_->IsControl(id)) return std::string();
  const std::string& piece = processor_->IdToPiece(id);
  if (processor_->IsByte(id)) {
    if (const int byte = byte_of_piece(piece); byte >= 0) return std::string(1, static_cast<char>(byte));
  }
  std::string text;
  text.reserve(piece.size());
  std::string_view rest = piece;
  while (!rest.empty()) {
    if (rest.starts_with(kWordBoundary)) {
      text.push_back(' ');
      rest.remove_prefix(kWordBoundary.size());
    } else {
      text.push_back(rest.front());
      rest.remove_prefix(1);
    }
  }
  // llama2.c's rule: the dummy-prefix space of the first word after BOS is not printed.
  if (bos_id() >= 0 && previous_id == bos_id() && text.starts_with(' ')) text.erase(0, 1);
  return text;
}

}  // namespace nibble
