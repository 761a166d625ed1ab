// The safetensors parser against crafted hostile files (truncated, lying headers, overlapping or
// out-of-range offsets, holes, bad dtypes/shapes, duplicate names) and a mutation sweep: every
// failure must be a clean Status naming the file (and tensor), never a crash or out-of-range read.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>

#include "model_test_util.h"
#include "synpref/model/safetensors.h"

using namespace synpref::model;
using synpref::model::testing::TempDir;

namespace {

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + data;
}

synpref::Result<SafetensorsHeader> parse(const std::string& bytes) {
  return parse_safetensors_header(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), bytes.size(),
                                  "x.safetensors");
}

void expect_error(const std::string& bytes, const std::string& needle) {
  auto r = parse(bytes);
  ASSERT_FALSE(r.is_ok()) << "accepted: " << needle;
  EXPECT_NE(r.status().message().find("x.safetensors"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

const std::string k16(16, 'a');  // 16 data bytes

}  // namespace

TEST(Safetensors, ValidFileParses) {
  auto r = parse(with_header(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"z":{"dtype":"F16","shape":[0,3],"data_offsets":[16,16]}}   )",
      k16));
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->tensors.size(), 3u);
  EXPECT_EQ(r->tensors[0].name, "a");  // sorted by offset
  EXPECT_EQ(r->metadata.at("format"), "pt");
  const TensorEntry* b = r->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, DType::F32);
  EXPECT_EQ(b->begin, r->data_begin + 8);
  EXPECT_EQ(b->end - b->begin, 8u);
  EXPECT_EQ(r->find("missing"), nullptr);
}

TEST(Safetensors, HostileHeadersAreRefused) {
  expect_error("", "too short");
  expect_error(std::string(5, '\0'), "too short");
  expect_error(with_header("", ""), "header length 0");
  {
    std::string huge(8, '\xff');
    expect_error(huge + "{}", "outside");
  }
  {
    std::string lying = with_header("{}", "");
    lying[0] = 100;  // header claims 100 bytes, file has 2
    expect_error(lying, "truncated");
  }
  expect_error(with_header("[1,2]", ""), "start with '{'");
  expect_error(with_header("{not json", ""), "not valid JSON");
  expect_error(with_header(R"({"a":5})", ""), "not an object");
  expect_error(with_header(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", "abcd"), "dtype");
  expect_error(with_header(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", "abcd"), "shape");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1]}})", "abcd"), "data_offsets");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", "abcd"),
               "data_offsets");
  expect_error(with_header(R"({"a":{"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]}})", "abcd"),
               "unknown dtype 'Q4_K'");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", "abcd"),
               "non-negative");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", "abcd"),
               "non-negative");
  expect_error(
      with_header(
          R"({"a":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}})",
          "abcd"),
      "overflows");
  expect_error(
      with_header(R"({"a":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", "abcd"),
      "rank");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", "abcd"),
               "begin > end");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,-4]}})", "abcd"),
               "non-negative");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", "abcd"),
               "run past the end");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd"), "need 8");
  expect_error(
      with_header(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          k16),
      "overlaps");
  expect_error(
      with_header(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
          k16),
      "holes");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", k16), "holes");
  expect_error(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", k16), "trailing");
  expect_error(
      with_header(
          R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          std::string(8, 'a')),
      "'a' twice");
  expect_error(with_header(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", "abcd"),
               "twice");
  expect_error(with_header(R"({"__metadata__":[1]})", ""), "__metadata__");
  expect_error(with_header(R"({"__metadata__":{"k":1}})", ""), "__metadata__");
  expect_error(with_header(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcd"), "empty name");
}

TEST(Safetensors, ErrorsNameTheTensor) {
  auto r = parse(
      with_header(R"({"model.layers.3.mlp.up_proj.weight":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                  std::string(8, 'a')));
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("model.layers.3.mlp.up_proj.weight"), std::string::npos)
      << r.status().message();
}

TEST(Safetensors, WriterRoundTripsAndMapsFiles) {
  TempDir tmp;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<uint16_t> b = {7, 8, 9};
  const std::string path = tmp.file("t.safetensors");
  ASSERT_TRUE(
      write_safetensors(path, {{"w.a", DType::F32, {2, 3}, {reinterpret_cast<const char*>(a.data()), 24}},
                               {"w.b", DType::BF16, {3}, {reinterpret_cast<const char*>(b.data()), 6}},
                               {"w.empty", DType::F16, {0}, {}}})
          .is_ok());
  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.is_ok()) << f.status().message();
  EXPECT_EQ((*f)->header().data_begin % 8, 0u);  // header padded to 8 bytes
  const TensorEntry* ta = (*f)->header().find("w.a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp((*f)->tensor_data(*ta), a.data(), 24), 0);
  const TensorEntry* tb = (*f)->header().find("w.b");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(std::memcmp((*f)->tensor_data(*tb), b.data(), 6), 0);
  EXPECT_EQ((*f)->header().metadata.at("format"), "pt");
  EXPECT_FALSE(SafetensorsFile::open(tmp.file("nope.safetensors")).is_ok());
  EXPECT_FALSE(
      write_safetensors(tmp.file("dup.safetensors"), {{"x", DType::F32, {0}, {}}, {"x", DType::F32, {0}, {}}})
          .is_ok());
}

TEST(Safetensors, MutatedFilesNeverCrashAndAcceptedOnesStayInRange) {
  TempDir tmp;
  std::vector<float> a(40, 1.0f);
  const std::string path = tmp.file("m.safetensors");
  ASSERT_TRUE(
      write_safetensors(path, {{"x", DType::F32, {4, 5}, {reinterpret_cast<const char*>(a.data()), 80}},
                               {"y", DType::F32, {20}, {reinterpret_cast<const char*>(a.data()), 80}}})
          .is_ok());
  std::ifstream in(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(1);
  int accepted = 0;
  for (int iter = 0; iter < 5000; ++iter) {
    std::string m = original;
    const int kind = iter % 4;
    if (kind == 0) {
      m.resize(rng() % m.size());  // truncation
    } else if (kind == 1) {
      for (int k = 0; k < 3; ++k) m[rng() % m.size()] = static_cast<char>(rng());  // random bytes anywhere
    } else if (kind == 2) {
      const size_t hdr = 8 + (rng() % (m.size() - 8 < 200 ? m.size() - 8 : 200));
      m[hdr] = "0123456789[]{},:\"-eE."[rng() % 21];  // plausible JSON characters in the header
    } else {
      m[rng() % 8] = static_cast<char>(rng());  // header length
    }
    auto r = parse(m);
    if (r.is_ok()) {
      ++accepted;
      for (const auto& t : r->tensors) {
        ASSERT_LE(t.begin, t.end);
        ASSERT_LE(t.end, m.size());
        ASSERT_EQ(t.end - t.begin, t.n_elements() * dtype_size(t.dtype));
      }
    } else {
      ASSERT_FALSE(r.status().message().empty());
    }
  }
  EXPECT_GT(accepted, 0);  // some mutations (e.g. in tensor data) are harmless
}
