#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>

#include "synpref/common/hash.h"
#include "synpref/common/text.h"

using namespace synpref;

TEST(Utf8, ValidationAndFirstInvalidOffset) {
  EXPECT_TRUE(text::is_valid_utf8("plain ascii"));
  EXPECT_TRUE(text::is_valid_utf8("ünïcödé 🤖 中文"));
  EXPECT_EQ(text::first_invalid_utf8("abc"), std::string_view::npos);
  EXPECT_EQ(text::first_invalid_utf8("ab\xff"), 2u);
  EXPECT_EQ(text::first_invalid_utf8("\xc3\xa9\xc0\x80"), 2u);    // overlong NUL
  EXPECT_EQ(text::first_invalid_utf8("x\xed\xa0\x80"), 1u);       // surrogate U+D800
  EXPECT_EQ(text::first_invalid_utf8("xy\xf4\x90\x80\x80"), 2u);  // above U+10FFFF
  EXPECT_EQ(text::first_invalid_utf8("\xe2\x82"), 0u);            // truncated sequence
}

TEST(JsonString, EscapesRoundTripThroughAJsonParserForRandomStrings) {
  std::mt19937 rng(7);
  simdjson::dom::parser parser;
  const std::vector<std::string> pieces = {"a",    "\"",   "\\",      "\n",   "\t", std::string(1, '\0'),
                                           "\x01", "\x1f", "é",       "🤖", "中", " ",
                                           "/",    "\x7f", "abcdefgh"};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string s;
    int n = rng() % 40;
    for (int i = 0; i < n; ++i) s += pieces[rng() % pieces.size()];
    std::string json;
    text::append_json_string(json, s);
    auto parsed = parser.parse(json);
    ASSERT_FALSE(parsed.error()) << json;
    ASSERT_EQ(std::string(parsed.value_unsafe().get_string().value_unsafe()), s);
  }
}

TEST(JsonString, LossyReplacesInvalidBytes) {
  std::string out;
  text::append_json_string_lossy(out, "ok\xff!");
  EXPECT_EQ(out, "\"ok\xEF\xBF\xBD!\"");
}

TEST(JsonNumber, ShortestRoundTrip) {
  std::string out;
  text::append_json_number(out, 0.1);
  out += ",";
  text::append_json_number(out, 1.0);
  out += ",";
  text::append_json_number(out, int64_t{-42});
  EXPECT_EQ(out, "0.1,1,-42");
}

TEST(Hash, FieldFramingPreventsConcatenationCollisions) {
  Hasher a, b;
  a.add_field("ab");
  a.add_field("c");
  b.add_field("a");
  b.add_field("bc");
  EXPECT_FALSE(a.digest() == b.digest());
  EXPECT_EQ(hash128("x").hex().size(), 32u);
}
