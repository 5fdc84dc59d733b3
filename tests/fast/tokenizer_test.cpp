// Tokenizers on a small synthetic vocabulary written by the test: the BPE rules (score
// order, leftmost ties, dummy prefix, byte fallback, no merges into byte or control
// tokens), the decode rules, libsentencepiece agreement on the same vocabulary, and
// tokenizer.bin files that are truncated or lie.
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/test_support.h"
#include "support/vocabulary_images.h"
#include "tokenizer/llama_bin_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace nibble {
namespace {

// ---------------------------------------------------------------------------------------
// The synthetic vocabulary, in tokenizer.bin spelling (' ' for '▁').

using Kind = testing::PieceKind;
using TestToken = testing::VocabularyEntry;

constexpr int kBos = 1;
constexpr int kEos = 2;
constexpr int kFirstByteToken = 3;  // <0x00> .. <0xFF> take ids 3 .. 258

int byte_token(unsigned char byte) { return kFirstByteToken + byte; }

std::vector<TestToken> test_vocabulary() {
  std::vector<TestToken> tokens = {
      {"<unk>", 0, Kind::kUnknown}, {"\n<s>\n", 0, Kind::kControl}, {"\n</s>\n", 0, Kind::kControl}};
  for (int byte = 0; byte < 256; ++byte) tokens.push_back({fmt::format("<0x{:02X}>", byte), 0, Kind::kByte});
  const std::vector<std::pair<std::string, float>> normal = {
      // Merges. "bc" outranks "ab"; "xx" makes the leftmost-tie case; " d" is a word
      // with its boundary space; the chains below spell a byte token and BOS from
      // normal pieces, so only the rule "never merge into those" keeps them apart.
      {"bc", -1}, {"xx", -2}, {" d", -3}, {"xxxx", -4}, {"ab", -5},
      {"<0", -6}, {"<0x", -7}, {"<0x4", -8}, {"1>", -9},
      {"\n<", -10}, {"\n<s", -11}, {"\n<s>", -12},
      // Characters.
      {" ", -20}, {"a", -21}, {"b", -22}, {"c", -23}, {"d", -24}, {"x", -25}, {"<", -26}, {">", -27},
      {"0", -28}, {"1", -29}, {"4", -30}, {"s", -31}, {"\n", -32}, {"\xE6\x97\xA5", -33}};  // 日
  for (const auto& [piece, score] : normal) tokens.push_back({piece, score, Kind::kNormal});
  return tokens;
}

// Id of `piece` in test_vocabulary(); fails the test when absent.
int id_of(const std::string& piece) {
  const auto tokens = test_vocabulary();
  for (size_t i = 0; i < tokens.size(); ++i)
    if (tokens[i].piece == piece) return static_cast<int>(i);
  ADD_FAILURE() << "no piece " << piece;
  return -1;
}

using testing::append_f32;
using testing::append_le32;

std::string bin_image(const std::vector<TestToken>& tokens, int32_t max_token_length) {
  return testing::llama_bin_image(tokens, max_token_length);
}

// Writes `bytes` to `dir`/`name`. (testing::temp_dir() empties the directory on every
// call, so a test that writes several files gets the directory once and passes it.)
std::string write_file(const std::string& dir, const std::string& name, const std::string& bytes) {
  const std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::span<const std::byte> as_bytes(const std::string& s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

Result<LlamaBinTokenizer> parse(const std::string& image, int expected_vocab_size) {
  return LlamaBinTokenizer::from_bytes(as_bytes(image), "test.bin", expected_vocab_size);
}

// The synthetic vocabulary as a file on disk, opened the way the runtime opens one.
LlamaBinTokenizer open_test_tokenizer() {
  const auto tokens = test_vocabulary();
  const std::string path = write_file(testing::temp_dir(), "tokenizer.bin", bin_image(tokens, 16));
  auto tokenizer = LlamaBinTokenizer::open(path, static_cast<int>(tokens.size()));
  if (!tokenizer.ok()) throw std::runtime_error(tokenizer.error().message);
  return std::move(tokenizer).value();
}

std::vector<int> encode(const Tokenizer& tokenizer, std::string_view text, bool add_bos = false) {
  auto ids = tokenizer.encode(text, add_bos);
  EXPECT_TRUE(ids.ok()) << ids.error().message;
  return ids.ok() ? std::move(ids).value() : std::vector<int>{};
}

std::vector<int> ids_of(std::initializer_list<const char*> pieces) {
  std::vector<int> ids;
  for (const char* piece : pieces) ids.push_back(id_of(piece));
  return ids;
}

// ---------------------------------------------------------------------------------------
// The same vocabulary as a SentencePiece ModelProto.
std::string sentencepiece_model(const std::vector<TestToken>& tokens) {
  return testing::sentencepiece_model_image(tokens, kBos, kEos);
}

SentencePieceTokenizer open_test_sentencepiece() {
  auto tokenizer = SentencePieceTokenizer::from_serialized(sentencepiece_model(test_vocabulary()), "test.model");
  if (!tokenizer.ok()) throw std::runtime_error(tokenizer.error().message);
  return std::move(tokenizer).value();
}

// ---------------------------------------------------------------------------------------
// Encoding rules.

TEST(LlamaBinTokenizerTest, ReadsTheVocabulary) {
  const auto tokenizer = open_test_tokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), static_cast<int>(test_vocabulary().size()));
  EXPECT_EQ(tokenizer.bos_id(), 1);
  EXPECT_EQ(tokenizer.eos_id(), 2);
  EXPECT_EQ(tokenizer.max_token_length(), 16);
  EXPECT_EQ(tokenizer.piece(id_of("bc")), "bc");
  EXPECT_EQ(tokenizer.score(id_of("ab")), -5.0f);
}

TEST(LlamaBinTokenizerTest, HigherScoreMergesFirst) {
  // " abc": "ab" and "bc" compete for the 'b'; "bc" has the higher score.
  EXPECT_EQ(encode(open_test_tokenizer(), "abc"), ids_of({" ", "a", "bc"}));
}

TEST(LlamaBinTokenizerTest, EqualScoresMergeLeftmostFirst) {
  // Both pairs of "xxx" are "xx" with the same score: the left one merges.
  EXPECT_EQ(encode(open_test_tokenizer(), "xxx"), ids_of({" ", "xx", "x"}));
  EXPECT_EQ(encode(open_test_tokenizer(), "xxxxx"), ids_of({" ", "xxxx", "x"}));
}

TEST(LlamaBinTokenizerTest, DummyPrefixSpace) {
  const auto tokenizer = open_test_tokenizer();
  EXPECT_EQ(encode(tokenizer, "d"), ids_of({" d"}));
  EXPECT_EQ(encode(tokenizer, "d d"), ids_of({" d", " d"}));
  // The prefix is added even before a space, as SentencePiece does.
  EXPECT_EQ(encode(tokenizer, " d"), ids_of({" ", " d"}));
  // An empty text has no dummy prefix: no ids, or just BOS.
  EXPECT_EQ(encode(tokenizer, ""), std::vector<int>{});
  EXPECT_EQ(encode(tokenizer, "", true), std::vector<int>{kBos});
  EXPECT_EQ(encode(tokenizer, "d", true), (std::vector<int>{kBos, id_of(" d")}));
}

TEST(LlamaBinTokenizerTest, LiteralWordBoundarySymbolIsASpace) {
  // SentencePiece writes spaces as '▁' before BPE, so a '▁' in the text is a space too.
  EXPECT_EQ(encode(open_test_tokenizer(), "\xE2\x96\x81" "d"), ids_of({" ", " d"}));
}

TEST(LlamaBinTokenizerTest, ByteFallbackForCharactersOutsideTheVocabulary) {
  const auto tokenizer = open_test_tokenizer();
  // 'é' (C3 A9) is not a piece: its UTF-8 bytes; '日' is one.
  EXPECT_EQ(encode(tokenizer, "\xC3\xA9"), (std::vector<int>{id_of(" "), byte_token(0xC3), byte_token(0xA9)}));
  EXPECT_EQ(encode(tokenizer, "\xE6\x97\xA5" "a"), ids_of({" ", "\xE6\x97\xA5", "a"}));
  // 'q' is not a piece either and does not stop "bc" merging after it.
  EXPECT_EQ(encode(tokenizer, "qbc"), (std::vector<int>{id_of(" "), byte_token('q'), id_of("bc")}));
}

TEST(LlamaBinTokenizerTest, InvalidUtf8BecomesReplacementCharacters) {
  const auto tokenizer = open_test_tokenizer();
  // Each byte that does not start valid UTF-8 is U+FFFD (EF BF BD), as in SentencePiece's
  // normalizer; U+FFFD is not in this vocabulary, so it falls back to its bytes.
  const std::vector<int> replacement = {byte_token(0xEF), byte_token(0xBF), byte_token(0xBD)};
  std::vector<int> expected = {id_of(" ")};
  for (int i = 0; i < 2; ++i) expected.insert(expected.end(), replacement.begin(), replacement.end());
  expected.push_back(id_of("a"));
  EXPECT_EQ(encode(tokenizer, "\xE6\x97" "a"), expected);  // a 3-byte character cut short
  EXPECT_EQ(encode(tokenizer, "\xFF\xC0" "a"), expected);
  // A surrogate (ED A0 80) and an overlong NUL (C0 80) are invalid byte by byte.
  EXPECT_EQ(encode(tokenizer, "\xED\xA0\x80").size(), 1u + 3 * 3);
  EXPECT_EQ(encode(tokenizer, "\xC0\x80").size(), 1u + 2 * 3);
}

TEST(LlamaBinTokenizerTest, NeverMergesIntoByteOrControlTokens) {
  const auto tokenizer = open_test_tokenizer();
  // "<0x4" + "1>" spells the byte token <0x41>, "\n<s>" + "\n" spells BOS: neither
  // may be produced by a merge.
  EXPECT_EQ(encode(tokenizer, "<0x41>"), ids_of({" ", "<0x4", "1>"}));
  EXPECT_EQ(encode(tokenizer, "\n<s>\n"), ids_of({" ", "\n<s>", "\n"}));
}

// ---------------------------------------------------------------------------------------
// Decoding rules.

TEST(LlamaBinTokenizerTest, DecodePieceRules) {
  const auto tokenizer = open_test_tokenizer();
  auto decoded = [&](int previous, int id) {
    auto piece = tokenizer.decode_piece(previous, id);
    EXPECT_TRUE(piece.ok()) << piece.error().message;
    return piece.ok() ? *piece : std::string("<error>");
  };
  EXPECT_EQ(decoded(kBos, id_of(" d")), "d");     // the dummy-prefix space after BOS is dropped
  EXPECT_EQ(decoded(id_of("a"), id_of(" d")), " d");
  EXPECT_EQ(decoded(kBos, id_of("bc")), "bc");
  EXPECT_EQ(decoded(kBos, byte_token(0x20)), " ");  // a byte token is its byte, even a space
  EXPECT_EQ(decoded(-1, byte_token(0xC3)), "\xC3");
  EXPECT_EQ(decoded(-1, kBos), "");               // control tokens are not text
  EXPECT_EQ(decoded(-1, kEos), "");
  EXPECT_EQ(decoded(-1, 0), "<unk>");

  const int vocab_size = tokenizer.vocab_size();
  for (const int bad : {-1, vocab_size, 1 << 30}) {
    auto piece = tokenizer.decode_piece(kBos, bad);
    ASSERT_FALSE(piece.ok());
    EXPECT_NE(piece.error().message.find(std::to_string(bad)), std::string::npos) << piece.error().message;
    EXPECT_NE(piece.error().message.find(std::to_string(vocab_size)), std::string::npos) << piece.error().message;
  }
}

TEST(LlamaBinTokenizerTest, DecodeRoundTrip) {
  const auto tokenizer = open_test_tokenizer();
  const std::string text = "abc d \xC3\xA9<0x41>\n\xE6\x97\xA5xxx";
  const auto ids = encode(tokenizer, text, true);
  auto decoded = tokenizer.decode(std::vector<int>(ids.begin() + 1, ids.end()), kBos);
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_EQ(*decoded, text);
  EXPECT_FALSE(tokenizer.decode({id_of("a"), 100000}, kBos).ok());
}

// ---------------------------------------------------------------------------------------
// libsentencepiece on the same vocabulary.

TEST(SentencePieceTokenizerTest, DecodePieceRules) {
  const auto tokenizer = open_test_sentencepiece();
  EXPECT_EQ(tokenizer.vocab_size(), static_cast<int>(test_vocabulary().size()));
  EXPECT_EQ(tokenizer.bos_id(), kBos);
  EXPECT_EQ(*tokenizer.decode_piece(kBos, id_of(" d")), "d");
  EXPECT_EQ(*tokenizer.decode_piece(id_of("a"), id_of(" d")), " d");
  EXPECT_EQ(*tokenizer.decode_piece(-1, byte_token(0xC3)), "\xC3");
  EXPECT_EQ(*tokenizer.decode_piece(-1, kBos), "");
  EXPECT_EQ(*tokenizer.decode_piece(-1, kEos), "");
  EXPECT_FALSE(tokenizer.decode_piece(-1, tokenizer.vocab_size()).ok());
  EXPECT_FALSE(tokenizer.decode_piece(-1, -1).ok());
}

TEST(SentencePieceTokenizerTest, EncodesLikeTheBinTokenizerOnTheRuleCases) {
  const auto sentencepiece = open_test_sentencepiece();
  EXPECT_EQ(encode(sentencepiece, "abc"), ids_of({" ", "a", "bc"}));
  EXPECT_EQ(encode(sentencepiece, "xxx"), ids_of({" ", "xx", "x"}));
  EXPECT_EQ(encode(sentencepiece, " d", true), (std::vector<int>{kBos, id_of(" "), id_of(" d")}));
  EXPECT_EQ(encode(sentencepiece, "<0x41>"), ids_of({" ", "<0x4", "1>"}));
  EXPECT_EQ(encode(sentencepiece, "\n<s>\n"), ids_of({" ", "\n<s>", "\n"}));
}

// Random texts over the vocabulary's characters plus bytes outside it: both encoders
// must give the same ids and both decoders the same text.
TEST(SentencePieceTokenizerTest, BinTokenizerAgreesOnRandomTexts) {
  const auto bin = open_test_tokenizer();
  const auto sentencepiece = open_test_sentencepiece();
  const std::vector<std::string> atoms = {" ", " ", "a", "b", "c", "d", "x", "x", "<", ">", "0", "1", "4", "s", "\n",
                                          "\xE6\x97\xA5", "\xC3\xA9", "\xE2\x96\x81", "\xFF", "\xE6\x97", "q", "\t"};
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    const int length = static_cast<int>(rng() % 16);
    for (int i = 0; i < length; ++i) text += atoms[rng() % atoms.size()];
    const auto expected = encode(sentencepiece, text, true);
    ASSERT_EQ(encode(bin, text, true), expected) << "seed " << seed << " trial " << trial << " text " << text;
    for (size_t i = 1; i < expected.size(); ++i) {
      ASSERT_EQ(*bin.decode_piece(expected[i - 1], expected[i]), *sentencepiece.decode_piece(expected[i - 1], expected[i]))
          << "seed " << seed << " id " << expected[i];
    }
  }
}

TEST(SentencePieceTokenizerTest, SpaceOutsideTheVocabularyFallsBackToTheBytesOfWordBoundary) {
  // Without a " " piece the space falls back to bytes, and SentencePiece holds a space
  // as '▁' (E2 96 81) by then, so those are the bytes, not 0x20.
  std::vector<TestToken> tokens = {
      {"<unk>", 0, Kind::kUnknown}, {"\n<s>\n", 0, Kind::kControl}, {"\n</s>\n", 0, Kind::kControl}};
  for (int byte = 0; byte < 256; ++byte) tokens.push_back({fmt::format("<0x{:02X}>", byte), 0, Kind::kByte});
  tokens.push_back({"a", -1, Kind::kNormal});
  const int a = static_cast<int>(tokens.size()) - 1;
  const std::vector<int> expected = {byte_token(0xE2), byte_token(0x96), byte_token(0x81), a};

  auto bin = parse(bin_image(tokens, 8), static_cast<int>(tokens.size()));
  ASSERT_TRUE(bin.ok()) << bin.error().message;
  EXPECT_EQ(encode(*bin, "a"), expected);
  auto sentencepiece = SentencePieceTokenizer::from_serialized(sentencepiece_model(tokens), "no-space.model");
  ASSERT_TRUE(sentencepiece.ok()) << sentencepiece.error().message;
  EXPECT_EQ(encode(*sentencepiece, "a"), expected);
}

TEST(SentencePieceTokenizerTest, RejectsAFileThatIsNotAModel) {
  const std::string path = write_file(testing::temp_dir(), "broken.model", "this is not a protobuf \xFF\xFF\xFF");
  auto tokenizer = SentencePieceTokenizer::open(path);
  ASSERT_FALSE(tokenizer.ok());
  EXPECT_NE(tokenizer.error().message.find(path), std::string::npos) << tokenizer.error().message;
  EXPECT_FALSE(SentencePieceTokenizer::open(testing::temp_dir() + "/missing.model").ok());
}

// ---------------------------------------------------------------------------------------
// open_tokenizer.

TEST(OpenTokenizerTest, PicksTheReaderByFileName) {
  const auto tokens = test_vocabulary();
  const int size = static_cast<int>(tokens.size());
  const std::string dir = testing::temp_dir();
  const std::string bin_path = write_file(dir, "vocab.bin", bin_image(tokens, 16));
  const std::string model_path = write_file(dir, "vocab.model", sentencepiece_model(tokens));
  for (const std::string& path : {bin_path, model_path}) {
    for (const int expected : {0, size}) {
      auto tokenizer = open_tokenizer(path, expected);
      ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
      EXPECT_EQ((*tokenizer)->vocab_size(), size);
      EXPECT_EQ(encode(**tokenizer, "abc"), ids_of({" ", "a", "bc"})) << path;
    }
    for (const int wrong : {size - 1, size + 1}) {
      auto tokenizer = open_tokenizer(path, wrong);
      ASSERT_FALSE(tokenizer.ok()) << path << " accepted as " << wrong << " tokens";
      EXPECT_NE(tokenizer.error().message.find(std::to_string(wrong)), std::string::npos) << tokenizer.error().message;
    }
    EXPECT_FALSE(open_tokenizer(path, -1).ok());
  }
}

// ---------------------------------------------------------------------------------------
// Corrupted tokenizer.bin files.

// A small valid file for the corruption tests: <unk>, BOS, EOS and two pieces.
std::vector<TestToken> small_vocabulary() {
  return {{"<unk>", 0, Kind::kUnknown}, {"\n<s>\n", 0, Kind::kControl}, {"\n</s>\n", 0, Kind::kControl},
          {"a", -1, Kind::kNormal}, {"bc", -2, Kind::kNormal}};
}

void expect_error(const Result<LlamaBinTokenizer>& result, std::initializer_list<std::string> mentions) {
  ASSERT_FALSE(result.ok()) << "a corrupted file was accepted";
  for (const auto& word : mentions)
    EXPECT_NE(result.error().message.find(word), std::string::npos)
        << "error should mention '" << word << "': " << result.error().message;
}

TEST(LlamaBinTokenizerCorruptionTest, TruncationAtEveryOffsetIsAnError) {
  const std::string image = bin_image(small_vocabulary(), 8);
  ASSERT_TRUE(parse(image, 5).ok());
  ASSERT_TRUE(parse(image, 0).ok());
  for (size_t size = 0; size < image.size(); ++size) {
    const std::string truncated = image.substr(0, size);
    // With the count known, every cut is an error.
    expect_error(parse(truncated, 5), {"test.bin"});
    // Reading to the end, a cut on a token boundary is a shorter valid vocabulary
    // (if it still has <unk>, BOS and EOS); any other cut is an error.
    auto to_end = parse(truncated, 0);
    if (to_end.ok()) {
      EXPECT_GE(to_end->vocab_size(), 3) << "cut at " << size;
    }
  }
  // Through a real file as well.
  expect_error(LlamaBinTokenizer::open(write_file(testing::temp_dir(), "cut.bin", image.substr(0, image.size() - 1)), 5),
               {"cut.bin", "token 4"});
}

TEST(LlamaBinTokenizerCorruptionTest, NegativeLength) {
  std::string image = bin_image(small_vocabulary(), 8);
  append_f32(image, 0);
  append_le32(image, static_cast<uint32_t>(-5));
  expect_error(parse(image, 6), {"token 5", "negative length -5"});
  expect_error(parse(image, 0), {"token 5", "negative length -5"});
}

TEST(LlamaBinTokenizerCorruptionTest, HugeLength) {
  std::string image = bin_image(small_vocabulary(), std::numeric_limits<int32_t>::max());
  append_f32(image, 0);
  append_le32(image, 0x7FFFFFFF);
  image += "xyz";
  expect_error(parse(image, 6), {"test.bin", "token 5", "2147483647"});
}

TEST(LlamaBinTokenizerCorruptionTest, LengthAboveMaxTokenLength) {
  expect_error(parse(bin_image(small_vocabulary(), 4), 5), {"token 0", "5 bytes", "max_token_length is 4"});
  expect_error(parse(bin_image(small_vocabulary(), -1), 5), {"max_token_length", "-1"});
}

TEST(LlamaBinTokenizerCorruptionTest, FewerTokensThanExpected) {
  const std::string image = bin_image(small_vocabulary(), 8);
  expect_error(parse(image, 6), {"test.bin", "5 tokens", "6"});
  expect_error(parse(image, 32000), {"5 tokens", "32000"});
}

TEST(LlamaBinTokenizerCorruptionTest, MoreTokensThanExpected) {
  // Extra bytes after the expected count mean a larger vocabulary: the tokenizer of
  // another model. Not ignored.
  expect_error(parse(bin_image(small_vocabulary(), 8), 4), {"test.bin", "remain", "4 tokens"});
}

TEST(LlamaBinTokenizerCorruptionTest, InvalidVocabularies) {
  auto tokens = small_vocabulary();
  tokens[3].score = std::numeric_limits<float>::quiet_NaN();
  expect_error(parse(bin_image(tokens, 8), 5), {"token 3", "NaN"});

  tokens = small_vocabulary();
  tokens.push_back({"bc", -3, Kind::kNormal});
  expect_error(parse(bin_image(tokens, 8), 6), {"tokens 4 and 5", "\"bc\""});

  tokens = small_vocabulary();
  tokens.push_back({"<0x41>", 0, Kind::kByte});
  tokens.push_back({"<0x41>", 0, Kind::kByte});
  expect_error(parse(bin_image(tokens, 8), 7), {"tokens 5 and 6"});

  tokens = small_vocabulary();
  tokens.resize(2);
  expect_error(parse(bin_image(tokens, 8), 0), {"2 tokens", "at least 3"});
  expect_error(parse("", 0), {"test.bin", "max_token_length"});
  expect_error(parse(bin_image(small_vocabulary(), 8), -3), {"-3"});
  expect_error(LlamaBinTokenizer::open(testing::temp_dir() + "/missing.bin", 0), {"missing.bin"});
}

TEST(LlamaBinTokenizerCorruptionTest, RandomByteFlipsNeverCrash) {
  const std::string image = bin_image(test_vocabulary(), 16);
  const unsigned seed = std::random_device{}();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int trial = 0; trial < 300; ++trial) {
    std::string corrupted = image;
    for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
      corrupted[rng() % corrupted.size()] = static_cast<char>(rng());
    for (const int expected : {0, static_cast<int>(test_vocabulary().size())}) {
      auto tokenizer = parse(corrupted, expected);
      if (!tokenizer.ok()) continue;
      // Whatever parsed must encode and decode without going out of bounds.
      const auto ids = encode(*tokenizer, "abc d \xC3\xA9<0x41>\n\xFFxxx", true);
      for (const int id : ids) {
        ASSERT_GE(id, 0);
        ASSERT_LT(id, tokenizer->vocab_size());
      }
      EXPECT_TRUE(tokenizer->decode(ids, -1).ok());
    }
  }
}

}  // namespace
}  // namespace nibble
