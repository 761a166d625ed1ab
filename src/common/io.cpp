#include "synpref/common/io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace synpref::io {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Reads raw bytes from a file descriptor.
//
// A regular file is watched for changes by another process: reaching its end before the size it
// had when opened (truncated), or finding that its path now names another file (replaced), is an
// error naming the file, since what was read is then not the file the user meant.
class FdReader {
 public:
  FdReader(int fd, bool own, std::string path) : fd_(fd), own_(own), path_(std::move(path)) {
    struct stat st {};
    if (fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) {
      regular_ = true;
      size_ = static_cast<uint64_t>(st.st_size);
      dev_ = st.st_dev;
      ino_ = st.st_ino;
      // stdin redirected from a file may start past its beginning.
      off_t at = ::lseek(fd_, 0, SEEK_CUR);
      start_ = at > 0 ? static_cast<uint64_t>(at) : 0;
    }
  }
  ~FdReader() {
    if (own_ && fd_ >= 0) ::close(fd_);
  }
  Result<size_t> read(char* dst, size_t cap, const std::string& name) {
    // Serve bytes pushed back by compression detection first.
    if (!peeked_.empty()) {
      size_t n = std::min(cap, peeked_.size());
      std::memcpy(dst, peeked_.data(), n);
      peeked_.erase(0, n);
      return n;
    }
    for (;;) {
      ssize_t n = ::read(fd_, dst, cap);
      if (n > 0) {
        position_ += static_cast<uint64_t>(n);
        return static_cast<size_t>(n);
      }
      if (n == 0) {
        SP_RETURN_IF_ERROR(check_unchanged(name));
        return size_t{0};
      }
      if (errno == EINTR) continue;
      return io_error(name + ": read failed: " + errno_text());
    }
  }
  // Reads up to n bytes to look at the magic, then serves them again from read().
  Result<std::string> peek(size_t n, const std::string& name) {
    std::string head(n, '\0');
    size_t got = 0;
    while (got < n) {
      auto r = read(head.data() + got, n - got, name);
      if (!r) return r.status();
      if (*r == 0) break;
      got += *r;
    }
    head.resize(got);
    peeked_ = head;
    return head;
  }
  uint64_t position() const { return position_ - peeked_.size(); }
  uint64_t size() const { return size_; }

 private:
  // At the end of a regular file: the whole file as it was when opened was read, and the path
  // still names it.
  Status check_unchanged(const std::string& name) const {
    if (!regular_) return Status::ok();
    struct stat now {};
    const bool stat_ok = fstat(fd_, &now) == 0;
    if (start_ + position_ < size_) {
      return io_error(name + ": file ended after " + std::to_string(start_ + position_) + " of its " +
                      std::to_string(size_) + " bytes" +
                      (stat_ok ? " (it is now " + std::to_string(now.st_size) + " bytes)" : std::string()) +
                      ": it was truncated by another process while being read; read it again once it is "
                      "complete");
    }
    if (!path_.empty()) {
      struct stat named {};
      if (::stat(path_.c_str(), &named) != 0 || named.st_dev != dev_ || named.st_ino != ino_) {
        return io_error(name +
                        ": the file was replaced or removed by another process while being read; "
                        "read it again once it is complete");
      }
    }
    return Status::ok();
  }

  int fd_;
  bool own_;
  std::string path_;  // "" for stdin
  bool regular_ = false;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  uint64_t size_ = 0, start_ = 0, position_ = 0;
  std::string peeked_;
};

class PlainSource final : public ByteSource {
 public:
  PlainSource(std::unique_ptr<FdReader> fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}
  Result<size_t> read(char* dst, size_t cap) override { return fd_->read(dst, cap, name_); }
  uint64_t raw_position() const override { return fd_->position(); }
  uint64_t raw_size() const override { return fd_->size(); }
  const std::string& name() const override { return name_; }

 private:
  std::unique_ptr<FdReader> fd_;
  std::string name_;
};

// gzip via zlib's inflate (not gzread) so truncation and corruption are reported precisely.
// Concatenated gzip members are read in sequence, as gzip(1) does.
class GzipSource final : public ByteSource {
 public:
  GzipSource(std::unique_ptr<FdReader> fd, std::string name)
      : fd_(std::move(fd)), name_(std::move(name)), in_(1 << 16) {
    std::memset(&zs_, 0, sizeof(zs_));
    SP_CHECK(inflateInit2(&zs_, 15 + 16) == Z_OK);
  }
  ~GzipSource() override { inflateEnd(&zs_); }
  Result<size_t> read(char* dst, size_t cap) override {
    if (done_) return size_t{0};
    zs_.next_out = reinterpret_cast<Bytef*>(dst);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(cap, 1u << 30));
    while (zs_.avail_out > 0) {
      if (zs_.avail_in == 0) {
        auto n = fd_->read(in_.data(), in_.size(), name_);
        if (!n) return n.status();
        if (*n == 0) {
          if (in_member_) {
            return io_error(name_ + ": truncated gzip stream (unexpected end of file after " +
                            std::to_string(total_out_ + produced(dst)) + " decompressed bytes)");
          }
          done_ = true;
          break;
        }
        zs_.next_in = reinterpret_cast<Bytef*>(in_.data());
        zs_.avail_in = static_cast<uInt>(*n);
      }
      in_member_ = true;
      int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {  // a member ended; another may follow (concatenated gzip)
        in_member_ = false;
        SP_CHECK(inflateReset(&zs_) == Z_OK);
        continue;
      }
      if (rc == Z_BUF_ERROR && zs_.avail_in == 0) continue;  // needs more input
      if (rc != Z_OK) {
        return io_error(name_ + ": corrupt gzip stream (" +
                        (zs_.msg ? std::string(zs_.msg) : "inflate error " + std::to_string(rc)) + ")");
      }
    }
    size_t n = produced(dst);
    total_out_ += n;
    return n;
  }
  size_t produced(char* dst) const {
    return static_cast<size_t>(reinterpret_cast<char*>(zs_.next_out) - dst);
  }
  uint64_t raw_position() const override { return fd_->position(); }
  uint64_t raw_size() const override { return fd_->size(); }
  const std::string& name() const override { return name_; }

 private:
  std::unique_ptr<FdReader> fd_;
  std::string name_;
  std::vector<char> in_;
  z_stream zs_;
  bool done_ = false, in_member_ = false;
  uint64_t total_out_ = 0;
};

class ZstdSource final : public ByteSource {
 public:
  ZstdSource(std::unique_ptr<FdReader> fd, std::string name)
      : fd_(std::move(fd)), name_(std::move(name)), in_(ZSTD_DStreamInSize()) {
    ctx_ = ZSTD_createDCtx();
    SP_CHECK(ctx_ != nullptr);
  }
  ~ZstdSource() override { ZSTD_freeDCtx(ctx_); }
  Result<size_t> read(char* dst, size_t cap) override {
    ZSTD_outBuffer out{dst, cap, 0};
    while (out.pos < out.size) {
      if (in_pos_ == in_len_) {
        if (eof_) break;
        auto n = fd_->read(in_.data(), in_.size(), name_);
        if (!n) return n.status();
        if (*n == 0) {
          eof_ = true;
          if (last_hint_ != 0) {
            return io_error(name_ + ": truncated zstd stream (unexpected end of file after " +
                            std::to_string(total_out_) + " decompressed bytes)");
          }
          break;
        }
        in_len_ = *n;
        in_pos_ = 0;
      }
      ZSTD_inBuffer in{in_.data(), in_len_, in_pos_};
      size_t before = out.pos;
      last_hint_ = ZSTD_decompressStream(ctx_, &out, &in);
      in_pos_ = in.pos;
      if (ZSTD_isError(last_hint_)) {
        return io_error(name_ + ": corrupt zstd stream (" + ZSTD_getErrorName(last_hint_) + ")");
      }
      total_out_ += out.pos - before;
    }
    return out.pos;
  }
  uint64_t raw_position() const override { return fd_->position(); }
  uint64_t raw_size() const override { return fd_->size(); }
  const std::string& name() const override { return name_; }

 private:
  std::unique_ptr<FdReader> fd_;
  std::string name_;
  std::vector<char> in_;
  size_t in_len_ = 0, in_pos_ = 0;
  size_t last_hint_ = 0;
  bool eof_ = false;
  uint64_t total_out_ = 0;
  ZSTD_DCtx* ctx_;
};

class MemorySource final : public ByteSource {
 public:
  MemorySource(std::string_view data, std::string name) : data_(data), name_(std::move(name)) {}
  Result<size_t> read(char* dst, size_t cap) override {
    size_t n = std::min(cap, data_.size() - pos_);
    std::memcpy(dst, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t raw_position() const override { return pos_; }
  uint64_t raw_size() const override { return data_.size(); }
  const std::string& name() const override { return name_; }

 private:
  std::string_view data_;
  size_t pos_ = 0;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<ByteSource>> open_source(const std::string& path) {
  int fd = 0;
  bool own = false;
  if (path != "-") {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Status(errno == ENOENT ? StatusCode::not_found : StatusCode::io_error,
                    path + ": cannot open: " + errno_text());
    }
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      return invalid_argument(path + ": is a directory, expected a file");
    }
    own = true;
  }
  const std::string name = path == "-" ? "<stdin>" : path;
  auto reader = std::make_unique<FdReader>(fd, own, own ? path : std::string());
  SP_ASSIGN_OR_RETURN(std::string head, reader->peek(4, name));
  const auto* b = reinterpret_cast<const unsigned char*>(head.data());
  if (head.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b) {
    return std::unique_ptr<ByteSource>(new GzipSource(std::move(reader), name));
  }
  if (head.size() >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) {
    return std::unique_ptr<ByteSource>(new ZstdSource(std::move(reader), name));
  }
  return std::unique_ptr<ByteSource>(new PlainSource(std::move(reader), name));
}

std::unique_ptr<ByteSource> memory_source(std::string_view data, std::string name) {
  return std::make_unique<MemorySource>(data, std::move(name));
}

Result<std::string> read_file(const std::string& path, uint64_t max_bytes) {
  SP_ASSIGN_OR_RETURN(auto source, open_source(path));
  std::string out;
  std::vector<char> chunk(1 << 20);
  for (;;) {
    SP_ASSIGN_OR_RETURN(size_t n, source->read(chunk.data(), chunk.size()));
    if (n == 0) break;
    if (out.size() + n > max_bytes) {
      return data_error(path + ": larger than the limit of " + std::to_string(max_bytes) + " bytes");
    }
    out.append(chunk.data(), n);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// LineReader

LineReader::LineReader(std::unique_ptr<ByteSource> source, uint64_t max_line_bytes)
    : source_(std::move(source)), max_line_bytes_(max_line_bytes) {
  buf_.resize(kChunk + kPadding);
}

Status LineReader::fill() {
  // Compact: move unread bytes to the front.
  if (begin_ > 0) {
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  // Keep room for a read chunk plus padding; grow only up to the line limit.
  const size_t chunk = kChunk;
  if (buf_.size() < end_ + chunk + kPadding) buf_.resize(end_ + chunk + kPadding);
  SP_ASSIGN_OR_RETURN(size_t n, source_->read(buf_.data() + end_, chunk));
  if (n == 0) eof_ = true;
  end_ += n;
  return Status::ok();
}

Result<LineReader::Line> LineReader::next() {
  size_t scanned = begin_;  // bytes in [begin_, scanned) hold no '\n'
  for (;;) {
    const char* nl = static_cast<const char*>(std::memchr(buf_.data() + scanned, '\n', end_ - scanned));
    if (nl != nullptr) {
      size_t len = static_cast<size_t>(nl - (buf_.data() + begin_));
      Line line;
      line.line_no = ++line_no_;
      line.length = len;
      if (len > max_line_bytes_) {
        line.kind = Kind::too_long;
      } else {
        line.kind = Kind::line;
        line.text = std::string_view(buf_.data() + begin_, len);
      }
      begin_ += len + 1;
      return line;
    }
    if (eof_) {
      if (begin_ == end_) return Line{};
      size_t len = end_ - begin_;
      Line line;
      line.line_no = ++line_no_;
      line.length = len;
      if (len > max_line_bytes_) {
        line.kind = Kind::too_long;
      } else {
        line.kind = Kind::line;
        std::memset(buf_.data() + end_, 0, kPadding);
        line.text = std::string_view(buf_.data() + begin_, len);
      }
      begin_ = end_;
      return line;
    }
    if (end_ - begin_ > max_line_bytes_) {
      // Over-long line: discard what we have and skip to its newline without buffering it.
      uint64_t skipped = end_ - begin_;
      begin_ = end_ = 0;
      for (;;) {
        SP_RETURN_IF_ERROR(fill());
        const char* nl2 = static_cast<const char*>(std::memchr(buf_.data(), '\n', end_));
        if (nl2 != nullptr) {
          size_t part = static_cast<size_t>(nl2 - buf_.data());
          begin_ = part + 1;
          return Line{Kind::too_long, {}, ++line_no_, skipped + part};
        }
        skipped += end_;
        begin_ = end_ = 0;
        if (eof_) return Line{Kind::too_long, {}, ++line_no_, skipped};
      }
    }
    // No newline in [begin_, end_): read more. fill() compacts, so afterwards begin_ == 0 and
    // the bytes already scanned are [0, known).
    const size_t known = end_ - begin_;
    SP_RETURN_IF_ERROR(fill());
    scanned = known;
  }
}

// ---------------------------------------------------------------------------------------------
// Writer

struct Writer::Backend {
  virtual ~Backend() = default;
  virtual Status write(const char* data, size_t n) = 0;
  virtual Status finish() = 0;
};

namespace {

Status write_all(int fd, const char* data, size_t n, const std::string& name) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSPC)
        return io_error(name + ": write failed: no space left on device (the disk is full)");
      return io_error(name + ": write failed: " + errno_text());
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Status::ok();
}

struct FdBackend : Writer::Backend {
  int fd;
  std::string name;
  bool own;
  FdBackend(int f, std::string n, bool o) : fd(f), name(std::move(n)), own(o) {}
  ~FdBackend() override {
    if (own && fd >= 0) ::close(fd);
  }
  Status write(const char* data, size_t n) override { return write_all(fd, data, n, name); }
  Status finish() override {
    if (own) {
      int rc = ::close(fd);
      fd = -1;
      if (rc != 0) return io_error(name + ": close failed: " + errno_text());
    }
    return Status::ok();
  }
};

struct GzipBackend : FdBackend {
  z_stream zs{};
  std::vector<char> out = std::vector<char>(1 << 16);
  GzipBackend(int f, std::string n) : FdBackend(f, std::move(n), true) {
    SP_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  }
  ~GzipBackend() override { deflateEnd(&zs); }
  Status pump(int flush) {
    do {
      zs.next_out = reinterpret_cast<Bytef*>(out.data());
      zs.avail_out = static_cast<uInt>(out.size());
      int rc = deflate(&zs, flush);
      SP_CHECK(rc != Z_STREAM_ERROR);
      SP_RETURN_IF_ERROR(FdBackend::write(out.data(), out.size() - zs.avail_out));
    } while (zs.avail_out == 0);
    return Status::ok();
  }
  Status write(const char* data, size_t n) override {
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    zs.avail_in = static_cast<uInt>(n);
    return pump(Z_NO_FLUSH);
  }
  Status finish() override {
    zs.avail_in = 0;
    SP_RETURN_IF_ERROR(pump(Z_FINISH));
    return FdBackend::finish();
  }
};

struct ZstdBackend : FdBackend {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  std::vector<char> out = std::vector<char>(ZSTD_CStreamOutSize());
  ZstdBackend(int f, std::string n) : FdBackend(f, std::move(n), true) {
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);  // so corruption is detected on read
  }
  ~ZstdBackend() override { ZSTD_freeCCtx(ctx); }
  Status pump(const char* data, size_t n, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data, n, 0};
    for (;;) {
      ZSTD_outBuffer o{out.data(), out.size(), 0};
      size_t rem = ZSTD_compressStream2(ctx, &o, &in, mode);
      if (ZSTD_isError(rem)) return io_error(name + ": zstd: " + ZSTD_getErrorName(rem));
      SP_RETURN_IF_ERROR(FdBackend::write(out.data(), o.pos));
      if (mode == ZSTD_e_end ? rem == 0 : in.pos == in.size) break;
    }
    return Status::ok();
  }
  Status write(const char* data, size_t n) override { return pump(data, n, ZSTD_e_continue); }
  Status finish() override {
    SP_RETURN_IF_ERROR(pump(nullptr, 0, ZSTD_e_end));
    return FdBackend::finish();
  }
};

struct NullBackend : Writer::Backend {
  Status write(const char*, size_t) override { return Status::ok(); }
  Status finish() override { return Status::ok(); }
};

struct StringBackend : Writer::Backend {
  std::string* out;
  explicit StringBackend(std::string* o) : out(o) {}
  Status write(const char* data, size_t n) override {
    out->append(data, n);
    return Status::ok();
  }
  Status finish() override { return Status::ok(); }
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

namespace {

// Where the bytes for an output path go: a regular file (or none yet) is written to
// "<file>.tmp" and renamed over the file on success; a device, FIFO or socket is written in place
// (renaming over /dev/null would replace the device node); a symlink is followed to its final
// target, so the link stays and its target gets the data.
struct OutputTarget {
  std::string path;  // the final target (symlinks resolved)
  bool in_place = false;
};

Result<OutputTarget> resolve_output(const std::string& path) {
  std::string p = path;
  for (int hops = 0; hops < 40; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return OutputTarget{p, false};
      return io_error(path + ": cannot inspect " + (p == path ? std::string("it") : p) + ": " + errno_text());
    }
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      std::filesystem::path link = std::filesystem::read_symlink(p, ec);
      if (ec) return io_error(path + ": cannot read symlink " + p + ": " + ec.message());
      p = link.is_absolute() ? link.string() : (std::filesystem::path(p).parent_path() / link).string();
      continue;
    }
    if (S_ISDIR(st.st_mode)) return invalid_argument(path + ": is a directory, expected a file");
    return OutputTarget{p, !S_ISREG(st.st_mode)};
  }
  return io_error(path + ": too many levels of symbolic links");
}

std::unique_ptr<Writer::Backend> make_backend(int fd, const std::string& path) {
  if (ends_with(path, ".gz")) return std::make_unique<GzipBackend>(fd, path);
  if (ends_with(path, ".zst")) return std::make_unique<ZstdBackend>(fd, path);
  return std::make_unique<FdBackend>(fd, path, true);
}

}  // namespace

Result<std::unique_ptr<Writer>> Writer::open(const std::string& path) {
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = path;
  if (path.empty()) {
    w->backend_ = std::make_unique<NullBackend>();
  } else if (path == "-") {
    w->backend_ = std::make_unique<FdBackend>(1, "<stdout>", false);
  } else {
    SP_ASSIGN_OR_RETURN(OutputTarget target, resolve_output(path));
    int fd = -1;
    if (target.in_place) {
      fd = ::open(target.path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd < 0) return io_error(path + ": cannot open for writing: " + errno_text());
    } else {
      const std::string tmp = target.path + ".tmp";
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return io_error(path + ": cannot create " + tmp + ": " + errno_text());
      w->publish_path_ = target.path;
    }
    w->backend_ = make_backend(fd, path);
  }
  w->buf_.reserve(kFlushBytes + (1 << 16));
  return w;
}

std::unique_ptr<Writer> Writer::to_string(std::string* out) {
  std::unique_ptr<Writer> w(new Writer());
  w->path_ = "<memory>";
  w->backend_ = std::make_unique<StringBackend>(out);
  return w;
}

void Writer::flush_or_remember() {
  if (!deferred_.is_ok()) {
    buf_.clear();
    return;
  }
  deferred_ = flush();
}

Status Writer::flush() {
  Status st = backend_->write(buf_.data(), buf_.size());
  bytes_written_ += buf_.size();
  buf_.clear();
  return st;
}

Status Writer::close() {
  if (closed_) return deferred_;
  closed_ = true;
  if (deferred_.is_ok()) deferred_ = flush();
  if (deferred_.is_ok()) deferred_ = backend_->finish();
  if (!publish_path_.empty()) {
    const std::string tmp = publish_path_ + ".tmp";
    if (deferred_.is_ok()) {
      if (std::rename(tmp.c_str(), publish_path_.c_str()) != 0) {
        deferred_ = io_error(path_ + ": cannot rename from " + tmp + ": " + errno_text());
      }
    } else {
      std::remove(tmp.c_str());
    }
  }
  return deferred_;
}

Writer::~Writer() {
  if (!closed_) {
    // Not closed: an error path. Do not publish a partial file.
    closed_ = true;
    backend_.reset();
    if (!publish_path_.empty()) std::remove((publish_path_ + ".tmp").c_str());
  }
}

Status check_not_an_input(const std::string& output, const std::vector<std::string>& inputs) {
  if (output.empty() || output == "-") return Status::ok();
  struct stat out {};
  if (::stat(output.c_str(), &out) != 0) return Status::ok();
  for (const std::string& input : inputs) {
    struct stat in {};
    if (input == "-" || ::stat(input.c_str(), &in) != 0) continue;
    if (in.st_dev == out.st_dev && in.st_ino == out.st_ino && S_ISREG(out.st_mode)) {
      return invalid_argument(output + ": is also an input (" + input +
                              "); writing it would destroy the input while it is read: choose another "
                              "output file");
    }
  }
  return Status::ok();
}

Status write_text(const std::string& path, std::string_view text) {
  SP_ASSIGN_OR_RETURN(auto writer, Writer::open(path));
  writer->append(text);
  return writer->close();
}

Status check_output_path(const std::string& path) {
  if (path.empty()) return invalid_argument("output path is empty");
  if (path == "-") return Status::ok();
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return invalid_argument(path + ": is a folder; give the path of a file to write");
  }
  fs::path folder = fs::path(path).parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::exists(folder, ec)) {
    return not_found(path + ": folder " + folder.string() + " does not exist; create it first");
  }
  if (!fs::is_directory(folder, ec))
    return invalid_argument(path + ": " + folder.string() + " is not a folder");
  if (::access(folder.c_str(), W_OK) != 0) {
    return io_error(path + ": folder " + folder.string() + " is not writable (" + std::strerror(errno) + ")");
  }
  return Status::ok();
}

}  // namespace synpref::io

namespace synpref {

Status require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return Status::ok();
  const char* kind = S_ISFIFO(st.st_mode)                         ? "a FIFO"
                     : S_ISDIR(st.st_mode)                        ? "a directory"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                     : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                  : "a special file";
  return invalid_argument(path + ": is " + std::string(kind) + ", not a regular file");
}

}  // namespace synpref
