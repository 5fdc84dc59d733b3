#include "support/test_support.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/wait.h>

namespace nibble::testing {

std::string models_dir() {
  if (const char* env = std::getenv("NIBBLE_MODELS"); env != nullptr && *env != '\0') return env;
  return std::string(NIBBLE_SOURCE_DIR) + "/../shared/models";
}

std::string model_path(const std::string& relative) { return models_dir() + "/" + relative; }

bool require_models() {
  return std::filesystem::exists(model_path("tiny-llama-8m/model.bin"));
}

std::string temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "nibble";
  for (char& c : name)
    if (c == '/') c = '_';
  auto dir = std::filesystem::temp_directory_path() / ("nibble-test-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

bool load_npy_f32(const std::string& path, std::vector<float>* data, std::vector<int64_t>* shape,
                  std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) { *error = "cannot open " + path; return false; }
  char magic[6];
  in.read(magic, 6);
  if (std::memcmp(magic, "\x93NUMPY", 6) != 0) { *error = "not an npy file"; return false; }
  unsigned char version[2];
  in.read(reinterpret_cast<char*>(version), 2);
  uint32_t header_len = 0;
  if (version[0] == 1) {
    uint16_t len16;
    in.read(reinterpret_cast<char*>(&len16), 2);
    header_len = len16;
  } else {
    in.read(reinterpret_cast<char*>(&header_len), 4);
  }
  std::string header(header_len, '\0');
  in.read(header.data(), header_len);
  if (header.find("'descr': '<f4'") == std::string::npos) { *error = "not <f4: " + header; return false; }
  if (header.find("'fortran_order': False") == std::string::npos) { *error = "fortran order"; return false; }
  auto open = header.find('(');
  auto close = header.find(')');
  shape->clear();
  std::stringstream dims(header.substr(open + 1, close - open - 1));
  std::string item;
  int64_t count = 1;
  while (std::getline(dims, item, ',')) {
    if (item.find_first_not_of(' ') == std::string::npos) continue;
    shape->push_back(std::stoll(item));
    count *= shape->back();
  }
  data->resize(static_cast<size_t>(count));
  in.read(reinterpret_cast<char*>(data->data()), count * 4);
  if (!in) { *error = "truncated data"; return false; }
  return true;
}

}  // namespace nibble::testing

namespace nibble::testing {

void expect_mentions(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "message: " << message << "\nmissing: " << part;
}

std::string shell_quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

CommandResult run_nibble(const std::string& args) {
  // Not temp_dir(): that empties the test's directory, which may hold the files the
  // command is about to read.
  std::string err_path = (std::filesystem::temp_directory_path() / "nibble-stderr-XXXXXX").string();
  const int fd = ::mkstemp(err_path.data());
  if (fd >= 0) ::close(fd);
  const std::string command = shell_quote(NIBBLE_BINARY) + " " + args + " 2>" + shell_quote(err_path);
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) result.out.append(buffer, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  result.err = ss.str();
  std::filesystem::remove(err_path);
  return result;
}

}  // namespace nibble::testing
