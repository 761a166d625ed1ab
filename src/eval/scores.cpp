#include "synpref/eval/scores.h"

#include <simdjson.h>

#include <cmath>

#include "synpref/common/io.h"
#include "synpref/common/text.h"

namespace synpref::eval {

using simdjson::dom::element_type;

namespace {

// True when `line` holds a NaN/Infinity literal outside strings (Python's json.dumps writes them).
bool has_non_finite_literal(std::string_view line) {
  bool in_string = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (line.compare(i, 3, "NaN") == 0 || line.compare(i, 8, "Infinity") == 0)
      return true;
  }
  return false;
}

std::string describe_item(const Dataset& dataset, const Item& item) {
  return "item '" + item.id + "' (" + dataset.files[item.file_index].path + " record " +
         std::to_string(item.record_no) + ")";
}

}  // namespace

Result<ScoreTable> read_scores(const std::string& path) {
  SP_ASSIGN_OR_RETURN(std::string bytes, io::read_file(path));
  ScoreTable table;
  table.path = path;
  simdjson::dom::parser parser;
  size_t pos = 0;
  uint64_t line_no = 0;
  while (pos < bytes.size()) {
    size_t end = bytes.find('\n', pos);
    if (end == std::string::npos) end = bytes.size();
    std::string_view line = text::trim(std::string_view(bytes).substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (line.empty()) continue;
    std::string where = path + ":" + std::to_string(line_no);
    simdjson::dom::element doc;
    auto err = parser.parse(line.data(), line.size(), true).get(doc);
    if (err) {
      if (has_non_finite_literal(line)) {
        return data_error(where +
                          ": a score is NaN or Infinity; the reward model produced a non-finite value, "
                          "so no accuracy can be computed from it (fix the model or its dtype)");
      }
      if (err == simdjson::NUMBER_ERROR) {
        return data_error(where + ": a score is not a finite double (out of range); refusing it");
      }
      return data_error(where + ": not valid JSON (" + simdjson::error_message(err) +
                        "); expected {\"id\": ..., \"scores\": [...]}");
    }
    simdjson::dom::object obj;
    if (doc.get_object().get(obj) != simdjson::SUCCESS) {
      return data_error(where + ": expected a JSON object {\"id\": ..., \"scores\": [...]}");
    }
    simdjson::dom::element id_value, scores_value;
    if (obj.at_key("id").get(id_value) != simdjson::SUCCESS)
      return data_error(where + ": missing field 'id'");
    std::string id;
    if (id_value.type() == element_type::STRING) {
      id = std::string(id_value.get_string().value_unsafe());
    } else if (id_value.type() == element_type::INT64) {
      id = std::to_string(id_value.get_int64().value_unsafe());
    } else if (id_value.type() == element_type::UINT64) {
      id = std::to_string(id_value.get_uint64().value_unsafe());
    } else {
      return data_error(where + ": field 'id' must be a string or integer");
    }
    if (obj.at_key("scores").get(scores_value) != simdjson::SUCCESS) {
      return data_error(where + ": missing field 'scores' for id '" + id + "'");
    }
    if (scores_value.type() != element_type::ARRAY) {
      return data_error(where + ": field 'scores' must be an array of numbers (id '" + id + "')");
    }
    std::vector<double> scores;
    size_t index = 0;
    simdjson::dom::array values = scores_value.get_array().value_unsafe();
    for (simdjson::dom::element value : values) {
      double x;
      switch (value.type()) {
        case element_type::DOUBLE:
          x = value.get_double().value_unsafe();
          break;
        case element_type::INT64:
          x = double(value.get_int64().value_unsafe());
          break;
        case element_type::UINT64:
          x = double(value.get_uint64().value_unsafe());
          break;
        case element_type::NULL_VALUE:
          return data_error(where + ": scores[" + std::to_string(index) + "] of id '" + id +
                            "' is null; every response needs a finite score");
        default:
          return data_error(where + ": scores[" + std::to_string(index) + "] of id '" + id +
                            "' is not a number");
      }
      if (!std::isfinite(x)) {
        return data_error(where + ": scores[" + std::to_string(index) + "] of id '" + id + "' is not finite");
      }
      scores.push_back(x);
      ++index;
    }
    auto [it, inserted] = table.index.try_emplace(id, table.ids.size());
    if (!inserted) {
      return data_error(where + ": duplicate id '" + id + "' (first on line of row " +
                        std::to_string(it->second + 1) + "); each item must be scored once");
    }
    table.ids.push_back(std::move(id));
    table.scores.push_back(std::move(scores));
  }
  if (table.ids.empty()) return data_error(path + ": no score lines");
  return table;
}

Result<ItemScores> match_scores(const Dataset& dataset, const ScoreTable& table) {
  ItemScores out;
  out.scores.resize(dataset.items.size());
  std::unordered_map<std::string_view, size_t> item_index;
  for (size_t i = 0; i < dataset.items.size(); ++i) item_index.emplace(dataset.items[i].id, i);
  for (size_t row = 0; row < table.ids.size(); ++row) {
    auto it = item_index.find(table.ids[row]);
    if (it == item_index.end()) {
      return data_error(table.path + ": id '" + table.ids[row] + "' (row " + std::to_string(row + 1) +
                        ") is not an item of the " + dataset.benchmark +
                        " data; is this the right --benchmark and --data?");
    }
    const Item& item = dataset.items[it->second];
    if (table.scores[row].size() != item.responses.size()) {
      return data_error(table.path + ": id '" + item.id + "' has " +
                        std::to_string(table.scores[row].size()) + " scores but the item has " +
                        std::to_string(item.responses.size()) + " responses (order: docs/EVAL.md)");
    }
    out.scores[it->second] = table.scores[row];
  }
  for (size_t i = 0; i < dataset.items.size(); ++i) {
    if (out.scores[i].empty()) out.missing.push_back(i);
  }
  return out;
}

ItemScores item_scores_from_engine(const std::vector<std::vector<float>>& scores, int64_t max_length,
                                   int64_t n_truncated) {
  ItemScores out;
  out.scores.resize(scores.size());
  for (size_t i = 0; i < scores.size(); ++i) {
    if (scores[i].empty()) out.missing.push_back(i);
    out.scores[i].assign(scores[i].begin(), scores[i].end());
  }
  out.max_length = max_length;
  out.n_truncated = n_truncated;
  out.n_skipped = int64_t(out.missing.size());
  return out;
}

Result<ItemScores> score_items(const Dataset& dataset, const Scorer& scorer) {
  ItemScores out;
  out.scores.reserve(dataset.items.size());
  out.n_skipped = 0;
  for (const Item& item : dataset.items) {
    auto scores = scorer(item.context, item.responses);
    if (!scores.is_ok()) return scores.status().with_context("scoring " + describe_item(dataset, item));
    if (scores->empty()) {
      out.missing.push_back(out.scores.size());
      out.scores.emplace_back();
      out.n_skipped++;
      continue;
    }
    if (scores->size() != item.responses.size()) {
      return Status(StatusCode::internal, "scorer returned " + std::to_string(scores->size()) +
                                              " scores for " + std::to_string(item.responses.size()) +
                                              " responses of " + describe_item(dataset, item));
    }
    for (size_t k = 0; k < scores->size(); ++k) {
      if (!std::isfinite((*scores)[k])) {
        return data_error("the model scored response " + std::to_string(k) + " of " +
                          describe_item(dataset, item) +
                          " as a non-finite value; refusing to report an accuracy");
      }
    }
    out.scores.push_back(std::move(scores).value());
  }
  return out;
}

Status write_scores(const std::string& path, const Dataset& dataset, const ItemScores& scores) {
  SP_CHECK(scores.scores.size() == dataset.items.size());
  SP_ASSIGN_OR_RETURN(auto writer, io::Writer::open(path));
  std::string& buf = writer->buffer();
  for (size_t i = 0; i < dataset.items.size(); ++i) {
    if (scores.scores[i].empty()) continue;
    buf += "{\"id\":";
    text::append_json_string(buf, dataset.items[i].id);
    buf += ",\"scores\":[";
    for (size_t k = 0; k < scores.scores[i].size(); ++k) {
      if (k) buf += ',';
      text::append_json_number(buf, scores.scores[i][k]);
    }
    buf += "]}\n";
    writer->maybe_flush();
  }
  return writer->close();
}

}  // namespace synpref::eval
