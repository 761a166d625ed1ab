// `synpref score` as a library call: input file -> streamed score lines, rejects file, resume.
//
// Crash safety: a plain output is written in place, append-only, one write per scored chunk, so
// a killed run leaves every finished chunk intact and at most one torn last line, which resume
// cuts off. (A temporary file renamed at the end would lose everything scored before a crash.)
// Compressed outputs cannot be appended to after a torn frame; they are written whole through
// io::Writer (temporary file renamed on success) and cannot be resumed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "synpref/common/io.h"
#include "synpref/common/progress.h"
#include "synpref/data/reader.h"
#include "synpref/data/stream.h"
#include "synpref/data/writer.h"
#include "synpref/score/scorer.h"

namespace synpref::score {

void append_score_line(std::string& out, std::string_view id, std::span<const float> scores) {
  // nlohmann's number formatting (shortest round trip of the float widened to double) is the
  // format this command has always written; keep it byte for byte.
  const nlohmann::json line = {{"id", std::string(id)},
                               {"scores", std::vector<float>(scores.begin(), scores.end())}};
  out += line.dump();
  out += '\n';
}

namespace {

bool is_compressed(const std::string& path) {
  auto ends_with = [&](std::string_view suffix) {
    return path.size() >= suffix.size() &&
           path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with(".gz") || ends_with(".zst");
}

// Refuses to write `output` when it is the input file itself (same device and inode, so symlinks
// and other names of the same file are caught), before anything is written.
Status refuse_overwriting_input(const std::string& input, const std::string& output, std::string_view field) {
  if (input == "-" || output == "-") return Status::ok();
  struct stat in {
  }, out{};
  if (::stat(input.c_str(), &in) != 0 || ::stat(output.c_str(), &out) != 0) return Status::ok();
  if (in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
    return invalid_argument(std::string(field) + " '" + output + "' is the input file '" + input +
                            "'; writing it would destroy the data being scored: choose another path");
  }
  return Status::ok();
}

// Reads the lines a previous run wrote. Returns the byte length of the complete lines (a torn
// last line, from a killed run, is not part of it).
Result<uint64_t> read_previous_output(const std::string& path, Resume& resume) {
  SP_ASSIGN_OR_RETURN(std::string text, io::read_file(path));
  const size_t complete = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
  resume.source = path;
  size_t pos = 0;
  for (uint64_t line_no = 1; pos < complete; ++line_no) {
    const size_t end = text.find('\n', pos);
    const std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = path + ":" + std::to_string(line_no);
    if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("scores") ||
        !j["scores"].is_array()) {
      return data_error(where + ": not a score line {\"id\": ..., \"scores\": [...]}; cannot resume from it");
    }
    std::vector<float> scores;
    for (const auto& v : j["scores"]) {
      if (!v.is_number()) return data_error(where + ": a score is not a number; cannot resume from it");
      scores.push_back(static_cast<float>(v.get<double>()));  // written from a float: exact
    }
    resume.ids.push_back(j["id"].get<std::string>());
    resume.scores.push_back(std::move(scores));
  }
  return static_cast<uint64_t>(complete);
}

// Where score lines go: a plain file written in place, stdout, or a compressed file written whole.
class ScoreOutput {
 public:
  static Result<std::unique_ptr<ScoreOutput>> open(const std::string& path, bool append,
                                                   uint64_t keep_bytes) {
    std::unique_ptr<ScoreOutput> out(new ScoreOutput());
    out->path_ = path;
    if (path == "-") return out;
    if (is_compressed(path)) {
      SP_ASSIGN_OR_RETURN(out->compressed_, io::Writer::open(path));
      return out;
    }
    const int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? 0 : O_TRUNC);
    out->fd_ = ::open(path.c_str(), flags, 0644);
    if (out->fd_ < 0) return io_error(path + ": cannot open for writing: " + std::strerror(errno));
    if (append &&
        (::ftruncate(out->fd_, static_cast<off_t>(keep_bytes)) != 0 || ::lseek(out->fd_, 0, SEEK_END) < 0)) {
      return io_error(path + ": cannot cut the torn last line: " + std::strerror(errno));
    }
    return out;
  }
  ~ScoreOutput() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Writes `bytes` through to the operating system (a killed process loses none of it).
  Status write(std::string_view bytes) {
    if (compressed_) {
      compressed_->append(bytes);
      return Status::ok();
    }
    if (fd_ < 0) {
      if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size() || std::fflush(stdout) != 0)
        return io_error("stdout: write failed: " + std::string(std::strerror(errno)));
      return Status::ok();
    }
    while (!bytes.empty()) {
      const ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error(path_ + ": write failed: " + std::strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::ok();
  }

  Status close() {
    if (compressed_) return compressed_->close();
    if (fd_ >= 0) {
      const int fd = fd_;
      fd_ = -1;
      if (::close(fd) != 0) return io_error(path_ + ": close failed: " + std::strerror(errno));
    }
    return Status::ok();
  }

 private:
  ScoreOutput() = default;
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<io::Writer> compressed_;
};

Status nothing_scored(const std::string& input, const ScoreStats& stats) {
  if (stats.records == 0 && stats.rejected == 0) return data_error(input + ": no records to score");
  return data_error(input + ": nothing could be scored: " + std::to_string(stats.rejected) +
                    " record(s) rejected as malformed and " + std::to_string(stats.skipped_too_long) +
                    " skipped over max_length, of " + std::to_string(stats.records + stats.rejected) +
                    "; each is listed with its line and reason in " + stats.rejects_path +
                    " (is the input in a format synpref reads? see docs/formats/)");
}

}  // namespace

Result<ScoreStats> score_file(Scorer& scorer, const ScoreFileOptions& options) {
  if (options.input.empty()) return invalid_argument("input is required");
  if (options.output.empty()) return invalid_argument("output is required");
  const std::string rejects_path =
      options.rejects_path.empty() ? data::default_rejects_path(options.output) : options.rejects_path;
  SP_RETURN_IF_ERROR(refuse_overwriting_input(options.input, options.output, "output"));
  SP_RETURN_IF_ERROR(refuse_overwriting_input(options.input, rejects_path, "rejects_path"));
  if (options.resume && (options.output == "-" || is_compressed(options.output))) {
    return invalid_argument("resume needs a plain output file (not stdout, .gz or .zst): '" + options.output +
                            "' cannot be appended to after an interruption");
  }

  // 1. What a previous run wrote (resume), then the input, the rejects file and the output.
  Resume resume;
  uint64_t keep_bytes = 0;
  struct stat st {};
  const bool continuing = options.resume && ::stat(options.output.c_str(), &st) == 0;
  if (continuing) {
    SP_ASSIGN_OR_RETURN(keep_bytes, read_previous_output(options.output, resume));
  }
  data::ReadOptions read_options;
  SP_ASSIGN_OR_RETURN(read_options.format, data::parse_format(options.format));
  SP_ASSIGN_OR_RETURN(auto reader, data::RecordReader::open(options.input, read_options));
  SP_ASSIGN_OR_RETURN(auto rejects, data::RejectLog::open(rejects_path));
  SP_ASSIGN_OR_RETURN(auto output, ScoreOutput::open(options.output, continuing, keep_bytes));

  // 2. Records in, rejects logged; every scored chunk written through at once.
  ScoreStats stats;
  stats.rejects_path = rejects_path;
  Progress progress("score", reader->raw_size(), scorer.options().progress);
  std::deque<uint64_t> read_position;  // input bytes consumed when each pending record was read
  uint64_t done_bytes = 0, done_records = 0;
  data::Reject reject;
  auto next = [&](data::Record& record, encode::Origin& origin) -> Result<bool> {
    for (;;) {
      SP_ASSIGN_OR_RETURN(auto outcome, reader->next(record, reject));
      if (outcome == data::RecordReader::Outcome::end) return false;
      if (outcome == data::RecordReader::Outcome::reject) {
        ++stats.rejected;
        rejects->add(reject);
        continue;
      }
      origin.file = options.input;
      origin.line = reader->last_line();
      read_position.push_back(reader->raw_position());
      return true;
    }
  };
  std::string buffer;
  auto sink = [&](std::span<const Scored> chunk) -> Status {
    buffer.clear();
    for (const Scored& s : chunk) {
      if (s.skipped) {
        rejects->add({options.input, s.origin ? s.origin->line : 0, "too_long_tokens",
                      std::string(s.skip_reason), std::string(s.id)});
      } else if (!s.resumed) {
        append_score_line(buffer, s.id, s.scores);
      }
      done_bytes = read_position.front();
      read_position.pop_front();
    }
    done_records += chunk.size();
    progress.tick(done_bytes, done_records);
    return output->write(buffer);
  };
  Status run = scorer.score_records(next, sink, stats, continuing ? &resume : nullptr);
  progress.finish(done_bytes, done_records);

  // 3. Close everything (the rejects file also when the run failed: it says what was wrong).
  Status closed_rejects = rejects->close();
  Status closed_output = output->close();
  SP_RETURN_IF_ERROR(run);
  SP_RETURN_IF_ERROR(closed_rejects);
  SP_RETURN_IF_ERROR(closed_output);
  if (stats.scored == 0) return nothing_scored(options.input, stats);
  return stats;
}

}  // namespace synpref::score
