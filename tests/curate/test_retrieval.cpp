// Stage-1 retrieval: the k rule, pair vectors, and the persisted FAISS index (exact search against
// brute force, persistence, incremental adds, torn tails, the exact -> approximate switch).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "synpref/common/hash.h"
#include "synpref/curate/retrieval.h"
#include "synpref/curate/round.h"
#include "synpref/http/server.h"
#include "test_project_util.h"

namespace synpref::curate {
namespace {

namespace fs = std::filesystem;
using synpref::testing::TempDir;

TEST(RetrievalK, ReportRule) {
  // k = 8 when the RM is wrong or undecided (p <= 0.5), else ceil(8 * (1 - p)).
  EXPECT_EQ(retrieval_k(0.0, 8), 8);
  EXPECT_EQ(retrieval_k(0.2, 8), 8);
  EXPECT_EQ(retrieval_k(0.5, 8), 8);
  EXPECT_EQ(retrieval_k(0.51, 8), 4);   // ceil(3.92)
  EXPECT_EQ(retrieval_k(0.625, 8), 3);  // exactly 3
  EXPECT_EQ(retrieval_k(0.7, 8), 3);    // ceil(2.4)
  EXPECT_EQ(retrieval_k(0.75, 8), 2);   // exactly 2: no rounding up
  EXPECT_EQ(retrieval_k(0.9, 8), 1);    // ceil(0.8)
  EXPECT_EQ(retrieval_k(0.99, 8), 1);   // ceil(0.08)
  EXPECT_EQ(retrieval_k(1.0, 8), 0);    // certain and right: nothing to retrieve
  EXPECT_EQ(retrieval_k(std::nan(""), 8), 8);
  EXPECT_EQ(retrieval_k(0.3, 3), 3);
  EXPECT_EQ(retrieval_k(0.6, 3), 2);  // ceil(1.2)
  EXPECT_EQ(retrieval_k(0.6, 1), 1);
  // Monotone: a more confident correct RM never retrieves more.
  int last = 8;
  for (double p = 0.5; p <= 1.0; p += 0.001) {
    const int k = retrieval_k(p, 8);
    EXPECT_LE(k, last) << p;
    last = k;
  }
}

double norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += double(x) * x;
  return std::sqrt(s);
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

TEST(PairVector, NormalizedAndAttributesPullTogether) {
  std::vector<float> conv = {3, 4, 0, 0};
  data::Attributes math{.task_category = "math", .objectivity = "objective", .controversiality = "none"};
  data::Attributes safety{.task_category = "safety", .objectivity = "normative", .controversiality = "low"};
  auto a = pair_vector(conv, &math, 0.5);
  ASSERT_EQ(a.size(), conv.size() + kAttributeDims);
  EXPECT_NEAR(norm(a), 1.0, 1e-6);
  // Same conversation, same attributes: identical; different attributes: less similar.
  auto b = pair_vector(conv, &math, 0.5);
  auto c = pair_vector(conv, &safety, 0.5);
  EXPECT_NEAR(dot(a, b), 1.0, 1e-6);
  EXPECT_LT(dot(a, c), 0.9);
  // Weight 0 (or no attributes): the normalized conversation alone.
  auto d = pair_vector(conv, &math, 0.0);
  auto e = pair_vector(conv, nullptr, 0.5);
  EXPECT_NEAR(d[0], 0.6, 1e-6);
  EXPECT_NEAR(d[1], 0.8, 1e-6);
  EXPECT_EQ(d, e);
}

std::vector<float> random_unit_vectors(size_t n, size_t dim, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> out(n * dim);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += std::pow(out[i * dim + j] = g(rng), 2);
    for (size_t j = 0; j < dim; ++j) out[i * dim + j] = static_cast<float>(out[i * dim + j] / std::sqrt(s));
  }
  return out;
}

// The k best rows by inner product, by brute force (ties by insertion order).
std::vector<int64_t> brute_force(const std::vector<float>& vectors, const std::vector<int64_t>& rows,
                                 const float* query, size_t dim, size_t k,
                                 const std::set<int64_t>& excluded) {
  std::vector<std::pair<double, size_t>> sims;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (excluded.count(rows[i])) continue;
    double s = 0;
    for (size_t j = 0; j < dim; ++j) s += double(vectors[i * dim + j]) * query[j];
    sims.push_back({-s, i});
  }
  std::sort(sims.begin(), sims.end());
  std::vector<int64_t> out;
  for (size_t i = 0; i < k && i < sims.size(); ++i) out.push_back(rows[sims[i].second]);
  return out;
}

TEST(VectorIndex, ExactSearchMatchesBruteForceAndPersists) {
  TempDir tmp;
  const size_t dim = 16, n = 300;
  auto vectors = random_unit_vectors(n, dim, 7);
  std::vector<int64_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int64_t>(1000 + 3 * i);  // not 0..n-1
  const std::string dir = tmp.file("index");
  IndexOptions options;
  auto queries = random_unit_vectors(20, dim, 8);
  const std::set<int64_t> excluded = {rows[5], rows[17], rows[40]};
  auto exclude = [&](int64_t row) { return excluded.count(row) != 0; };
  {
    auto index = VectorIndex::open(dir, "unit@1", dim, options);
    ASSERT_TRUE(index.is_ok()) << index.status().message();
    // Two chunks, as update_pool_index adds them.
    ASSERT_TRUE((*index)->add(std::span(rows).first(120), std::span(vectors).first(120 * dim)).is_ok());
    ASSERT_TRUE((*index)->add(std::span(rows).subspan(120), std::span(vectors).subspan(120 * dim)).is_ok());
    EXPECT_EQ((*index)->size(), int64_t(n));
    EXPECT_EQ((*index)->kind(), "flat");
    EXPECT_FALSE((*index)->approximate());
    EXPECT_FALSE((*index)->add(std::span(rows).first(1), std::span(vectors).first(dim)).is_ok())
        << "a row already indexed is refused";
    auto hits = (*index)->search(queries, 8, exclude);
    ASSERT_TRUE(hits.is_ok());
    ASSERT_EQ(hits->size(), 20u);
    for (size_t q = 0; q < 20; ++q) {
      std::vector<int64_t> got;
      for (const Neighbor& nb : (*hits)[q]) got.push_back(nb.row);
      EXPECT_EQ(got, brute_force(vectors, rows, queries.data() + q * dim, dim, 8, excluded)) << "query " << q;
      for (size_t j = 1; j < (*hits)[q].size(); ++j)
        EXPECT_GE((*hits)[q][j - 1].similarity, (*hits)[q][j].similarity);
    }
    ASSERT_TRUE((*index)->save().is_ok());
  }
  // Reopened: the same vectors, rows and answers.
  auto reopened = VectorIndex::open(dir, "unit@1", dim, options);
  ASSERT_TRUE(reopened.is_ok()) << reopened.status().message();
  EXPECT_EQ((*reopened)->size(), int64_t(n));
  EXPECT_EQ((*reopened)->rows(), rows);
  EXPECT_EQ((*reopened)->vectors(), vectors);
  auto again = (*reopened)->search(std::span(queries).first(dim), 5, {});
  ASSERT_TRUE(again.is_ok());
  std::vector<int64_t> got;
  for (const Neighbor& nb : (*again)[0]) got.push_back(nb.row);
  EXPECT_EQ(got, brute_force(vectors, rows, queries.data(), dim, 5, {}));

  // Another embedder or dimension is refused, naming the folder's.
  auto other = VectorIndex::open(dir, "other@2", dim, options);
  ASSERT_FALSE(other.is_ok());
  EXPECT_NE(other.status().message().find("unit@1"), std::string::npos) << other.status().message();
  EXPECT_FALSE(VectorIndex::open(dir, "unit@1", dim + 1, options).is_ok());
}

TEST(VectorIndex, IncrementalAddsAndTornTails) {
  TempDir tmp;
  const size_t dim = 8;
  auto vectors = random_unit_vectors(50, dim, 3);
  std::vector<int64_t> rows(50);
  for (size_t i = 0; i < 50; ++i) rows[i] = static_cast<int64_t>(i);
  const std::string dir = tmp.file("index");
  {
    auto index = VectorIndex::open(dir, "e", dim, {});
    ASSERT_TRUE(index.is_ok());
    ASSERT_TRUE((*index)->add(std::span(rows).first(30), std::span(vectors).first(30 * dim)).is_ok());
    ASSERT_TRUE((*index)->save().is_ok());
  }
  // A killed add: a torn tail in both files (half a vector, a few bytes of a row id).
  {
    std::ofstream v(dir + "/vectors.f32", std::ios::app | std::ios::binary);
    v.write(reinterpret_cast<const char*>(vectors.data() + 30 * dim), 3 * sizeof(float));
    std::ofstream r(dir + "/rows.i64", std::ios::app | std::ios::binary);
    r.write("\x1e\x00\x00", 3);
  }
  {
    auto index = VectorIndex::open(dir, "e", dim, {});
    ASSERT_TRUE(index.is_ok()) << index.status().message();
    EXPECT_EQ((*index)->size(), 30) << "the torn tail is dropped";
    EXPECT_EQ(fs::file_size(dir + "/vectors.f32"), 30 * dim * sizeof(float));
    EXPECT_EQ(fs::file_size(dir + "/rows.i64"), 30 * sizeof(int64_t));
    EXPECT_FALSE((*index)->contains(30));
    // Incremental: only the new rows are added; the saved structure is reused and extended.
    ASSERT_TRUE((*index)->add(std::span(rows).subspan(30), std::span(vectors).subspan(30 * dim)).is_ok());
    ASSERT_TRUE((*index)->save().is_ok());
  }
  // A vector whose row id never got written (killed between the two appends) is dropped too.
  {
    std::ofstream v(dir + "/vectors.f32", std::ios::app | std::ios::binary);
    v.write(reinterpret_cast<const char*>(vectors.data()), dim * sizeof(float));
  }
  fs::remove(dir + "/index.faiss");  // and a lost search structure is rebuilt from the vectors
  auto index = VectorIndex::open(dir, "e", dim, {});
  ASSERT_TRUE(index.is_ok()) << index.status().message();
  EXPECT_EQ((*index)->size(), 50);
  EXPECT_EQ((*index)->rows(), rows);
  for (size_t i = 0; i < 50; i += 7) {
    auto hits = (*index)->search(std::span(vectors).subspan(i * dim, dim), 1, {});
    ASSERT_TRUE(hits.is_ok());
    ASSERT_EQ((*hits)[0].size(), 1u);
    EXPECT_EQ((*hits)[0][0].row, int64_t(i)) << "each stored vector is its own nearest neighbour";
  }
}

TEST(VectorIndex, SwitchesToApproximateAboveTheThreshold) {
  for (const std::string kind : {"hnsw", "ivf"}) {
    TempDir tmp;
    const size_t dim = 12, n = 600;
    auto vectors = random_unit_vectors(n, dim, 11);
    std::vector<int64_t> rows(n);
    for (size_t i = 0; i < n; ++i) rows[i] = static_cast<int64_t>(i);
    IndexOptions options;
    options.exact_threshold = 400;
    options.approximate = kind;
    options.ivf_nprobe = 64;  // every list: exact recall for this test
    {
      auto index = VectorIndex::open(tmp.file("i"), "e", dim, options);
      ASSERT_TRUE(index.is_ok());
      ASSERT_TRUE((*index)->add(std::span(rows).first(300), std::span(vectors).first(300 * dim)).is_ok());
      EXPECT_EQ((*index)->kind(), "flat");
      ASSERT_TRUE((*index)->add(std::span(rows).subspan(300), std::span(vectors).subspan(300 * dim)).is_ok());
      EXPECT_EQ((*index)->kind(), kind);
      EXPECT_TRUE((*index)->approximate());
      ASSERT_TRUE((*index)->save().is_ok());
    }
    auto index = VectorIndex::open(tmp.file("i"), "e", dim, options);
    ASSERT_TRUE(index.is_ok());
    EXPECT_EQ((*index)->kind(), kind);
    // Recall of each vector as its own nearest neighbour, and exclusion still honoured.
    int self_hits = 0;
    for (size_t i = 0; i < n; i += 5) {
      auto hits = (*index)->search(std::span(vectors).subspan(i * dim, dim), 3,
                                   [&](int64_t row) { return row % 2 == 1 && row != int64_t(i); });
      ASSERT_TRUE(hits.is_ok());
      ASSERT_EQ((*hits)[0].size(), 3u) << kind;
      self_hits += (*hits)[0][0].row == int64_t(i);
      for (const Neighbor& nb : (*hits)[0]) EXPECT_TRUE(nb.row % 2 == 0 || nb.row == int64_t(i)) << kind;
    }
    EXPECT_GE(self_hits, int(0.95 * (n / 5))) << kind;
  }
}

TEST(VectorIndex, BadOptionsNameTheField) {
  TempDir tmp;
  IndexOptions options;
  options.approximate = "lsh";
  auto r = VectorIndex::open(tmp.file("i"), "e", 4, options);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("approximate"), std::string::npos);
  options = {};
  options.chunk_pairs = 0;
  r = VectorIndex::open(tmp.file("i"), "e", 4, options);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("chunk_pairs"), std::string::npos);
}

// An OpenAI-compatible /v1/embeddings server: 8 floats per text from a hash of the text, the data
// list in reverse order (clients must follow `index`), a 503 on every 3rd request.
class FakeEmbeddings {
 public:
  FakeEmbeddings() {
    server_ = std::move(http::Server::create({}).value());
    server_->route("POST", "/v1/embeddings", [this](const http::Request& r) { return handle(r); });
    thread_ = std::thread([this] { (void)server_->run(); });
  }
  ~FakeEmbeddings() {
    server_->stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()) + "/v1"; }
  int requests() const { return requests_; }
  static std::vector<float> vector_of(const std::string& text) {
    std::vector<float> v(8);
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(hash64(text, i) % 1000) / 1000.0f - 0.5f;
    return v;
  }

 private:
  http::Response handle(const http::Request& request) {
    if (++requests_ % 3 == 0) return http::error_response(503, "overloaded", "try again");
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (body.is_discarded() || body.value("model", "") != "embed-test" || !body["input"].is_array())
      return http::error_response(400, "bad_request", "model embed-test and a list input expected");
    nlohmann::json data = nlohmann::json::array();
    for (size_t i = body["input"].size(); i-- > 0;)
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", vector_of(body["input"][i])}});
    return http::json_response(
        nlohmann::json{{"object", "list"}, {"data", data}, {"model", "embed-test"}}.dump());
  }
  std::atomic<int> requests_{0};
  std::unique_ptr<http::Server> server_;
  std::thread thread_;
};

TEST(EndpointEmbedder, FollowsIndexesRetriesAndFeedsThePoolIndex) {
  TempDir tmp;
  FakeEmbeddings server;
  std::string pool;
  for (int i = 0; i < 30; ++i)
    pool += synpref::testing::pool_line(i, i % 2 ? "math" : "chat", "p" + std::to_string(i));
  synpref::testing::spit(tmp.file("pool.jsonl"), pool);
  auto project = Project::init(tmp.file("p"), {tmp.file("pool.jsonl")}, {});
  ASSERT_TRUE(project.is_ok()) << project.status().message();
  EmbeddingEndpointOptions options;
  options.base_url = server.url();
  options.model = "embed-test";
  options.batch = 4;
  auto embedder = open_endpoint_embedder(options);
  ASSERT_TRUE(embedder.is_ok()) << embedder.status().message();
  EXPECT_EQ((*embedder)->dim(), 8);
  IndexOptions index_options;
  index_options.chunk_pairs = 10;
  auto index = open_pool_index(**project, **embedder, index_options);
  ASSERT_TRUE(index.is_ok()) << index.status().message();
  ASSERT_TRUE(update_pool_index(**project, **embedder, **index, index_options).is_ok());
  EXPECT_EQ((*index)->size(), 30);
  EXPECT_TRUE(fs::exists(tmp.file("p/index/embed-test/index.faiss")));
  // Each stored vector is pair_vector() of the server's vector for the pair's conversation text.
  for (int64_t row : {0, 7, 29}) {
    auto record = (*project)->pair_at(row);
    ASSERT_TRUE(record.is_ok());
    auto attrs = (*project)->attributes_of(record->id);
    ASSERT_TRUE(attrs.is_ok());
    auto expected = pair_vector(FakeEmbeddings::vector_of(conversation_text(*record)),
                                attrs->has_value() ? &**attrs : nullptr, index_options.attribute_weight);
    const size_t pos = static_cast<size_t>(std::find((*index)->rows().begin(), (*index)->rows().end(), row) -
                                           (*index)->rows().begin());
    std::vector<float> got((*index)->vectors().begin() + pos * expected.size(),
                           (*index)->vectors().begin() + (pos + 1) * expected.size());
    for (size_t j = 0; j < expected.size(); ++j) EXPECT_NEAR(got[j], expected[j], 1e-6) << row;
  }
  // A second update asks nothing more: the pool is indexed.
  const int before = server.requests();
  ASSERT_TRUE(update_pool_index(**project, **embedder, **index, index_options).is_ok());
  EXPECT_EQ(server.requests(), before);
  // A wrong model name is a clean error after the retries, naming the URL.
  options.model = "other";
  options.max_retries = 1;
  auto bad = open_endpoint_embedder(options);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("/embeddings"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace synpref::curate
