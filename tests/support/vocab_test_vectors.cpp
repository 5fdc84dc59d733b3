#include "support/vocab_test_vectors.h"

#include <iterator>
#include <sstream>

#include "core/file.h"

namespace nibble::testing {

Result<VocabTestVectors> read_vocab_test_vectors(const std::string& inp_path, const std::string& out_path) {
  NIBBLE_ASSIGN_OR_RETURN(std::string inputs, read_text_file(inp_path));
  NIBBLE_ASSIGN_OR_RETURN(std::string outputs, read_text_file(out_path));
  const std::string separator = "\n__ggml_vocab_test__\n";
  VocabTestVectors vectors;
  for (size_t begin = 0; begin < inputs.size();) {
    const size_t end = inputs.find(separator, begin);
    if (end == std::string::npos)
      return make_error("{}: text {} (at byte {}) has no closing separator", inp_path, vectors.texts.size(), begin);
    vectors.texts.push_back(inputs.substr(begin, end - begin));
    begin = end + separator.size();
  }
  std::istringstream lines(outputs);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream numbers(line);
    vectors.ids.emplace_back(std::istream_iterator<int>(numbers), std::istream_iterator<int>());
  }
  if (vectors.texts.size() != vectors.ids.size())
    return make_error("{} holds {} texts but {} holds {} id lines", inp_path, vectors.texts.size(), out_path,
                      vectors.ids.size());
  return vectors;
}

}  // namespace nibble::testing
