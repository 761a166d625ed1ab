// tests/chat/json_value.h: nlohmann JSON -> chat::Value for tests written with JSON literals (the
// public chat API takes plain Values; Value::parse_json reads JSON text).
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "synpref/chat/value.h"

namespace synpref::chat::testing {

// null -> undefined (no variables), anything else through its JSON text.
inline Value to_value(const nlohmann::ordered_json& j) {
  if (j.is_null()) return Value();
  auto v = Value::parse_json(j.dump());
  EXPECT_TRUE(v.is_ok()) << v.status().message();
  return v.is_ok() ? *v : Value();
}

}  // namespace synpref::chat::testing
