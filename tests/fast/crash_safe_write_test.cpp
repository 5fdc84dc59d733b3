// `kill -9` during every command that writes a file: the target path must then hold the
// previous file or none (or, when the kill came after the rename, the complete new file),
// never a partial one; the dead writer's temp file is ignored by readers and removed by
// the next writer of the same path.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "support/test_support.h"
#include "support/vocabulary_images.h"

extern char** environ;

namespace nibble {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::vector<fs::path> temp_files(const fs::path& dir) {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().starts_with(".nibble-tmp-")) found.push_back(entry.path());
  return found;
}

void run_ok(const std::string& args) {
  const auto result = testing::run_nibble(args);
  ASSERT_EQ(result.exit_code, 0) << "nibble " << args << "\n" << result.err;
}

// Starts `nibble args...`, waits until its temp file appears in `dir` (or `deadline`
// passes) and SIGKILLs it. Returns true when the kill landed while the temp file existed.
bool kill_mid_write(const std::vector<std::string>& args, const fs::path& dir, std::chrono::microseconds extra) {
  std::vector<std::string> argv_strings = {NIBBLE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(spawned, 0);
  if (spawned != 0) return false;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool writing = false;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string own_prefix = ".nibble-tmp-" + std::to_string(pid) + "-";
    for (const auto& t : temp_files(dir)) writing = writing || t.filename().string().starts_with(own_prefix);
    if (writing) break;
    if (int status; waitpid(pid, &status, WNOHANG) == pid) return false;  // finished before we saw it
  }
  // Part of the rounds wait a little after the temp file appears, so the kill lands
  // at different points of the write.
  std::this_thread::sleep_for(extra);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  return writing && killed;
}

struct Writer {
  std::string name;
  std::vector<std::string> make_previous;  // writes a complete, different file at `out`
  std::vector<std::string> make_new;       // the run that is killed
};

TEST(CrashSafeWrites, KillDuringEveryWriterLeavesThePreviousFileOrNone) {
  const fs::path dir = testing::temp_dir();
  const std::string source = (dir / "source.gguf").string();
  const std::string tokenizer = (dir / "tokenizer.bin").string();
  const std::string image =
      testing::llama_bin_image(testing::byte_fallback_vocabulary({" t", "th", "he", " the", "in", "ing"}), 8);
  std::ofstream(tokenizer, std::ios::binary).write(image.data(), static_cast<std::streamsize>(image.size()));
  // A float llama-8m model: tens of MB, so each write takes long enough to be hit.
  run_ok("synth --shape llama-8m --seed 1 --tokenizer " + testing::shell_quote(tokenizer) + " -o " +
         testing::shell_quote(source));

  const std::string out = (dir / "out.gguf").string();
  const std::vector<Writer> writers = {
      {"quantize", {"quantize", "-m", source, "--recipe", "q8_g32", "-o", out},
       {"quantize", "-m", source, "--recipe", "q4_g32", "-o", out}},
      {"export-gguf", {"export-gguf", "-m", source, "--recipe", "q8_g32", "-o", out},
       {"export-gguf", "-m", source, "-o", out}},
      {"synth", {"synth", "--shape", "llama-8m", "--seed", "2", "--tokenizer", tokenizer, "--recipe", "q8_g32", "-o", out},
       {"synth", "--shape", "llama-8m", "--seed", "3", "--tokenizer", tokenizer, "-o", out}},
  };
  std::mt19937 rng(7);
  for (const Writer& w : writers) {
    SCOPED_TRACE(w.name);
    // With no previous file, a killed write leaves none. A round whose kill came too late
    // (the writer finished first: a busy machine, e.g. under ASan with another test
    // running) leaves the complete file, which is removed before the next try.
    int hits = 0;
    for (int round = 0; round < 8 && hits < 3; ++round) {
      fs::remove(out);
      if (kill_mid_write(w.make_new, dir, std::chrono::microseconds(0))) {
        ++hits;
        EXPECT_FALSE(fs::exists(out)) << "a killed first write left a file";
      }
    }
    ASSERT_GT(hits, 0) << "no kill landed during the write: the test tested nothing";

    // With a previous file, a killed write leaves it byte for byte, or the whole new file.
    std::string previous_args, new_args;
    for (const auto& a : w.make_previous) previous_args += testing::shell_quote(a) + " ";
    for (const auto& a : w.make_new) new_args += testing::shell_quote(a) + " ";
    run_ok(new_args);
    const std::string complete = read_all(out);
    run_ok(previous_args);
    const std::string previous = read_all(out);
    ASSERT_NE(previous, complete);
    hits = 0;
    for (int round = 0; round < 6; ++round) {
      const auto extra = std::chrono::microseconds(rng() % 20000);
      hits += kill_mid_write(w.make_new, dir, extra);
      const std::string now = read_all(out);
      ASSERT_TRUE(now == previous || now == complete)
          << "round " << round << ": the file is neither the previous one nor the complete new one ("
          << now.size() << " bytes)";
      if (now == complete) run_ok(previous_args);  // the kill came after the rename: start over
    }
    EXPECT_GT(hits, 0) << "no kill landed during the write";

    // One more kill mid-write leaves its temp file behind; readers never see it: the
    // path still loads (and verifies), and the next writer of the path removes it.
    if (kill_mid_write(w.make_new, dir, std::chrono::microseconds(0))) {
      EXPECT_FALSE(temp_files(dir).empty()) << "the killed writer's temp file vanished";
      ASSERT_EQ(read_all(out), previous);
    }
    run_ok(w.name == "export-gguf" ? "inspect -m " + testing::shell_quote(out)
                                   : "inspect --verify -m " + testing::shell_quote(out));
    run_ok(previous_args);
    EXPECT_TRUE(temp_files(dir).empty()) << temp_files(dir).front();
  }
}

}  // namespace
}  // namespace nibble
