#include "model/sampler.h"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

namespace nibble {
namespace {

TEST(Sampler, GreedyTakesFirstMaximum) {
  auto sampler = Sampler::create({0.0f, 0.9f, 1});
  ASSERT_TRUE(sampler.ok());
  std::vector<float> logits = {0.5f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(sampler->sample(logits.data(), 4), 1);
}

TEST(Sampler, SameSeedSameChoices) {
  std::vector<int> first, second;
  for (auto* out : {&first, &second}) {
    auto sampler = Sampler::create({1.0f, 0.95f, 42});
    for (int i = 0; i < 200; ++i) {
      std::vector<float> logits = {1.0f, 1.2f, 0.8f, 1.1f, 0.2f};
      out->push_back(sampler->sample(logits.data(), 5));
    }
  }
  EXPECT_EQ(first, second);
  // Sampling at temperature 1 over near-equal logits must not always pick one id.
  EXPECT_NE(std::count(first.begin(), first.end(), first[0]), 200);
}

TEST(Sampler, TinyTopPKeepsOnlyTheTopToken) {
  auto sampler = Sampler::create({1.0f, 0.01f, 7});
  for (int i = 0; i < 100; ++i) {
    std::vector<float> logits = {0.0f, 2.0f, 1.9f, -3.0f};
    ASSERT_EQ(sampler->sample(logits.data(), 4), 1);
  }
}

TEST(Sampler, RejectsBadSettings) {
  EXPECT_FALSE(Sampler::create({-1.0f, 0.9f, 1}).ok());
  auto bad_top_p = Sampler::create({1.0f, 1.5f, 1});
  ASSERT_FALSE(bad_top_p.ok());
  EXPECT_NE(bad_top_p.error().message.find("1.5"), std::string::npos);
}

}  // namespace
}  // namespace nibble
