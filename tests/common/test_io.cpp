#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>

#include "synpref/common/io.h"

using namespace synpref;

namespace {

std::string tmp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("synpref_test_io_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string write_with(const std::string& path, const std::string& content) {
  auto w = io::Writer::open(path);
  EXPECT_TRUE(w.is_ok()) << w.status().message();
  (*w)->append(content);
  EXPECT_TRUE((*w)->close().is_ok());
  return path;
}

std::vector<std::string> read_lines(std::unique_ptr<io::ByteSource> src, uint64_t max_line,
                                    std::vector<uint64_t>* too_long = nullptr) {
  io::LineReader reader(std::move(src), max_line);
  std::vector<std::string> out;
  for (;;) {
    auto line = reader.next();
    EXPECT_TRUE(line.is_ok()) << line.status().message();
    if (!line.is_ok() || line->kind == io::LineReader::Kind::eof) break;
    if (line->kind == io::LineReader::Kind::too_long) {
      if (too_long) too_long->push_back(line->line_no);
      continue;
    }
    // The padding promised to simdjson must be readable (ASan would flag it otherwise).
    volatile char sink = 0;
    for (size_t i = 0; i < io::LineReader::kPadding; ++i)
      sink = sink ^ line->text.data()[line->text.size() + i];
    (void)sink;
    out.emplace_back(line->text);
  }
  return out;
}

}  // namespace

TEST(LineReader, SplitsAcrossChunkBoundariesAndKeepsLastLineWithoutNewline) {
  std::string data;
  std::vector<std::string> expected;
  std::mt19937 rng(1);
  while (data.size() < 3 * (1 << 20)) {
    std::string line(rng() % 5000, 'a' + rng() % 26);
    expected.push_back(line);
    data += line + "\n";
  }
  expected.push_back("tail without newline");
  data += expected.back();
  auto lines = read_lines(io::memory_source(data), 1 << 20);
  ASSERT_EQ(lines.size(), expected.size());
  EXPECT_EQ(lines, expected);
}

TEST(LineReader, OverlongLinesAreSkippedWithTheirLineNumbersAndNothingElseIsLost) {
  std::string big(3 * (1 << 20), 'x');  // longer than the 1 MiB read chunk
  std::string data = "first\n" + big + "\nthird\n" + std::string(5000, 'y') + "\nfifth";
  std::vector<uint64_t> too_long;
  auto lines = read_lines(io::memory_source(data), 4096, &too_long);
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "third", "fifth"}));
  EXPECT_EQ(too_long, (std::vector<uint64_t>{2, 4}));
}

TEST(LineReader, EmptyInputAndEmptyLines) {
  EXPECT_TRUE(read_lines(io::memory_source(""), 100).empty());
  EXPECT_EQ(read_lines(io::memory_source("\n\nx\n"), 100), (std::vector<std::string>{"", "", "x"}));
}

TEST(Compression, GzipAndZstdRoundTripThroughWriterAndSource) {
  std::string content;
  for (int i = 0; i < 100000; ++i) content += "line " + std::to_string(i) + " ünïcödé\n";
  for (const char* ext : {".gz", ".zst", ".jsonl"}) {
    std::string path = write_with(tmp_path(std::string("rt") + ext), content);
    auto back = io::read_file(path);
    ASSERT_TRUE(back.is_ok()) << back.status().message();
    EXPECT_EQ(*back, content) << ext;
  }
}

TEST(Compression, ConcatenatedGzipMembersAreReadInSequence) {
  std::string a = write_with(tmp_path("a.gz"), "one\n");
  std::string b = write_with(tmp_path("b.gz"), "two\n");
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  std::string both = std::string(std::istreambuf_iterator<char>(fa), {}) +
                     std::string(std::istreambuf_iterator<char>(fb), {});
  std::ofstream(tmp_path("ab.gz"), std::ios::binary) << both;
  auto back = io::read_file(tmp_path("ab.gz"));
  ASSERT_TRUE(back.is_ok()) << back.status().message();
  EXPECT_EQ(*back, "one\ntwo\n");
}

TEST(Compression, TruncatedAndCorruptStreamsAreCleanErrorsNamingTheFile) {
  std::string content;
  for (int i = 0; i < 50000; ++i) content += "record " + std::to_string(i * 7919) + "\n";
  for (const char* ext : {".gz", ".zst"}) {
    std::string path = write_with(tmp_path(std::string("full") + ext), content);
    std::ifstream f(path, std::ios::binary);
    std::string bytes(std::istreambuf_iterator<char>(f), {});
    // Truncated: keep half the compressed bytes.
    std::string cut = tmp_path(std::string("cut") + ext);
    std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    auto r = io::read_file(cut);
    ASSERT_FALSE(r.is_ok()) << ext;
    EXPECT_NE(r.status().message().find(cut), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();
    // Corrupt: flip bytes in the middle.
    std::string bad = bytes;
    for (size_t i = bad.size() / 3; i < bad.size() / 3 + 64; ++i) bad[i] ^= 0x5A;
    std::string corrupt = tmp_path(std::string("corrupt") + ext);
    std::ofstream(corrupt, std::ios::binary) << bad;
    auto r2 = io::read_file(corrupt);
    ASSERT_FALSE(r2.is_ok()) << ext;
    EXPECT_NE(r2.status().message().find(corrupt), std::string::npos) << r2.status().message();
  }
}

TEST(Writer, PublishesOnlyOnSuccessfulClose) {
  std::string path = tmp_path("atomic.jsonl");
  std::filesystem::remove(path);
  {
    auto w = io::Writer::open(path);
    ASSERT_TRUE(w.is_ok());
    (*w)->append("partial");
    EXPECT_FALSE(std::filesystem::exists(path));  // still under .tmp
  }                                               // destroyed without close: an error path
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(Sources, MissingFileAndDirectoryAreErrors) {
  auto r = io::open_source("/nonexistent/file.jsonl");
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::not_found);
  auto d = io::open_source("/tmp");
  ASSERT_FALSE(d.is_ok());
  EXPECT_NE(d.status().message().find("directory"), std::string::npos);
}

// ---- outputs that are not plain files (issue 12, item 1) ---------------------------------------

namespace {

bool is_char_device(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode);
}

std::string slurp_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST(Writer, DeviceNodesAreWrittenInPlaceNeverReplaced) {
  ASSERT_TRUE(is_char_device("/dev/null"));
  auto w = io::Writer::open("/dev/null");
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  (*w)->append("discarded\n");
  EXPECT_TRUE((*w)->close().is_ok());
  EXPECT_TRUE(is_char_device("/dev/null")) << "/dev/null was replaced by a regular file";
  EXPECT_FALSE(std::filesystem::exists("/dev/null.tmp"));
}

TEST(Writer, AFullDeviceIsANoSpaceErrorNamingThePath) {
  if (!is_char_device("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  auto w = io::Writer::open("/dev/full");
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  (*w)->append(std::string(3 << 20, 'x'));  // more than one flush
  Status st = (*w)->close();
  ASSERT_FALSE(st.is_ok());
  EXPECT_NE(st.message().find("/dev/full"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("no space left"), std::string::npos) << st.message();
  EXPECT_TRUE(is_char_device("/dev/full"));
}

TEST(Writer, AFifoIsWrittenThroughNotReplaced) {
  std::string fifo = tmp_path("out.fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string got;
  std::thread reader([&] { got = slurp_file(fifo); });
  auto w = io::Writer::open(fifo);
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  (*w)->append("through the pipe\n");
  EXPECT_TRUE((*w)->close().is_ok());
  reader.join();
  EXPECT_EQ(got, "through the pipe\n");
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the FIFO was replaced by a regular file";
}

TEST(Writer, ASymlinkKeepsPointingAtItsTargetWhichGetsTheData) {
  std::string target = tmp_path("link_target.jsonl"), link = tmp_path("link.jsonl");
  std::filesystem::remove(link);
  write_with(target, "old\n");
  std::filesystem::create_symlink(target, link);
  write_with(link, "new\n");
  EXPECT_TRUE(std::filesystem::is_symlink(link)) << "the symlink was replaced by a regular file";
  EXPECT_EQ(slurp_file(target), "new\n");
  // A dangling link: its target is created.
  std::string dangling = tmp_path("dangling.jsonl"), missing = tmp_path("missing_target.jsonl");
  std::filesystem::remove(dangling);
  std::filesystem::remove(missing);
  std::filesystem::create_symlink(missing, dangling);
  write_with(dangling, "created\n");
  EXPECT_TRUE(std::filesystem::is_symlink(dangling));
  EXPECT_EQ(slurp_file(missing), "created\n");
}

TEST(Writer, ADirectoryIsRefused) {
  auto w = io::Writer::open(std::filesystem::temp_directory_path().string());
  ASSERT_FALSE(w.is_ok());
  EXPECT_NE(w.status().message().find("directory"), std::string::npos) << w.status().message();
}

TEST(Outputs, AnOutputThatIsAnInputIsRefusedThroughAnyName) {
  std::string in = write_with(tmp_path("input.jsonl"), "data\n");
  std::string other = write_with(tmp_path("other.jsonl"), "other\n");
  std::string hard = tmp_path("hard.jsonl"), soft = tmp_path("soft.jsonl");
  std::filesystem::remove(hard);
  std::filesystem::remove(soft);
  std::filesystem::create_hard_link(in, hard);
  std::filesystem::create_symlink(in, soft);
  for (const std::string& out : {in, hard, soft}) {
    Status st = io::check_not_an_input(out, {other, in});
    ASSERT_FALSE(st.is_ok()) << out;
    EXPECT_NE(st.message().find("is also an input"), std::string::npos) << st.message();
  }
  EXPECT_TRUE(io::check_not_an_input(other, {in}).is_ok());
  EXPECT_TRUE(io::check_not_an_input(tmp_path("does_not_exist.jsonl"), {in}).is_ok());
  EXPECT_TRUE(io::check_not_an_input("-", {"-"}).is_ok());
}

// ---- inputs changed by another process while read (issue 12, item 5) ---------------------------

namespace {

// Reads `path` in 4 KiB steps; after the first step calls `meddle`, then reads to the end.
Status read_while(const std::string& path, const std::function<void()>& meddle) {
  auto src = io::open_source(path);
  if (!src.is_ok()) return src.status();
  std::vector<char> buf(4096);
  bool first = true;
  for (;;) {
    auto n = (*src)->read(buf.data(), buf.size());
    if (!n.is_ok()) return n.status();
    if (*n == 0) return Status::ok();
    if (first) meddle();
    first = false;
  }
}

}  // namespace

TEST(Sources, AFileTruncatedWhileReadIsAnErrorNamingIt) {
  std::string path = write_with(tmp_path("shrinks.jsonl"), std::string(1 << 20, 'a'));
  Status st = read_while(path, [&] { std::filesystem::resize_file(path, 10000); });
  ASSERT_FALSE(st.is_ok()) << "a truncated input read as if complete";
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("truncated"), std::string::npos) << st.message();
  // Compressed files are watched the same way (the compressed bytes are the file).
  std::string content;
  for (int i = 0; i < 200000; ++i) content += std::to_string(i * 2654435761u) + "\n";
  std::string gz = write_with(tmp_path("shrinks.jsonl.zst"), content);
  Status st_gz = read_while(gz, [&] { std::filesystem::resize_file(gz, 100); });
  ASSERT_FALSE(st_gz.is_ok());
  EXPECT_NE(st_gz.message().find(gz), std::string::npos) << st_gz.message();
}

TEST(Sources, AFileReplacedWhileReadIsAnErrorNamingIt) {
  std::string path = write_with(tmp_path("replaced.jsonl"), std::string(1 << 20, 'a'));
  Status st = read_while(path, [&] { write_with(path, "the new version\n"); });  // renamed over
  ASSERT_FALSE(st.is_ok()) << "a replaced input read as if unchanged";
  EXPECT_NE(st.message().find(path), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("replaced"), std::string::npos) << st.message();
  // Untouched files still read to the end.
  EXPECT_TRUE(read_while(path, [] {}).is_ok());
}

TEST(CheckOutputPath, AcceptsAFileInAWritableFolderAndStdoutWithoutWritingAnything) {
  std::string path = tmp_path("check_out/report.json");
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  EXPECT_TRUE(io::check_output_path(path).is_ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(io::check_output_path(write_with(path, "old")).is_ok());  // an existing file is replaced
  EXPECT_TRUE(io::check_output_path("-").is_ok());
}

TEST(CheckOutputPath, RefusesAMissingFolderAFolderAndAFileAsFolder) {
  std::string missing = tmp_path("no_such_folder/report.json");
  Status s = io::check_output_path(missing);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::not_found);
  EXPECT_NE(s.message().find("no_such_folder does not exist"), std::string::npos) << s.message();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(missing).parent_path()));

  std::string folder = tmp_path("a_folder");
  std::filesystem::create_directories(folder);
  EXPECT_EQ(io::check_output_path(folder).code(), StatusCode::invalid_argument);

  std::string file = write_with(tmp_path("plain_file"), "x");
  Status under_file = io::check_output_path(file + "/report.json");
  ASSERT_FALSE(under_file.is_ok());
  EXPECT_NE(under_file.message().find("is not a folder"), std::string::npos) << under_file.message();
  EXPECT_FALSE(io::check_output_path("").is_ok());
}

TEST(CheckOutputPath, RefusesAReadOnlyFolder) {
  if (::geteuid() == 0) GTEST_SKIP() << "root may write into a read-only folder";
  std::string folder = tmp_path("read_only");
  std::filesystem::create_directories(folder);
  std::filesystem::permissions(folder,
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  Status s = io::check_output_path(folder + "/report.json");
  std::filesystem::permissions(folder, std::filesystem::perms::owner_all);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::io_error);
  EXPECT_NE(s.message().find("not writable"), std::string::npos) << s.message();
}
