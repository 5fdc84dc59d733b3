// The real vocabularies: our tokenizer.bin encoder against libsentencepiece on the same
// vocabulary's tokenizer.model, on whole texts and on random byte strings; stories260K's
// tok512.bin round trip; llama.cpp's tokenizer test vectors for the Llama 2 vocabulary.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iterator>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <ostream>
#include <vector>

#include <gtest/gtest.h>

#include "core/file.h"
#include "support/test_support.h"
#include "support/vocab_test_vectors.h"
#include "tokenizer/llama_bin_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"

namespace nibble {
namespace {

using testing::model_path;

struct Vocabulary {
  const char* dir;  // under the models directory, holding tokenizer.bin and tokenizer.model
  int size;
};

constexpr Vocabulary kLlama2{"llama2-tokenizer", 32000};
constexpr Vocabulary kTinyLlama{"tiny-llama-8m", 8192};

LlamaBinTokenizer open_bin(const Vocabulary& vocab) {
  auto tokenizer = LlamaBinTokenizer::open(model_path(std::string(vocab.dir) + "/tokenizer.bin"), vocab.size);
  if (!tokenizer.ok()) throw std::runtime_error(tokenizer.error().message);
  return std::move(tokenizer).value();
}

SentencePieceTokenizer open_sentencepiece(const Vocabulary& vocab) {
  auto tokenizer = SentencePieceTokenizer::open(model_path(std::string(vocab.dir) + "/tokenizer.model"));
  if (!tokenizer.ok()) throw std::runtime_error(tokenizer.error().message);
  return std::move(tokenizer).value();
}

std::vector<int> encode_or_fail(const Tokenizer& tokenizer, std::string_view text, bool add_bos) {
  auto ids = tokenizer.encode(text, add_bos);
  EXPECT_TRUE(ids.ok()) << ids.error().message;
  return ids.ok() ? std::move(ids).value() : std::vector<int>{};
}

std::string piece_list(const Tokenizer& tokenizer, const std::vector<int>& ids, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < std::min(to, ids.size()); ++i) {
    auto piece = tokenizer.decode_piece(-1, ids[i]);
    out += fmt::format("{}:{:?} ", ids[i], piece.ok() ? piece.value() : std::string("?"));
  }
  return out;
}

// Fails with the first position where the two id sequences differ and the pieces around it.
void expect_same_ids(const std::vector<int>& reference, const std::vector<int>& ours, const Tokenizer& tokenizer,
                     const std::string& what) {
  if (reference == ours) return;
  size_t first = 0;
  while (first < reference.size() && first < ours.size() && reference[first] == ours[first]) ++first;
  const size_t from = first >= 5 ? first - 5 : 0;
  ADD_FAILURE() << what << ": ids differ first at position " << first << " (sentencepiece " << reference.size()
                << " ids, tokenizer.bin " << ours.size() << ")\n  sentencepiece:  "
                << piece_list(tokenizer, reference, from, first + 6) << "\n  tokenizer.bin:  "
                << piece_list(tokenizer, ours, from, first + 6);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Whole texts, each encoded as one string with BOS, give identical ids.
struct WholeTextCase {
  Vocabulary vocab;
  std::string text;  // under the models directory
  std::string name;  // for the test name
};

void PrintTo(const WholeTextCase& c, std::ostream* os) { *os << c.vocab.dir << " on " << c.text; }

class WholeTextTest : public ::testing::TestWithParam<WholeTextCase> {};

TEST_P(WholeTextTest, BinEncoderMatchesSentencePiece) {
  NIBBLE_REQUIRE_MODELS();
  const Vocabulary& vocab = GetParam().vocab;
  const char* text_name = GetParam().text.c_str();
  const LlamaBinTokenizer bin = open_bin(vocab);
  const SentencePieceTokenizer sentencepiece = open_sentencepiece(vocab);
  auto text = read_text_file(model_path(text_name));
  ASSERT_TRUE(text.ok()) << text.error().message;

  auto start = std::chrono::steady_clock::now();
  const std::vector<int> reference = encode_or_fail(sentencepiece, *text, true);
  const double reference_seconds = seconds_since(start);
  start = std::chrono::steady_clock::now();
  const std::vector<int> ours = encode_or_fail(bin, *text, true);
  const double our_seconds = seconds_since(start);
  std::printf("[ info ] %s on %s (%zu bytes, %zu ids): sentencepiece %.3f s, tokenizer.bin %.3f s\n", vocab.dir,
              text_name, text->size(), reference.size(), reference_seconds, our_seconds);

  ASSERT_GT(reference.size(), text->size() / 10) << "implausibly few ids";
  ASSERT_EQ(reference.front(), 1);
  expect_same_ids(reference, ours, bin, fmt::format("{} on {}", vocab.dir, text_name));
}

INSTANTIATE_TEST_SUITE_P(Texts, WholeTextTest,
                         ::testing::Values(WholeTextCase{kLlama2, "text/wiki.test.raw", "Llama2_WikiText"},
                                           WholeTextCase{kLlama2, "text/indomain-valid-a.txt", "Llama2_InDomain"},
                                           WholeTextCase{kTinyLlama, "text/wiki.test.raw", "TinyLlama_WikiText"},
                                           WholeTextCase{kTinyLlama, "text/indomain-valid-a.txt", "TinyLlama_InDomain"}),
                         [](const auto& info) { return info.param.name; });

// Random byte strings: invalid UTF-8, NUL, control characters, literal '▁', runs of
// spaces and characters outside the vocabulary (byte fallback), from a printed seed.
TEST(TokenizerModelTest, BinEncoderMatchesSentencePieceOnRandomBytes) {
  NIBBLE_REQUIRE_MODELS();
  const std::vector<std::string> atoms = {
      " ", " ", "  ", "\n", "\t", "\r", std::string(1, '\0'), "a", "e", "th", "the", "ing", "Q", "z", "0", "7",
      ".", ",", "<", ">", "<s>", "</s>", "<0x41>", "<unk>", "\xE2\x96\x81", "\xC3\xA9", "\xE6\x97\xA5", "\xF0\x9F\x98\x80",
      "\xEF\xBF\xBD", "\xC3", "\xA9", "\xFF", "\xF0\x9F", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80", "\x7F",
      "\xD0\x96", "\xE2\x80\x99"};
  for (const Vocabulary& vocab : {kLlama2, kTinyLlama}) {
    const LlamaBinTokenizer bin = open_bin(vocab);
    const SentencePieceTokenizer sentencepiece = open_sentencepiece(vocab);
    const unsigned seed = std::random_device{}();
    std::mt19937 rng(seed);
    for (int trial = 0; trial < 3000; ++trial) {
      std::string text;
      const int atoms_in_text = static_cast<int>(rng() % 24);
      for (int i = 0; i < atoms_in_text; ++i) {
        if (rng() % 8 == 0) {
          text.push_back(static_cast<char>(rng() % 256));  // any byte at all
        } else {
          text += atoms[rng() % atoms.size()];
        }
      }
      const auto reference = encode_or_fail(sentencepiece, text, trial % 2 == 0);
      const auto ours = encode_or_fail(bin, text, trial % 2 == 0);
      expect_same_ids(reference, ours, bin, fmt::format("{} seed {} trial {} text {:?}", vocab.dir, seed, trial, text));
      if (reference != ours) return;
    }
  }
}

// The reference prompt of tiny-llama-8m (from its reference.json) in both encoders.
TEST(TokenizerModelTest, TinyLlamaReferencePrompt) {
  NIBBLE_REQUIRE_MODELS();
  const std::vector<int> expected = {1, 407, 450, 1057};
  EXPECT_EQ(encode_or_fail(open_bin(kTinyLlama), "The function returns", true), expected);
  EXPECT_EQ(encode_or_fail(open_sentencepiece(kTinyLlama), "The function returns", true), expected);
}

// stories260K's 512-token vocabulary: sentences decode back to themselves, including
// characters that only byte fallback can spell.
TEST(TokenizerModelTest, Stories260KRoundTrip) {
  NIBBLE_REQUIRE_MODELS();
  auto tokenizer = LlamaBinTokenizer::open(model_path("stories260K/tok512.bin"), 512);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.error().message;
  for (const std::string text :
       {"Once upon a time, there was a little girl named Lily.", "She loved to play outside in the park.",
        "Lily's mom said, \"Lily, let's go to the park.\"", "  two leading spaces and a tab\tand a newline\n",
        "Caf\xC3\xA9 \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x98\x80 {curly} [square] ~tilde~"}) {
    const auto ids = encode_or_fail(*tokenizer, text, true);
    ASSERT_FALSE(ids.empty());
    EXPECT_EQ(ids.front(), tokenizer->bos_id());
    auto decoded = tokenizer->decode(std::vector<int>(ids.begin() + 1, ids.end()), tokenizer->bos_id());
    ASSERT_TRUE(decoded.ok()) << decoded.error().message;
    EXPECT_EQ(*decoded, text);
  }
  // A well-known encoding: llama2.c's run prints these pieces for this prompt.
  const auto ids = encode_or_fail(*tokenizer, "Once upon a time", true);
  ASSERT_GE(ids.size(), 2u);
  auto first = tokenizer->decode_piece(ids[0], ids[1]);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, "Once");
}

// llama.cpp's tokenizer test vectors for the Llama 2 vocabulary (support/vocab_test_vectors.h):
// made without BOS and with the dummy-prefix space, as SentencePiece's Encode does, so
// both of our encoders must reproduce them.
TEST(TokenizerModelTest, LlamaCppVocabTestVectors) {
  NIBBLE_REQUIRE_MODELS();
  auto vectors = testing::read_vocab_test_vectors(model_path("llama2-tokenizer/ggml-vocab-llama-spm.gguf.inp"),
                                                  model_path("llama2-tokenizer/ggml-vocab-llama-spm.gguf.out"));
  ASSERT_TRUE(vectors.ok()) << vectors.error().message;
  const std::vector<std::string>& texts = vectors->texts;
  const std::vector<std::vector<int>>& expected = vectors->ids;
  ASSERT_GE(texts.size(), 40u);

  const LlamaBinTokenizer bin = open_bin(kLlama2);
  const SentencePieceTokenizer sentencepiece = open_sentencepiece(kLlama2);
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string what = fmt::format("vector {} {:?}", i, texts[i]);
    expect_same_ids(expected[i], encode_or_fail(sentencepiece, texts[i], false), sentencepiece, what + " (sentencepiece)");
    expect_same_ids(expected[i], encode_or_fail(bin, texts[i], false), bin, what + " (tokenizer.bin)");
  }
}

// The Llama 2 vocabulary's tokenizer.bin must not be accepted for a model of another
// vocab size, and a tokenizer.model of the wrong size is refused by open_tokenizer.
TEST(TokenizerModelTest, VocabSizeMismatchIsAnError) {
  NIBBLE_REQUIRE_MODELS();
  auto too_small = open_tokenizer(model_path("llama2-tokenizer/tokenizer.bin"), 512);
  ASSERT_FALSE(too_small.ok());
  EXPECT_NE(too_small.error().message.find("512"), std::string::npos) << too_small.error().message;
  auto too_large = open_tokenizer(model_path("stories260K/tok512.bin"), 32000);
  ASSERT_FALSE(too_large.ok());
  EXPECT_NE(too_large.error().message.find("32000"), std::string::npos) << too_large.error().message;
  auto wrong_model = open_tokenizer(model_path("tiny-llama-8m/tokenizer.model"), 32000);
  ASSERT_FALSE(wrong_model.ok());
  EXPECT_NE(wrong_model.error().message.find("8192"), std::string::npos) << wrong_model.error().message;
  auto right = open_tokenizer(model_path("tiny-llama-8m/tokenizer.model"), 8192);
  ASSERT_TRUE(right.ok()) << right.error().message;
  EXPECT_EQ((*right)->vocab_size(), 8192);
  auto any_size = open_tokenizer(model_path("tiny-llama-8m/tokenizer.bin"), 0);
  ASSERT_TRUE(any_size.ok()) << any_size.error().message;
  EXPECT_EQ((*any_size)->vocab_size(), 8192);
}

}  // namespace
}  // namespace nibble

namespace nibble {
namespace {

// Damaged copies of a real tokenizer.model: every truncation point on a coarse grid and
// single-byte flips end in an Error or a tokenizer that still works, never a crash.
TEST(TokenizerModelCorruptionTest, TruncatedAndFlippedSentencePieceModels) {
  NIBBLE_REQUIRE_MODELS();
  auto bytes = read_text_file(testing::model_path("tiny-llama-8m/tokenizer.model"));
  ASSERT_TRUE(bytes.ok());
  const std::string& good = *bytes;
  int errors = 0;
  for (size_t cut = 0; cut < good.size(); cut += good.size() / 97 + 1) {
    auto t = SentencePieceTokenizer::from_serialized(std::string_view(good).substr(0, cut), "cut.model");
    if (!t.ok()) {
      ++errors;
      EXPECT_NE(t.error().message.find("cut.model"), std::string::npos) << t.error().message;
    } else {
      EXPECT_TRUE(t->encode("hello world", true).ok());
    }
  }
  EXPECT_GT(errors, 90);  // nearly every cut loses required fields
  const uint32_t seed = 4242;
  std::srand(seed);
  for (int i = 0; i < 200; ++i) {
    std::string damaged = good;
    damaged[static_cast<size_t>(std::rand()) % damaged.size()] ^= static_cast<char>(1 << (std::rand() % 8));
    auto t = SentencePieceTokenizer::from_serialized(damaged, "flip.model");
    if (t.ok()) {
      EXPECT_TRUE(t->encode("hello world", true).ok()) << "seed " << seed << " case " << i;
    }
  }
}

}  // namespace
}  // namespace nibble
