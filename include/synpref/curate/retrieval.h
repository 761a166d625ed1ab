// synpref/curate/retrieval.h: embeddings of (conversation, attributes) and a nearest-neighbour
// index over the pool, for the error-driven retrieval of stage 1 (report section 3.2).
//
//   SP_ASSIGN_OR_RETURN(auto embedder, open_rm_embedder(rm_dir, n_threads));   // or an endpoint
//   SP_ASSIGN_OR_RETURN(auto index, PoolIndex::open(project, *embedder, {}));
//   SP_RETURN_IF_ERROR(index->update(project, *embedder));     // embeds rows not indexed yet
//   SP_ASSIGN_OR_RETURN(auto hits, index->search(query_vectors, k, exclude));
//
// What a pair's vector is (docs/curation.md, "Stage 1: rounds"): the embedder's vector of the
// pair's conversation (the context, not the responses), L2-normalized, followed by a block of
// hashed one-hot features of its attributes (task category, objectivity, controversiality) scaled
// to `attribute_weight`, and the whole normalized again. Similarity is the inner product (cosine).
//
// Persistence: DIR/index/<embedder name>/ holds vectors.f32 and rows.i64 (appended as rows are
// embedded; the source of truth), index.faiss (the search structure) and meta.json. A killed update
// loses at most the chunk in flight: open() trims a torn tail and rebuilds index.faiss when it does
// not hold exactly the stored vectors. The FAISS index is exact (flat, inner product) while it
// holds fewer than `exact_threshold` vectors and approximate (HNSW or IVF) from then on; the switch
// rebuilds it from the stored vectors. FAISS types never appear in this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "synpref/common/status.h"
#include "synpref/curate/project.h"
#include "synpref/data/record.h"

namespace synpref::curate {

// Turns pairs into vectors of one fixed dimension.
class Embedder {
 public:
  virtual ~Embedder() = default;
  // One vector per record (its conversation), each dim() floats, in order. Errors name the record.
  virtual Result<std::vector<std::vector<float>>> embed(const std::vector<data::Record>& records) = 0;
  virtual const std::string& name() const = 0;  // "name@version": the index folder's key
  virtual int64_t dim() const = 0;              // floats per vector
};

// The reward model's own pooled hidden state (model::Model::pooled_hidden) of the pair's context as
// its chat template renders it. name "" = the model folder's name@version (as open_local_scorer).
Result<std::unique_ptr<Embedder>> open_rm_embedder(const std::string& model_dir, const std::string& name,
                                                   int n_threads);

// An OpenAI-compatible embeddings server: POST base_url + "/embeddings" {"model", "input": [texts]}
// -> {"data": [{"index": i, "embedding": [...]}, ...]}. The text of a pair is its conversation,
// one "role: content" paragraph per turn. Failed requests (transport, 429, 5xx) are retried.
struct EmbeddingEndpointOptions {
  std::string base_url;     // ".../v1"
  std::string model;        // "model" field sent; also the embedder's name
  std::string api_key_env;  // env var holding the key ("" = no auth); never logged
  int batch = 64;           // texts per request (>= 1)
  int max_concurrency = 4;
  int max_retries = 4;
  double timeout_seconds = 60;
};
Result<std::unique_ptr<Embedder>> open_endpoint_embedder(const EmbeddingEndpointOptions& options);

// The text an endpoint embedder sends for a pair (its conversation).
std::string conversation_text(const data::Record& record);

struct IndexOptions {
  int64_t exact_threshold = 50000;   // below: exact flat search; at or above: approximate
  std::string approximate = "hnsw";  // "hnsw" or "ivf"
  int hnsw_m = 32;
  int hnsw_ef_search = 128;
  int ivf_lists = 0;  // 0 = about 4 * sqrt(n)
  int ivf_nprobe = 16;
  double attribute_weight = 0.5;  // norm of the attribute block next to the unit conversation vector
  int64_t chunk_pairs = 512;      // pairs embedded per chunk (each chunk is persisted)
};

struct Neighbor {
  int64_t row = -1;
  float similarity = 0;  // inner product of normalized vectors
};

inline constexpr int64_t kAttributeDims = 96;  // 32 hashed buckets per attribute field

// The final vector of a pair: normalized conversation vector + scaled attribute block, normalized.
std::vector<float> pair_vector(std::span<const float> conversation, const data::Attributes* attributes,
                               double attribute_weight);

// A flat or approximate index over vectors keyed by pool row, persisted in a folder.
class VectorIndex {
 public:
  // Opens DIR (creating it) for vectors of `dim` floats. A folder written for another dimension
  // or by another embedder is an error naming it.
  static Result<std::unique_ptr<VectorIndex>> open(const std::string& dir, const std::string& embedder,
                                                   int64_t dim, const IndexOptions& options);
  ~VectorIndex();
  // Appends vectors (n x dim, row-major) for `rows` (none already indexed) and persists them.
  Status add(std::span<const int64_t> rows, std::span<const float> vectors);
  // The k most similar indexed rows to each query (n x dim) that `exclude` does not reject, best
  // first (fewer when the index has fewer eligible rows).
  Result<std::vector<std::vector<Neighbor>>> search(std::span<const float> queries, int64_t k,
                                                    const std::function<bool(int64_t row)>& exclude) const;
  // Writes the search structure (index.faiss, atomically); stored vectors are persisted by add().
  Status save() const;
  int64_t size() const;
  int64_t dim() const;
  bool approximate() const;  // HNSW/IVF rather than exact
  std::string kind() const;  // "flat", "hnsw" or "ivf"
  bool contains(int64_t row) const;
  const std::vector<float>& vectors() const;  // size() x dim(), in insertion order
  const std::vector<int64_t>& rows() const;

  struct Impl;

 private:
  explicit VectorIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The project's index for one embedder: DIR/index/<embedder name>/. update() embeds every pool row
// not indexed yet, chunk by chunk (each chunk persisted), so a rerun continues where a killed
// one stopped.
// Vectors are pair_vector()s: embedder.dim() + kAttributeDims floats.
Result<std::unique_ptr<VectorIndex>> open_pool_index(const Project& project, const Embedder& embedder,
                                                     const IndexOptions& options);
Status update_pool_index(const Project& project, Embedder& embedder, VectorIndex& index,
                         const IndexOptions& options,
                         const std::function<void(size_t done, size_t total)>& progress = {});

}  // namespace synpref::curate
