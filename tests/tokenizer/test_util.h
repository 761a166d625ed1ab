// tests/tokenizer/test_util.h: paths and helpers shared by the tokenizer tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "synpref/tokenizer/tokenizer.h"

namespace synpref::tokenizer::testing {

inline std::string shared_tokenizer_dir(const std::string& name) {
  return std::string(SYNPREF_SOURCE_DIR) + "/../shared/data/tokenizers/" + name;
}

// Loads a tokenizer from ../shared/data/tokenizers/<name> once per process.
inline const Tokenizer& shared_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    Result<Tokenizer> loaded = load_tokenizer(shared_tokenizer_dir(name));
    SP_CHECK_MSG(loaded.is_ok(), loaded.status().message().c_str());
    it = cache.emplace(name, std::make_unique<Tokenizer>(std::move(loaded).value())).first;
  }
  return *it->second;
}

// A fresh temporary directory, removed at destruction.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "synpref-tok-XXXXXX").string();
    SP_CHECK(mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Runs a shell command; returns its exit status and captures stdout (+ stderr when asked).
struct CommandResult {
  int status = -1;
  std::string output;
};
inline CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) result.output.append(buf, n);
  const int raw = pclose(pipe);
  result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return result;
}

inline void write_file(const std::string& path, const std::string& content) {
  FILE* f = std::fopen(path.c_str(), "wb");
  SP_CHECK(f != nullptr);
  std::fwrite(content.data(), 1, content.size(), f);
  std::fclose(f);
}

}  // namespace synpref::tokenizer::testing
