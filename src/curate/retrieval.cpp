// src/curate/retrieval.cpp: pair vectors, the persisted FAISS index over the pool, and the
// in-process RM embedder (retrieval.h). FAISS is used only here.
#include "synpref/curate/retrieval.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/index_io.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "local_model.h"
#include "synpref/common/hash.h"
#include "synpref/common/io.h"
#include "synpref/model/model.h"
#include "synpref/score/scorer.h"

namespace synpref::curate {

namespace fs = std::filesystem;

// ---- Pair vectors

std::vector<float> pair_vector(std::span<const float> conversation, const data::Attributes* attributes,
                               double attribute_weight) {
  std::vector<float> v(conversation.size() + static_cast<size_t>(kAttributeDims), 0.0f);
  double norm = 0;
  for (float x : conversation) norm += double(x) * x;
  const double inv = norm > 0 ? 1.0 / std::sqrt(norm) : 0.0;
  for (size_t i = 0; i < conversation.size(); ++i) v[i] = static_cast<float>(conversation[i] * inv);
  if (attributes) {
    const std::string* fields[3] = {&attributes->task_category, &attributes->objectivity,
                                    &attributes->controversiality};
    const char* names[3] = {"task_category", "objectivity", "controversiality"};
    const float value = static_cast<float>(attribute_weight / std::sqrt(3.0));
    for (int f = 0; f < 3; ++f) {
      if (fields[f]->empty()) continue;
      const uint64_t bucket = hash64(std::string(names[f]) + "=" + *fields[f]) % 32;
      v[conversation.size() + static_cast<size_t>(f) * 32 + bucket] = value;
    }
  }
  double total = 0;
  for (float x : v) total += double(x) * x;
  if (total > 0) {
    const double s = 1.0 / std::sqrt(total);
    for (float& x : v) x = static_cast<float>(x * s);
  }
  return v;
}

// ---- The index

struct VectorIndex::Impl {
  std::string dir, embedder;
  int64_t dim = 0;
  IndexOptions options;
  std::vector<float> vectors;  // the stored vectors (source of truth)
  std::vector<int64_t> rows;
  std::unordered_set<int64_t> row_set;
  std::unique_ptr<faiss::Index> index;
  std::string kind;  // of `index`

  std::string path(const char* name) const { return dir + "/" + name; }
  std::string wanted_kind() const {
    return static_cast<int64_t>(rows.size()) < options.exact_threshold ? "flat" : options.approximate;
  }
  // Builds an empty index of the kind the current size calls for and adds every stored vector.
  void rebuild() {
    kind = wanted_kind();
    const int64_t n = static_cast<int64_t>(rows.size());
    if (kind == "flat") {
      index = std::make_unique<faiss::IndexFlatIP>(dim);
    } else if (kind == "hnsw") {
      index = std::make_unique<faiss::IndexHNSWFlat>(dim, options.hnsw_m, faiss::METRIC_INNER_PRODUCT);
    } else {
      int lists = options.ivf_lists > 0
                      ? options.ivf_lists
                      : std::max(1, static_cast<int>(4 * std::sqrt(static_cast<double>(n))));
      lists = static_cast<int>(std::min<int64_t>(lists, std::max<int64_t>(1, n / 39)));
      auto* quantizer = new faiss::IndexFlatIP(dim);
      auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, dim, lists, faiss::METRIC_INNER_PRODUCT);
      ivf->own_fields = true;
      ivf->train(n, vectors.data());
      index = std::move(ivf);
    }
    if (n > 0) index->add(n, vectors.data());
  }
  Status save_meta() const {
    nlohmann::json meta = {{"embedder", embedder}, {"dim", dim}, {"format", 1}};
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(path("meta.json")));
    w->append(meta.dump(2) + "\n");
    return w->close();
  }
  Status append_file(const char* name, const void* data, size_t bytes) const {
    std::FILE* f = std::fopen(path(name).c_str(), "ab");
    if (!f) return io_error(path(name) + ": cannot open for appending");
    const bool ok = std::fwrite(data, 1, bytes, f) == bytes && std::fflush(f) == 0;
    std::fclose(f);
    if (!ok) return io_error(path(name) + ": write failed (disk full?)");
    return Status::ok();
  }
};

VectorIndex::VectorIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VectorIndex::~VectorIndex() = default;

namespace {

Status check_options(const IndexOptions& o) {
  if (o.exact_threshold < 0) return invalid_argument("exact_threshold must be >= 0");
  if (o.approximate != "hnsw" && o.approximate != "ivf")
    return invalid_argument("approximate must be \"hnsw\" or \"ivf\", not \"" + o.approximate + "\"");
  if (o.hnsw_m < 2) return invalid_argument("hnsw_m must be >= 2");
  if (o.hnsw_ef_search < 1 || o.ivf_nprobe < 1)
    return invalid_argument("hnsw_ef_search and ivf_nprobe must be >= 1");
  if (o.chunk_pairs < 1) return invalid_argument("chunk_pairs must be >= 1");
  if (!(o.attribute_weight >= 0)) return invalid_argument("attribute_weight must be >= 0");
  return Status::ok();
}

// Reads a binary file of fixed-size elements; a torn tail (partial element) is dropped.
template <typename T>
Result<std::vector<T>> read_elements(const std::string& path, size_t per_item) {
  std::vector<T> out;
  if (!fs::exists(path)) return out;
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path, uint64_t(1) << 40));
  const size_t item_bytes = sizeof(T) * per_item;
  const size_t n = bytes.size() / item_bytes;
  out.resize(n * per_item);
  if (n) std::memcpy(out.data(), bytes.data(), n * item_bytes);
  return out;
}

Status truncate_file(const std::string& path, uintmax_t bytes) {
  std::error_code ec;
  if (!fs::exists(path)) return Status::ok();
  if (fs::file_size(path, ec) == bytes) return Status::ok();
  fs::resize_file(path, bytes, ec);
  if (ec) return io_error(path + ": cannot trim the torn tail: " + ec.message());
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<VectorIndex>> VectorIndex::open(const std::string& dir, const std::string& embedder,
                                                       int64_t dim, const IndexOptions& options) {
  SP_RETURN_IF_ERROR(check_options(options));
  if (dim < 1) return invalid_argument("dim must be >= 1");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->embedder = embedder;
  impl->dim = dim;
  impl->options = options;
  if (fs::exists(impl->path("meta.json"))) {
    SP_ASSIGN_OR_RETURN(std::string text, io::read_file(impl->path("meta.json"), 1 << 20));
    auto meta = nlohmann::json::parse(text, nullptr, false);
    if (meta.is_discarded() || !meta.is_object() || !meta.contains("dim") || !meta.contains("embedder"))
      return data_error(impl->path("meta.json") +
                        ": not an index description (delete the folder to rebuild it)");
    if (meta["dim"] != dim || meta["embedder"] != embedder) {
      return invalid_argument(impl->path("meta.json") + ": index of " + meta["embedder"].dump() +
                              " with dim " + meta["dim"].dump() + ", not of " + embedder + " with dim " +
                              std::to_string(dim));
    }
  } else {
    SP_RETURN_IF_ERROR(impl->save_meta());
  }
  // Stored vectors and rows; a killed add leaves at most a torn tail, trimmed here.
  SP_ASSIGN_OR_RETURN(impl->vectors,
                      read_elements<float>(impl->path("vectors.f32"), static_cast<size_t>(dim)));
  SP_ASSIGN_OR_RETURN(impl->rows, read_elements<int64_t>(impl->path("rows.i64"), 1));
  const size_t n = std::min(impl->rows.size(), impl->vectors.size() / static_cast<size_t>(dim));
  impl->rows.resize(n);
  impl->vectors.resize(n * static_cast<size_t>(dim));
  SP_RETURN_IF_ERROR(truncate_file(impl->path("rows.i64"), n * sizeof(int64_t)));
  SP_RETURN_IF_ERROR(truncate_file(impl->path("vectors.f32"), n * static_cast<size_t>(dim) * sizeof(float)));
  impl->row_set.insert(impl->rows.begin(), impl->rows.end());
  if (impl->row_set.size() != impl->rows.size())
    return data_error(impl->path("rows.i64") + ": a row is stored twice (delete the folder to rebuild it)");
  // The saved search structure, when it holds exactly the stored vectors and is of the right kind.
  const std::string saved = impl->path("index.faiss");
  if (fs::exists(saved)) {
    try {
      std::unique_ptr<faiss::Index> index(faiss::read_index(saved.c_str()));
      const std::string want = impl->wanted_kind();
      const bool kind_ok = (want == "flat" && dynamic_cast<faiss::IndexFlat*>(index.get())) ||
                           (want == "hnsw" && dynamic_cast<faiss::IndexHNSW*>(index.get())) ||
                           (want == "ivf" && dynamic_cast<faiss::IndexIVFFlat*>(index.get()));
      if (kind_ok && index->d == dim && index->ntotal == static_cast<int64_t>(n)) {
        impl->index = std::move(index);
        impl->kind = want;
      }
    } catch (const std::exception&) {
      // Unreadable (torn write): rebuilt below from the stored vectors.
    }
  }
  if (!impl->index) impl->rebuild();
  return std::unique_ptr<VectorIndex>(new VectorIndex(std::move(impl)));
}

Status VectorIndex::add(std::span<const int64_t> rows, std::span<const float> vectors) {
  Impl& m = *impl_;
  if (vectors.size() != rows.size() * static_cast<size_t>(m.dim))
    return invalid_argument("vectors must hold rows.size() * dim floats");
  for (int64_t row : rows)
    if (m.row_set.count(row)) return invalid_argument("row " + std::to_string(row) + " is already indexed");
  if (rows.empty()) return Status::ok();
  // Vectors first, then rows: a row is only stored once its vector is.
  SP_RETURN_IF_ERROR(m.append_file("vectors.f32", vectors.data(), vectors.size_bytes()));
  SP_RETURN_IF_ERROR(m.append_file("rows.i64", rows.data(), rows.size_bytes()));
  m.vectors.insert(m.vectors.end(), vectors.begin(), vectors.end());
  m.rows.insert(m.rows.end(), rows.begin(), rows.end());
  m.row_set.insert(rows.begin(), rows.end());
  if (m.wanted_kind() != m.kind) {
    m.rebuild();  // crossed the exact threshold
  } else {
    m.index->add(static_cast<int64_t>(rows.size()), vectors.data());
  }
  return Status::ok();
}

Status VectorIndex::save() const {
  const Impl& m = *impl_;
  const std::string tmp = m.path("index.faiss.tmp");
  try {
    faiss::write_index(m.index.get(), tmp.c_str());
  } catch (const std::exception& e) {
    return io_error(tmp + ": cannot write the index: " + e.what());
  }
  std::error_code ec;
  fs::rename(tmp, m.path("index.faiss"), ec);
  if (ec) return io_error(m.path("index.faiss") + ": cannot rename into place: " + ec.message());
  return Status::ok();
}

Result<std::vector<std::vector<Neighbor>>> VectorIndex::search(
    std::span<const float> queries, int64_t k, const std::function<bool(int64_t row)>& exclude) const {
  const Impl& m = *impl_;
  if (queries.size() % static_cast<size_t>(m.dim) != 0)
    return invalid_argument("queries must hold n * dim floats");
  const int64_t n_queries = static_cast<int64_t>(queries.size()) / m.dim;
  std::vector<std::vector<Neighbor>> out(static_cast<size_t>(n_queries));
  const int64_t total = static_cast<int64_t>(m.rows.size());
  if (k < 1 || total == 0) return out;
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(m.index.get()))
    hnsw->hnsw.efSearch = m.options.hnsw_ef_search;
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(m.index.get()))
    ivf->nprobe = static_cast<size_t>(m.options.ivf_nprobe);
  // Over-fetch, drop excluded rows, and widen the search for the queries still short of k.
  std::vector<int64_t> pending(static_cast<size_t>(n_queries));
  for (int64_t q = 0; q < n_queries; ++q) pending[static_cast<size_t>(q)] = q;
  int64_t fetch = std::min(total, 4 * k);
  while (!pending.empty()) {
    std::vector<float> batch;
    batch.reserve(pending.size() * static_cast<size_t>(m.dim));
    for (int64_t q : pending)
      batch.insert(batch.end(), queries.begin() + q * m.dim, queries.begin() + (q + 1) * m.dim);
    std::vector<float> sims(pending.size() * static_cast<size_t>(fetch));
    std::vector<faiss::Index::idx_t> labels(pending.size() * static_cast<size_t>(fetch));
    m.index->search(static_cast<int64_t>(pending.size()), batch.data(), fetch, sims.data(), labels.data());
    std::vector<int64_t> still;
    for (size_t p = 0; p < pending.size(); ++p) {
      auto& hits = out[static_cast<size_t>(pending[p])];
      hits.clear();
      for (int64_t j = 0; j < fetch && static_cast<int64_t>(hits.size()) < k; ++j) {
        const faiss::Index::idx_t label = labels[p * static_cast<size_t>(fetch) + static_cast<size_t>(j)];
        if (label < 0) continue;
        const int64_t row = m.rows[static_cast<size_t>(label)];
        if (exclude && exclude(row)) continue;
        hits.push_back({row, sims[p * static_cast<size_t>(fetch) + static_cast<size_t>(j)]});
      }
      if (static_cast<int64_t>(hits.size()) < k && fetch < total) still.push_back(pending[p]);
    }
    pending = std::move(still);
    fetch = std::min(total, fetch * 4);
  }
  return out;
}

int64_t VectorIndex::size() const {
  return static_cast<int64_t>(impl_->rows.size());
}
int64_t VectorIndex::dim() const {
  return impl_->dim;
}
bool VectorIndex::approximate() const {
  return impl_->kind != "flat";
}
std::string VectorIndex::kind() const {
  return impl_->kind;
}
bool VectorIndex::contains(int64_t row) const {
  return impl_->row_set.count(row) != 0;
}
const std::vector<float>& VectorIndex::vectors() const {
  return impl_->vectors;
}
const std::vector<int64_t>& VectorIndex::rows() const {
  return impl_->rows;
}

// ---- The pool's index

namespace {

std::string folder_name(const std::string& embedder) {
  std::string out;
  for (char c : embedder)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '@' || c == '_')
               ? c
               : '_';
  return out;
}

}  // namespace

Result<std::unique_ptr<VectorIndex>> open_pool_index(const Project& project, const Embedder& embedder,
                                                     const IndexOptions& options) {
  return VectorIndex::open(project.dir() + "/index/" + folder_name(embedder.name()), embedder.name(),
                           embedder.dim() + kAttributeDims, options);
}

Status update_pool_index(const Project& project, Embedder& embedder, VectorIndex& index,
                         const IndexOptions& options,
                         const std::function<void(size_t done, size_t total)>& progress) {
  std::vector<data::Record> batch;
  std::vector<int64_t> batch_rows;
  const size_t total = static_cast<size_t>(project.n_pairs());
  size_t done = 0;
  SP_ASSIGN_OR_RETURN(auto attributes, project.attributes());
  std::unordered_map<std::string, data::Attributes> by_id(attributes.begin(), attributes.end());
  auto flush = [&]() -> Status {
    if (batch.empty()) return Status::ok();
    SP_ASSIGN_OR_RETURN(auto conv, embedder.embed(batch));
    std::vector<float> flat;
    flat.reserve(batch.size() * static_cast<size_t>(index.dim()));
    for (size_t i = 0; i < batch.size(); ++i) {
      if (static_cast<int64_t>(conv[i].size()) != embedder.dim())
        return data_error(embedder.name() + ": vector of " + batch[i].id + " has " +
                          std::to_string(conv[i].size()) + " floats, expected " +
                          std::to_string(embedder.dim()));
      auto it = by_id.find(batch[i].id);
      const data::Attributes* attrs = it != by_id.end() ? &it->second : &batch[i].attributes;
      auto v = pair_vector(conv[i], attrs, options.attribute_weight);
      flat.insert(flat.end(), v.begin(), v.end());
    }
    SP_RETURN_IF_ERROR(index.add(batch_rows, flat));
    batch.clear();
    batch_rows.clear();
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(project.for_each_pair([&](int64_t row, const data::Record& record) -> Status {
    ++done;
    if (index.contains(row)) return Status::ok();
    batch.push_back(record);
    batch_rows.push_back(row);
    if (static_cast<int64_t>(batch.size()) >= options.chunk_pairs) {
      SP_RETURN_IF_ERROR(flush());
      if (progress) progress(done, total);
    }
    return Status::ok();
  }));
  SP_RETURN_IF_ERROR(flush());
  if (progress) progress(done, total);
  return index.save();
}

// ---- The in-process RM embedder

namespace {

class RmEmbedder final : public Embedder {
 public:
  RmEmbedder(std::unique_ptr<score::Scorer> scorer, std::string name)
      : scorer_(std::move(scorer)), name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  int64_t dim() const override { return scorer_->model().config().hidden_size; }
  Result<std::vector<std::vector<float>>> embed(const std::vector<data::Record>& records) override {
    std::vector<std::vector<int32_t>> ids;
    ids.reserve(records.size());
    for (const data::Record& record : records) {
      SP_ASSIGN_OR_RETURN(encode::RmInput input, scorer_->builder().build(record));
      if (input.skipped) return data_error("pair " + record.id + ": cannot embed: " + input.skip_reason);
      // The conversation: the rendered context up to where the response starts.
      ids.push_back(!input.prefix.empty() ? std::move(input.prefix) : std::move(input.suffixes.at(0)));
    }
    std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
    model::ScoreOptions options;
    options.max_tokens_per_batch = scorer_->options().max_tokens_per_batch;
    return scorer_->model().pooled_hidden(spans, options);
  }

 private:
  std::unique_ptr<score::Scorer> scorer_;
  std::string name_;
};

}  // namespace

Result<std::unique_ptr<Embedder>> open_rm_embedder(const std::string& model_dir, const std::string& name,
                                                   int n_threads) {
  score::ScorerOptions options;
  options.model_dir = model_dir;
  options.n_threads = n_threads;
  std::string embedder_name = name;
  if (embedder_name.empty()) {
    SP_ASSIGN_OR_RETURN(embedder_name, local_model_name(model_dir));
  }
  SP_ASSIGN_OR_RETURN(auto scorer, score::Scorer::open(options));
  return std::unique_ptr<Embedder>(new RmEmbedder(std::move(scorer), std::move(embedder_name)));
}

}  // namespace synpref::curate
