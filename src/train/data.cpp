// Pair sets, data order and token-budget batching (see data.h).
#include "synpref/train/data.h"
#include "synpref/common/threads.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>

#include "synpref/common/hash.h"
#include "synpref/data/stream.h"
#include "synpref/encode/ordered_build.h"
#include "synpref/encode/rm_input.h"
#include "synpref/encode/shard.h"
#include "synpref/tokenizer/tokenizer.h"

namespace synpref::train {

void PairSet::add(std::span<const int32_t> prefix, std::span<const int32_t> chosen,
                  std::span<const int32_t> rejected, float margin, const std::string& cat) {
  for (auto part : {prefix, chosen, rejected}) {
    tokens.insert(tokens.end(), part.begin(), part.end());
    bounds.push_back(tokens.size());
  }
  margins.push_back(margin);
  auto it = std::find(category_names.begin(), category_names.end(), cat);
  if (it == category_names.end()) {
    category_names.push_back(cat);
    it = category_names.end() - 1;
  }
  category.push_back(static_cast<uint16_t>(it - category_names.begin()));
}

PairView PairSet::pair(size_t p) const {
  auto span_of = [&](size_t i) {
    return std::span<const int32_t>(tokens.data() + bounds[i],
                                    static_cast<size_t>(bounds[i + 1] - bounds[i]));
  };
  return {span_of(3 * p), span_of(3 * p + 1), span_of(3 * p + 2), margins[p]};
}

uint64_t PairSet::rows(size_t p, bool share_prefix) const {
  const uint64_t prefix = bounds[3 * p + 1] - bounds[3 * p];
  const uint64_t all = bounds[3 * p + 3] - bounds[3 * p];
  return share_prefix ? all : all + prefix;
}

int32_t PairSet::max_id() const {
  int32_t m = -1;
  for (int32_t id : tokens) m = std::max(m, id);
  return m;
}

namespace {

bool is_shard(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[8] = {};
  in.read(magic, 8);
  return in.gcount() == 8 && std::memcmp(magic, "SPSHARD1", 8) == 0;
}

}  // namespace

Result<PairSet> load_pairs(const std::vector<std::string>& inputs, const std::string& tokenizer_dir,
                           const PairLoadOptions& options, const std::string& rejects_path,
                           PairLoadReport* report) {
  SP_ASSIGN_OR_RETURN(auto tok, tokenizer::load_tokenizer(tokenizer_dir));
  return load_pairs(inputs, tok, options, rejects_path, report);
}

Result<PairSet> load_pairs(const std::vector<std::string>& inputs, const tokenizer::Tokenizer& tok,
                           const PairLoadOptions& options, const std::string& rejects_path,
                           PairLoadReport* report) {
  SP_RETURN_IF_ERROR(check_threads(options.n_threads, "n_threads"));
  *report = PairLoadReport{};
  PairSet pairs;
  std::vector<std::string> text_inputs;
  for (const auto& path : inputs) {
    if (!is_shard(path)) {
      text_inputs.push_back(path);
      continue;
    }
    const Hash128 fp = tok.fingerprint();
    SP_ASSIGN_OR_RETURN(auto reader, encode::ShardReader::open(path, &fp));
    encode::ShardRecord rec;
    while (reader->next(rec)) {
      ++report->records;
      ++report->from_shards;
      if (rec.kind != data::RecordKind::pair || rec.suffixes.size() != 2) {
        ++report->response_sets;
        continue;
      }
      const uint64_t longest = rec.prefix.size() + std::max(rec.suffixes[0].size(), rec.suffixes[1].size());
      if (longest > options.max_length) {
        ++report->too_long;
        continue;
      }
      pairs.add(rec.prefix, rec.suffixes[0], rec.suffixes[1], std::isnan(rec.margin) ? 0.0f : rec.margin,
                std::string(rec.task_category));
      ++report->pairs;
    }
    if (!reader->problems().empty()) {
      return data_error(path + ": " + reader->problems().front() + " (" +
                        std::to_string(reader->problems().size()) +
                        " problem(s); check it with `synpref data shard-info`)");
    }
  }
  if (text_inputs.empty()) return pairs;

  encode::RmInputSettings settings;
  settings.max_length = options.max_length;
  settings.truncation = options.truncation;
  settings.date = options.date;
  SP_ASSIGN_OR_RETURN(auto builder, encode::open_builder(tok, settings));
  data::StreamOptions stream_options;
  SP_ASSIGN_OR_RETURN(stream_options.read.format, data::parse_format(options.format));
  stream_options.rejects_path = rejects_path;
  stream_options.progress = options.progress;
  stream_options.label = "tokenize";
  SP_ASSIGN_OR_RETURN(auto stream, data::RecordStream::open(text_inputs, stream_options));
  // Only pairs are trained on; other records are counted, never built.
  auto is_pair = [](const data::Record& r) {
    return r.kind == data::RecordKind::pair && r.responses.size() == 2;
  };
  auto next = [&](data::Record& record, encode::Origin& origin) -> Result<bool> {
    SP_ASSIGN_OR_RETURN(bool more, stream->next(record));
    if (more) origin.file = stream->current_file();
    return more;
  };
  auto add = [&](encode::BuiltRecord& built) -> Status {
    ++report->records;
    if (!built.input) {
      ++report->response_sets;
      return Status::ok();
    }
    const encode::RmInput& in = *built.input;
    if (in.skipped) {
      ++report->too_long;
      return Status::ok();
    }
    report->truncated += in.truncated_tokens > 0;
    pairs.add(in.prefix, in.suffixes[0], in.suffixes[1],
              static_cast<float>(built.record.margin.value_or(0.0)), built.record.attributes.task_category);
    ++report->pairs;
    return Status::ok();
  };
  encode::OrderedBuilder ordered(builder, {.n_threads = options.n_threads, .batch_records = 512});
  SP_RETURN_IF_ERROR(ordered.run(next, add, is_pair));
  SP_RETURN_IF_ERROR(stream->close());
  report->rejects = stream->counters().rejects;
  return pairs;
}

// ---------------------------------------------------------------- order and batching

namespace {

uint64_t splitmix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

DataOrder::DataOrder(size_t n_pairs, uint64_t seed, bool shuffle)
    : n_(n_pairs), seed_(seed), shuffle_(shuffle) {}

uint64_t DataOrder::epoch_seed(uint64_t epoch) const {
  Hasher h(seed_);
  h.add_field("synpref.train.data_order");
  h.add_u64(epoch);
  return h.digest().lo;
}

const std::vector<uint32_t>& DataOrder::order(uint64_t epoch) {
  if (epoch == cached_epoch_) return order_;
  order_.resize(n_);
  for (size_t i = 0; i < n_; ++i) order_[i] = static_cast<uint32_t>(i);
  if (shuffle_) {
    uint64_t state = epoch_seed(epoch);
    for (size_t i = n_; i > 1; --i) {
      // Unbiased bounded draw (rejection of the short top range).
      const uint64_t bound = i, limit = UINT64_MAX - UINT64_MAX % bound;
      uint64_t r;
      do r = splitmix(state);
      while (r >= limit);
      std::swap(order_[i - 1], order_[static_cast<size_t>(r % bound)]);
    }
  }
  cached_epoch_ = epoch;
  return order_;
}

std::vector<uint32_t> DataOrder::next(size_t n, uint64_t* epoch, uint64_t* cursor) {
  std::vector<uint32_t> out;
  if (n_ == 0) return out;
  out.reserve(n);
  while (out.size() < n) {
    const auto& o = order(*epoch);
    while (out.size() < n && *cursor < n_) out.push_back(o[(*cursor)++]);
    if (*cursor == n_) {
      ++*epoch;
      *cursor = 0;
    }
  }
  return out;
}

std::vector<std::vector<uint32_t>> split_by_tokens(const PairSet& pairs, std::span<const uint32_t> ids,
                                                   uint64_t max_rows, bool share_prefix) {
  std::vector<std::vector<uint32_t>> out;
  uint64_t rows = 0;
  for (uint32_t id : ids) {
    const uint64_t r = pairs.rows(id, share_prefix);
    if (out.empty() || (!out.back().empty() && rows + r > max_rows)) {
      out.emplace_back();
      rows = 0;
    }
    out.back().push_back(id);
    rows += r;
  }
  return out;
}

void pack_pairs(PackedBatch& batch, const PairSet& pairs, std::span<const uint32_t> ids, bool share_prefix,
                std::optional<int64_t> pad_token_id) {
  batch.clear();
  for (uint32_t id : ids) add_pair(batch, pairs.pair(id), share_prefix, pad_token_id);
}

}  // namespace synpref::train
