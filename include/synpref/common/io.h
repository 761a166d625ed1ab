// synpref/common/io.h: byte sources, line reading and output files.
//
// Inputs are read as streams whatever their size (bounded memory): plain files, gzip and zstd
// (detected from the magic bytes, not the extension), stdin ("-"), or memory. A regular input
// file truncated or replaced by another process while it is read is an error, not a silently
// shorter input. Outputs pick their compression from the extension (.gz, .zst); a regular file is
// written to "<path>.tmp" then renamed on a successful close, so an interrupted command never
// leaves a half-written file that looks whole.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::io {

enum class Compression { none, gzip, zstd };

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // Reads up to `capacity` bytes into dst. Returns 0 at the end of the stream; an error for
  // read failures and truncated or corrupt compressed streams.
  virtual Result<size_t> read(char* dst, size_t capacity) = 0;
  // Bytes of the underlying (compressed) file consumed so far and its total size; 0 when unknown.
  // Used for progress bars.
  virtual uint64_t raw_position() const { return 0; }
  virtual uint64_t raw_size() const { return 0; }
  virtual const std::string& name() const = 0;
};

// Opens `path` ("-" = stdin). Compression is detected from the first bytes.
Result<std::unique_ptr<ByteSource>> open_source(const std::string& path);
// A source over memory the caller keeps alive while it is read.
std::unique_ptr<ByteSource> memory_source(std::string_view data, std::string name = "<memory>");
// Reads a whole file (decompressing) into memory; refuses files above max_bytes.
Result<std::string> read_file(const std::string& path, uint64_t max_bytes = uint64_t{4} << 30);

// Splits a ByteSource into lines with bounded memory.
//
// Each returned line excludes its '\n'. Lines longer than max_line_bytes are not buffered: the
// reader skips to the next newline and reports `too_long` with the line number, so one bad line
// never costs unbounded memory nor stops the file. Every returned view stays valid until the next
// call and is followed by at least kPadding readable bytes (simdjson can parse it in place).
class LineReader {
 public:
  static constexpr size_t kPadding = 64;
  static constexpr size_t kChunk = 64 << 10;  // bytes read per refill
  enum class Kind { line, too_long, eof };
  struct Line {
    Kind kind = Kind::eof;
    std::string_view text;  // for Kind::line
    uint64_t line_no = 0;   // 1-based
    uint64_t length = 0;    // bytes in the line (also for too_long)
  };

  LineReader(std::unique_ptr<ByteSource> source, uint64_t max_line_bytes);
  Result<Line> next();
  const ByteSource& source() const { return *source_; }

 private:
  Status fill();  // reads more bytes after end_; sets eof_

  std::unique_ptr<ByteSource> source_;
  uint64_t max_line_bytes_;
  std::vector<char> buf_;
  size_t begin_ = 0, end_ = 0;
  bool eof_ = false;
  uint64_t line_no_ = 0;
};

// A buffered output file. Compression from the extension (.gz, .zst); "-" = stdout; "" = discard
// (a null sink for benchmarks and dry runs).
//
// Where the bytes go: a regular file (existing or not) is written to "<file>.tmp" and renamed over
// it by close(); a character device, FIFO or socket (/dev/null, /dev/stdout, a named pipe) is
// written in place, never replaced; a symlink is followed to its final target, which is written as
// above (the link itself stays). A directory is refused. A full disk (or /dev/full) fails with
// "no space left on device".
class Writer {
 public:
  ~Writer();
  static Result<std::unique_ptr<Writer>> open(const std::string& path);
  static std::unique_ptr<Writer> to_string(std::string* out);

  void append(std::string_view bytes) {
    buf_.append(bytes);
    if (buf_.size() >= kFlushBytes) flush_or_remember();
  }
  std::string& buffer() { return buf_; }  // for in-place formatting; call maybe_flush() after
  void maybe_flush() {
    if (buf_.size() >= kFlushBytes) flush_or_remember();
  }
  uint64_t bytes_written() const { return bytes_written_ + buf_.size(); }
  // Flushes, finishes the compressed stream, and renames the temporary file into place.
  Status close();
  const std::string& path() const { return path_; }

  struct Backend;

 private:
  static constexpr size_t kFlushBytes = 1 << 20;
  Writer() = default;
  void flush_or_remember();
  Status flush();

  std::string path_;
  std::string publish_path_;  // renamed from "<publish_path_>.tmp" on close; "" = written in place
  std::string buf_;
  std::unique_ptr<Backend> backend_;
  Status deferred_;
  uint64_t bytes_written_ = 0;
  bool closed_ = false;
};

// Refuses (invalid_argument, before anything is written) an output that is the same file
// (device and inode, so also through links) as one of the inputs: writing it would destroy the
// input while it is read. "", "-" and outputs that do not exist yet always pass.
Status check_not_an_input(const std::string& output, const std::vector<std::string>& inputs);

// Writes `text` to `path` through a Writer (atomic: "<path>.tmp" renamed on success; compression
// from the extension).
Status write_text(const std::string& path, std::string_view text);

// Checks, without writing anything, that an output file can be created at `path`: its folder
// ("." when none) exists, is a folder and is writable, and `path` is not a folder. "-" (stdout)
// is fine. Call it for every output before long work, so a typo fails in a second, not after
// hours of scoring. Errors: invalid_argument (empty path, a folder), not_found (no such folder),
// io_error (not writable), each naming the path.
Status check_output_path(const std::string& path);

}  // namespace synpref::io

namespace synpref {

// Ok when `path` (after following symlinks) is a regular file. Opening a FIFO for reading blocks
// until a writer appears, and a device or directory is never a checkpoint or tokenizer: check
// before opening. Errors name the file: not_found when absent, invalid_argument for other kinds.
Status require_regular_file(const std::string& path);

}  // namespace synpref
