#include "synpref/data/stream.h"

#include <sys/stat.h>

namespace synpref::data {

std::string default_rejects_path(const std::string& output) {
  if (output.empty() || output == "-") return "synpref.rejects.jsonl";
  return output + ".rejects.jsonl";
}

Result<std::unique_ptr<RecordStream>> RecordStream::open(std::vector<std::string> inputs,
                                                         StreamOptions options) {
  if (inputs.empty()) return invalid_argument("no input files given");
  SP_RETURN_IF_ERROR(io::check_not_an_input(options.rejects_path, inputs));
  std::unique_ptr<RecordStream> s(new RecordStream());
  for (const auto& path : inputs) {
    struct stat st {};
    if (path != "-" && ::stat(path.c_str(), &st) != 0) return not_found(path + ": no such file");
    if (path != "-") s->total_bytes_ += static_cast<uint64_t>(st.st_size);
  }
  s->inputs_ = std::move(inputs);
  s->options_ = std::move(options);
  SP_ASSIGN_OR_RETURN(s->rejects_, RejectLog::open(s->options_.rejects_path));
  s->progress_ = std::make_unique<Progress>(s->options_.label, s->total_bytes_, s->options_.progress);
  SP_ASSIGN_OR_RETURN(s->reader_, RecordReader::open(s->inputs_[0], s->options_.read));
  s->counters_.files = 1;
  return s;
}

Result<bool> RecordStream::next(Record& record) {
  for (;;) {
    if (!reader_) return false;
    SP_ASSIGN_OR_RETURN(RecordReader::Outcome outcome, reader_->next(record, reject_));
    progress_->update(done_bytes_ + reader_->raw_position(), counters_.records);
    if (outcome == RecordReader::Outcome::record) {
      ++counters_.records;
      return true;
    }
    if (outcome == RecordReader::Outcome::reject) {
      if (options_.strict) {
        return data_error(reject_.file + ":" + std::to_string(reject_.line) + ": " + reject_.reason + " [" +
                          reject_.code + "] (--strict stops at the first bad record)");
      }
      ++counters_.rejects;
      ++counters_.rejects_by_code[reject_.code];
      rejects_->add(reject_);
      continue;
    }
    // End of this file.
    counters_.empty_responses_kept += reader_->empty_responses_kept();
    done_bytes_ += reader_->raw_size();
    counters_.bytes_read += reader_->raw_size() ? reader_->raw_size() : reader_->raw_position();
    reader_.reset();
    if (file_idx_ + 1 >= inputs_.size()) {
      progress_->finish(done_bytes_, counters_.records);
      return false;
    }
    ++file_idx_;
    SP_ASSIGN_OR_RETURN(reader_, RecordReader::open(inputs_[file_idx_], options_.read));
    ++counters_.files;
  }
}

Status RecordStream::close() {
  return rejects_->close();
}

Status RecordStream::check_usable() const {
  if (counters_.records > 0) return Status::ok();
  std::string files = inputs_.size() == 1 ? inputs_[0] : std::to_string(inputs_.size()) + " input files";
  if (counters_.rejects == 0) return data_error(files + ": no records found (the input is empty)");
  std::string by_code;
  for (const auto& [code, n] : counters_.rejects_by_code) {
    by_code += (by_code.empty() ? "" : ", ") + code + " " + std::to_string(n);
  }
  std::string message = files + ": no usable records: all " + std::to_string(counters_.rejects) +
                        " were rejected (" + by_code + ")";
  message += options_.rejects_path.empty() ? "; rejects_path is empty, so they were counted but not listed"
                                           : "; they are listed in " + options_.rejects_path;
  return data_error(message + " (is this preference data, in the format read?)");
}

}  // namespace synpref::data
