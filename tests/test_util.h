// Helpers shared by tests: temp folders, running the real synpref binary, reading files.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace synpref::testing {

inline std::string shared_data(const std::string& rel) {
  return std::string(SYNPREF_SOURCE_DIR) + "/../shared/data/" + rel;
}
inline std::string source_path(const std::string& rel) {
  return std::string(SYNPREF_SOURCE_DIR) + "/" + rel;
}

// Folders made by temp_dir(), removed when the test process exits (unless SYNPREF_KEEP_TEMP is
// set, to inspect a failure).
struct TempDirs {
  std::vector<std::filesystem::path> dirs;
  ~TempDirs() {
    if (std::getenv("SYNPREF_KEEP_TEMP")) return;
    std::error_code ec;
    for (auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};
inline TempDirs& temp_dirs() {
  static TempDirs dirs;
  return dirs;
}

inline std::string temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("synpref_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  temp_dirs().dirs.push_back(dir);
  return dir.string();
}

// A fresh directory under $TMPDIR, removed when this object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "synpref-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (!p) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void spit(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
}

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the synpref binary with a shell-quoted argument string; captures stdout and stderr.
inline RunResult run_synpref(const std::string& args) {
  static int counter = 0;
  static const std::string dir = temp_dir("run");
  std::string out = dir + "/out" + std::to_string(counter), err = dir + "/err" + std::to_string(counter);
  ++counter;
  std::string cmd = std::string("CI=1 ") + SYNPREF_BINARY + " " + args + " >" + out + " 2>" + err;
  int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

inline size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace synpref::testing
