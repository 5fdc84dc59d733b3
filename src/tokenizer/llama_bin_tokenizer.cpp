#include "tokenizer/llama_bin_tokenizer.h"

#include <algorithm>
#include <bitset>
#include <climits>
#include <cmath>
#include <queue>

#include "core/file.h"

namespace nibble {
namespace {

// SentencePiece's whitespace symbol '▁' (U+2581) and the replacement character U+FFFD
// that its normalizer substitutes for each byte that does not start valid UTF-8.
constexpr std::string_view kWordBoundary = "\xE2\x96\x81";
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// Symbol offsets are 32-bit: a text of at most 1 GiB normalizes to at most 3 GiB + 1
// bytes even when every byte is invalid UTF-8 and becomes a 3-byte U+FFFD.
constexpr size_t kMaxTextBytes = size_t{1} << 30;

// Length of the UTF-8 character at the start of `s`, or 0 when the bytes there are not
// one. Same rule as SentencePiece's decoder: shortest encoding only, no surrogates,
// nothing above U+10FFFF, and a sequence cut short by the end of `s` is invalid.
size_t utf8_char_length(std::string_view s) {
  const auto lead = static_cast<unsigned char>(s[0]);
  if (lead < 0x80) return 1;
  size_t length;
  uint32_t code_point;
  uint32_t smallest;  // the first code point that needs `length` bytes
  if ((lead & 0xE0) == 0xC0) {
    length = 2, code_point = lead & 0x1F, smallest = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, code_point = lead & 0x0F, smallest = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, code_point = lead & 0x07, smallest = 0x10000;
  } else {
    return 0;  // a continuation byte or 0xF8..0xFF
  }
  if (s.size() < length) return 0;
  for (size_t i = 1; i < length; ++i) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if ((byte & 0xC0) != 0x80) return 0;
    code_point = (code_point << 6) | (byte & 0x3F);
  }
  const bool surrogate = code_point >= 0xD800 && code_point <= 0xDFFF;
  if (code_point < smallest || code_point > 0x10FFFF || surrogate) return 0;
  return length;
}

// The byte a piece spelled exactly "<0xXX>" (upper-case hex, as SentencePiece writes
// byte-fallback pieces) stands for, or -1 for any other piece.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int high = hex(piece[3]);
  const int low = hex(piece[4]);
  return high < 0 || low < 0 ? -1 : high * 16 + low;
}

// One node of the doubly-linked list BPE works on. A symbol covers the bytes
// [begin, begin + size) of the normalized text; merging appends the right neighbour's
// bytes to the left symbol, so a symbol's begin never changes and its size only grows.
struct Symbol {
  uint32_t begin;
  uint32_t size;  // 0 once absorbed into the symbol on its left
  int32_t prev;   // index of the left neighbour, -1 for the first symbol
  int32_t next;   // index of the right neighbour, -1 for the last symbol
  int32_t id;     // vocabulary id once merged; -1 for an unmerged character
};

// A possible merge of two neighbouring symbols into the normal piece `id`.
struct Candidate {
  float score;
  int32_t left;
  int32_t right;
  uint32_t size;  // left.size + right.size when queued; any later change makes it stale
  int32_t id;
};

// Queue order: the highest score merges first, and among equal scores the leftmost
// pair (SentencePiece's bpe_model rule). std::priority_queue pops the greatest element,
// so this says when `a` ranks below `b`.
struct RanksBelow {
  bool operator()(const Candidate& a, const Candidate& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

// Normalizes `text` as SentencePiece's "identity" normalizer does before BPE, spelled the
// way tokenizer.bin spells pieces, and splits the result into one symbol per character:
//   - a dummy-prefix space starts the text (add_dummy_prefix);
//   - ' ' stays ' ' (tokenizer.bin's spelling of '▁'), and a literal '▁' in the text also
//     becomes ' ', because SentencePiece cannot tell it from an escaped space either;
//   - each byte that does not start a valid UTF-8 character becomes U+FFFD on its own.
// `text` must be non-empty and at most kMaxTextBytes long.
void normalize(std::string_view text, std::string& normalized, std::vector<Symbol>& symbols) {
  normalized.reserve(text.size() + 1);
  symbols.reserve(text.size() + 1);
  auto append = [&](std::string_view character) {
    const auto index = static_cast<int32_t>(symbols.size());
    symbols.push_back({static_cast<uint32_t>(normalized.size()), static_cast<uint32_t>(character.size()),
                       index - 1, index + 1, -1});
    normalized.append(character);
  };
  append(" ");
  for (size_t i = 0; i < text.size();) {
    const size_t length = utf8_char_length(text.substr(i));
    if (length == 0) {
      append(kReplacementCharacter);
      i += 1;
    } else {
      const std::string_view character = text.substr(i, length);
      append(character == kWordBoundary ? " " : character);
      i += length;
    }
  }
  symbols.back().next = -1;
}

// True when a piece could contain the end of `left` followed by the start of `right`.
bool may_join(const std::bitset<65536>& joinable_bytes, std::string_view text, const Symbol& left,
              const Symbol& right) {
  const auto last = static_cast<unsigned char>(text[left.begin + left.size - 1]);
  const auto first = static_cast<unsigned char>(text[right.begin]);
  return joinable_bytes[static_cast<size_t>(last) << 8 | first];
}

// SentencePiece's BPE: repeatedly merge the best-ranked neighbouring pair whose
// concatenation is a normal piece. The queue holds every candidate pair seen; instead of
// removing pairs a merge invalidates, a popped pair is checked and skipped if stale.
// Each merge adds at most two pairs, so the work is O(n log n) in the number of characters.
//
// Where two neighbouring characters meet at a byte pair found in no piece, no merge can
// ever span them: the stretches between such cuts (roughly, words) merge independently,
// and the order of merges inside one stretch is the same whether or not other stretches
// share the queue. So each stretch is merged on its own, which keeps the queue small and
// in cache instead of holding a candidate for every character of a long text at once.
template <typename FindPiece>
void merge_symbols(std::string_view text, std::vector<Symbol>& symbols, std::span<const float> scores,
                   const std::bitset<65536>& joinable_bytes, const FindPiece& find_piece) {
  std::priority_queue<Candidate, std::vector<Candidate>, RanksBelow> queue;

  auto consider = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[static_cast<size_t>(left)];
    const Symbol& r = symbols[static_cast<size_t>(right)];
    if (!may_join(joinable_bytes, text, l, r)) return;
    const int id = find_piece(text.substr(l.begin, l.size + r.size));
    if (id >= 0) queue.push({scores[static_cast<size_t>(id)], left, right, l.size + r.size, id});
  };

  auto merge_queued = [&] {
    while (!queue.empty()) {
      const Candidate top = queue.top();
      queue.pop();
      Symbol& left = symbols[static_cast<size_t>(top.left)];
      Symbol& right = symbols[static_cast<size_t>(top.right)];
      // Stale if either side has merged since: an absorbed symbol has size 0 and a symbol
      // that absorbed its neighbour has grown (sizes never shrink, so the sum detects it).
      if (left.size == 0 || right.size == 0 || left.next != top.right || left.size + right.size != top.size)
        continue;
      left.size = top.size;
      left.id = top.id;
      left.next = right.next;
      if (right.next >= 0) symbols[static_cast<size_t>(right.next)].prev = top.left;
      right.size = 0;
      consider(left.prev, top.left);
      consider(top.left, left.next);
    }
  };

  // Before any merge, symbol i - 1 and symbol i are neighbours; a pair that may not join
  // ends a stretch, and the queue is drained there.
  for (size_t i = 1; i < symbols.size(); ++i) {
    const auto left = static_cast<int32_t>(i - 1);
    const auto right = static_cast<int32_t>(i);
    if (may_join(joinable_bytes, text, symbols[i - 1], symbols[i])) {
      consider(left, right);
    } else {
      merge_queued();
    }
  }
  merge_queued();
}

}  // namespace

Result<LlamaBinTokenizer> LlamaBinTokenizer::open(const std::string& path, int expected_vocab_size) {
  NIBBLE_ASSIGN_OR_RETURN(MappedFile file, MappedFile::open(path));
  return from_bytes(file.bytes(), path, expected_vocab_size);
}

Result<LlamaBinTokenizer> LlamaBinTokenizer::from_bytes(std::span<const std::byte> bytes, const std::string& source,
                                                        int expected_vocab_size) {
  if (expected_vocab_size < 0)
    return make_error("{}: the expected vocab size must be > 0, or 0 to read to the end; got {}", source,
                      expected_vocab_size);
  ByteReader reader(bytes, source);
  LlamaBinTokenizer tokenizer;
  NIBBLE_ASSIGN_OR_RETURN(const int32_t max_length, reader.read<int32_t>("max_token_length"));
  if (max_length < 0) return make_error("{}: max_token_length must be >= 0, got {}", source, max_length);
  tokenizer.max_token_length_ = max_length;

  // A token takes at least 8 bytes, so the rest of the file bounds the count from above
  // and a lying expected size cannot make us reserve more than the file could hold.
  const size_t most_tokens = reader.remaining() / 8;
  const auto expected = static_cast<size_t>(expected_vocab_size);
  tokenizer.pieces_.reserve(expected > 0 ? std::min(expected, most_tokens) : most_tokens);
  tokenizer.scores_.reserve(tokenizer.pieces_.capacity());

  while (expected > 0 ? tokenizer.pieces_.size() < expected : reader.remaining() > 0) {
    const size_t index = tokenizer.pieces_.size();
    if (reader.remaining() == 0)
      return make_error("{}: ends after {} tokens but {} were expected (the model's vocab_size)", source, index,
                        expected);
    if (index == static_cast<size_t>(INT_MAX))
      return make_error("{}: holds more than {} tokens, too many for 32-bit ids", source, INT_MAX);
    const size_t token_offset = reader.offset();
    NIBBLE_ASSIGN_OR_RETURN(const float score, reader.read<float>(fmt::format("the score of token {}", index)));
    if (std::isnan(score)) return make_error("{}: token {} (offset {}) has a NaN score", source, index, token_offset);
    NIBBLE_ASSIGN_OR_RETURN(const int32_t length, reader.read<int32_t>(fmt::format("the length of token {}", index)));
    if (length < 0)
      return make_error("{}: token {} (offset {}) has negative length {}", source, index, token_offset, length);
    if (length > max_length)
      return make_error("{}: token {} (offset {}) is {} bytes long but max_token_length is {}", source, index,
                        token_offset, length, max_length);
    NIBBLE_ASSIGN_OR_RETURN(const auto bytes_of_piece, reader.take(static_cast<size_t>(length),
                                                                   fmt::format("the {} bytes of token {}", length, index)));
    tokenizer.pieces_.emplace_back(reinterpret_cast<const char*>(bytes_of_piece.data()), bytes_of_piece.size());
    tokenizer.scores_.push_back(score);
  }
  // Bytes after the expected count are not ignored: they mean the file holds a larger
  // vocabulary than the model's, i.e. the tokenizer belongs to another model.
  if (expected > 0 && reader.remaining() > 0)
    return make_error("{}: {} bytes remain after the {} tokens expected (the model's vocab_size); "
                      "is this the tokenizer of another model?",
                      source, reader.remaining(), expected);
  NIBBLE_CHECK_OK(tokenizer.index_pieces(source));
  return tokenizer;
}

// Classifies the pieces (special, byte, normal) and builds the lookup tables.
Status LlamaBinTokenizer::index_pieces(const std::string& source) {
  if (pieces_.size() <= static_cast<size_t>(kEosId))
    return make_error("{}: has {} tokens but needs at least 3 (<unk>, BOS and EOS at ids 0, 1, 2)", source,
                      pieces_.size());
  byte_value_.assign(pieces_.size(), -1);
  byte_token_.fill(-1);
  for (size_t i = kEosId + 1; i < pieces_.size(); ++i) {
    const auto id = static_cast<int>(i);
    const std::string& piece = pieces_[i];
    if (const int byte = parse_byte_piece(piece); byte >= 0) {
      if (byte_token_[static_cast<size_t>(byte)] >= 0)
        return make_error("{}: tokens {} and {} are both the byte token {}", source,
                          byte_token_[static_cast<size_t>(byte)], id, piece);
      byte_token_[static_cast<size_t>(byte)] = id;
      byte_value_[i] = static_cast<int16_t>(byte);
      has_byte_tokens_ = true;
      continue;
    }
    // An empty piece cannot come out of a merge of two non-empty symbols; it stays
    // decodable (as nothing) but is not indexed.
    if (piece.empty()) continue;
    // SentencePiece refuses a vocabulary with a repeated piece; so do we, since the
    // encoder could not say which id the text maps to.
    const auto [it, inserted] = normal_pieces_.emplace(piece, id);
    if (!inserted)
      return make_error("{}: tokens {} and {} are both the piece {:?}; pieces must be unique", source, it->second,
                        id, piece);
    longest_normal_piece_ = std::max(longest_normal_piece_, piece.size());
    for (size_t j = 1; j < piece.size(); ++j)
      joinable_bytes_.set(static_cast<size_t>(static_cast<unsigned char>(piece[j - 1])) << 8 |
                          static_cast<unsigned char>(piece[j]));
  }
  return {};
}

int LlamaBinTokenizer::find_normal_piece(std::string_view text) const {
  if (text.size() > longest_normal_piece_) return -1;
  const auto it = normal_pieces_.find(text);
  return it == normal_pieces_.end() ? -1 : it->second;
}

void LlamaBinTokenizer::append_unknown(std::string_view symbol, std::vector<int>& ids) const {
  if (!has_byte_tokens_) {
    ids.push_back(kUnkId);
    return;
  }
  // Byte fallback spells the symbol as SentencePiece holds it, so a space is '▁'.
  auto append_byte = [&](unsigned char byte) {
    const int id = byte_token_[byte];
    ids.push_back(id >= 0 ? id : kUnkId);
  };
  for (const char c : symbol) {
    if (c == ' ') {
      for (const char b : kWordBoundary) append_byte(static_cast<unsigned char>(b));
    } else {
      append_byte(static_cast<unsigned char>(c));
    }
  }
}

Result<std::vector<int>> LlamaBinTokenizer::encode(std::string_view text, bool add_bos) const {
  std::vector<int> ids;
  if (add_bos) ids.push_back(kBosId);
  // SentencePiece gives nothing, not even the dummy prefix, for an empty text.
  if (text.empty()) return ids;
  if (text.size() > kMaxTextBytes)
    return make_error("cannot encode a text of {} bytes: the limit is {} bytes", text.size(), kMaxTextBytes);

  std::string normalized;
  std::vector<Symbol> symbols;
  normalize(text, normalized, symbols);
  merge_symbols(normalized, symbols, scores_, joinable_bytes_,
                [this](std::string_view piece) { return find_normal_piece(piece); });

  // The first symbol is never absorbed (it has no left neighbour), so the list starts at 0.
  for (int32_t i = 0; i >= 0; i = symbols[static_cast<size_t>(i)].next) {
    const Symbol& symbol = symbols[static_cast<size_t>(i)];
    const std::string_view piece = std::string_view(normalized).substr(symbol.begin, symbol.size);
    const int id = symbol.id >= 0 ? symbol.id : find_normal_piece(piece);
    if (id >= 0) {
      ids.push_back(id);
    } else {
      append_unknown(piece, ids);
    }
  }
  return ids;
}

Result<std::string> LlamaBinTokenizer::decode_piece(int previous_id, int id) const {
  if (id < 0 || id >= vocab_size())
    return make_error("token id {} is outside the vocabulary of {} tokens", id, vocab_size());
  // BOS and EOS are markers, not text (tokenizer.bin spells them "\n<s>\n" and
  // "\n</s>\n" only so that llama2.c could print them); SentencePiece decodes them to
  // nothing, and so do we, so that both tokenizers give the same text.
  if (id == kBosId || id == kEosId) return std::string();
  if (const int byte = byte_value_[static_cast<size_t>(id)]; byte >= 0) return std::string(1, static_cast<char>(byte));
  std::string_view piece = pieces_[static_cast<size_t>(id)];
  if (previous_id == kBosId && piece.starts_with(' ')) piece.remove_prefix(1);
  return std::string(piece);
}

}  // namespace nibble

namespace nibble {

Result<LlamaBinTokenizer> LlamaBinTokenizer::from_vocabulary(const TokenVocabulary& v, const std::string& source) {
  if (v.scores.size() != v.pieces.size() || v.types.size() != v.pieces.size())
    return make_error("{}: {} tokens need as many scores and types, got {} and {}", source, v.pieces.size(),
                      v.scores.size(), v.types.size());
  if (v.pieces.size() > static_cast<size_t>(INT_MAX))
    return make_error("{}: holds {} tokens, too many for 32-bit ids", source, v.pieces.size());
  if (v.unk_id != kUnkId || v.bos_id != kBosId || v.eos_id != kEosId)
    return make_error("{}: needs <unk>, BOS and EOS at ids {}, {}, {}; the vocabulary has them at {}, {}, {}", source,
                      kUnkId, kBosId, kEosId, v.unk_id, v.bos_id, v.eos_id);
  LlamaBinTokenizer tokenizer;
  tokenizer.pieces_.reserve(v.pieces.size());
  for (size_t i = 0; i < v.pieces.size(); ++i) {
    if (std::isnan(v.scores[i])) return make_error("{}: token {} has a NaN score", source, i);
    std::string piece;
    const std::string& in = v.pieces[i];
    for (size_t k = 0; k < in.size(); ++k) {
      if (in.compare(k, kWordBoundary.size(), kWordBoundary) == 0) {
        piece += ' ';
        k += kWordBoundary.size() - 1;
      } else {
        piece += in[k];
      }
    }
    tokenizer.max_token_length_ = std::max(tokenizer.max_token_length_, static_cast<int>(piece.size()));
    tokenizer.pieces_.push_back(std::move(piece));
  }
  tokenizer.scores_ = v.scores;
  NIBBLE_CHECK_OK(tokenizer.index_pieces(source));
  return tokenizer;
}

TokenVocabulary LlamaBinTokenizer::vocabulary() const {
  TokenVocabulary v;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const auto id = static_cast<int>(i);
    std::string piece;
    for (char ch : pieces_[i]) {
      if (ch == ' ') {
        piece += kWordBoundary;
      } else {
        piece += ch;
      }
    }
    int32_t type = kTokenTypeNormal;
    if (id == kUnkId) {
      type = kTokenTypeUnknown;
    } else if (id == kBosId || id == kEosId) {
      type = kTokenTypeControl;
      // llama2.c spells BOS/EOS "\n<s>\n" and "\n</s>\n"; SentencePiece and GGUF say "<s>".
      const size_t first = piece.find_first_not_of('\n');
      const size_t last = piece.find_last_not_of('\n');
      piece = first == std::string::npos ? std::string() : piece.substr(first, last - first + 1);
    } else if (byte_value_[i] >= 0) {
      type = kTokenTypeByte;
    }
    v.pieces.push_back(std::move(piece));
    v.scores.push_back(scores_[i]);
    v.types.push_back(type);
  }
  v.bos_id = kBosId;
  v.eos_id = kEosId;
  v.unk_id = kUnkId;
  return v;
}

}  // namespace nibble
