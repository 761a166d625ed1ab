// Helpers for the curate tests: synthetic pools and a canonical dump of a project.
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace synpref::testing {

// One canonical JSONL pair; `category` "" = no attributes, `id` "" = none (default_id is used).
inline std::string pool_line(int idx, const std::string& category, const std::string& id = "",
                             const std::string& source = "unit") {
  std::string line = "{";
  if (!id.empty()) line += "\"id\":\"" + id + "\",";
  line += "\"kind\":\"pair\",\"source\":\"" + source +
          "\",\"context\":[{\"role\":\"user\",\"content\":\"question " + std::to_string(idx) +
          "\"}],\"chosen\":{\"content\":\"good answer " + std::to_string(idx) +
          "\"},\"rejected\":{\"content\":\"bad answer " + std::to_string(idx) + "\"}";
  if (!category.empty()) line += ",\"attributes\":{\"task_category\":\"" + category + "\"}";
  return line + "}\n";
}

// n distinct pairs in categories math/code/chat (round robin), then every 10th repeated (a
// duplicate), then one unparsable line: n pairs, n/10 duplicates (rounded up), 1 reject.
inline std::string make_pool(int n, const std::string& source = "unit") {
  static const char* kCategories[] = {"math", "code", "chat"};
  std::string text;
  for (int idx = 0; idx < n; ++idx) text += pool_line(idx, kCategories[idx % 3], "", source);
  for (int idx = 0; idx < n; idx += 10) text += pool_line(idx, kCategories[idx % 3], "", source);
  text += "{not json\n";
  return text;
}

// Every table of the db, each row as text, rows sorted; columns holding wall-clock times
// (time, started, ended) are left out. Two projects built from the same inputs by the same
// writes have equal dumps however often their writers were killed.
inline std::string dump_db(const std::string& db_path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return "<cannot open>";
  std::vector<std::string> tables;
  sqlite3_stmt* list = nullptr;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1, &list,
                     nullptr);
  while (sqlite3_step(list) == SQLITE_ROW)
    tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(list, 0)));
  sqlite3_finalize(list);
  static const std::set<std::string> kTimeColumns = {"time", "started", "ended"};
  std::string dump;
  for (const auto& table : tables) {
    sqlite3_stmt* rows = nullptr;
    sqlite3_prepare_v2(db, ("SELECT * FROM \"" + table + "\"").c_str(), -1, &rows, nullptr);
    std::vector<std::string> lines;
    while (sqlite3_step(rows) == SQLITE_ROW) {
      std::string line;
      for (int col = 0; col < sqlite3_column_count(rows); ++col) {
        if (kTimeColumns.count(sqlite3_column_name(rows, col))) continue;
        const unsigned char* text = sqlite3_column_text(rows, col);
        line += std::string(sqlite3_column_name(rows, col)) + "=";
        if (sqlite3_column_type(rows, col) == SQLITE_BLOB)
          line += "<blob " +
                  std::to_string(std::hash<std::string>()(
                      std::string(static_cast<const char*>(sqlite3_column_blob(rows, col)),
                                  sqlite3_column_bytes(rows, col)))) +
                  ">";
        else
          line += text ? reinterpret_cast<const char*>(text) : "NULL";
        line += "|";
      }
      lines.push_back(line);
    }
    sqlite3_finalize(rows);
    std::sort(lines.begin(), lines.end());
    dump += "== " + table + " (" + std::to_string(lines.size()) + " rows)\n";
    for (const auto& line : lines) dump += line + "\n";
  }
  sqlite3_close(db);
  return dump;
}

// The db dump plus every file of the project folder but the db itself (byte for byte).
inline std::string dump_project(const std::string& dir) {
  std::string dump = dump_db(dir + "/project.db");
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file() || name.rfind("project.db", 0) == 0) continue;
    files.push_back(std::filesystem::relative(entry.path(), dir).string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) dump += "== file " + file + "\n" + slurp(dir + "/" + file) + "\n";
  return dump;
}

// "" when the dumps are equal, else the first differing line of each (gtest's full diff of two
// multi-megabyte dumps would take hours).
inline std::string first_difference(const std::string& got, const std::string& want) {
  if (got == want) return "";
  std::istringstream got_lines(got), want_lines(want);
  std::string got_line, want_line;
  for (int line_no = 1;; ++line_no) {
    bool has_got = static_cast<bool>(std::getline(got_lines, got_line));
    bool has_want = static_cast<bool>(std::getline(want_lines, want_line));
    if (!has_got) got_line = "<end>";
    if (!has_want) want_line = "<end>";
    if (got_line != want_line || !has_got || !has_want)
      return "line " + std::to_string(line_no) + ": got '" + got_line.substr(0, 300) + "', want '" +
             want_line.substr(0, 300) + "'";
  }
}

}  // namespace synpref::testing
