// Loading tokenizers: HF tokenizer.json (+ tokenizer_config.json) and tiktoken tokenizer.model.
#include <simdjson.h>

#include <nlohmann/json.hpp>

#include <array>
#include <charconv>
#include <filesystem>

#include "common/json.h"
#include "synpref/common/io.h"
#include "tokenizer_impl.h"

namespace synpref::tokenizer {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

std::string quote(std::string_view s) {
  std::string out = "'";
  out.append(s.substr(0, 200));
  if (s.size() > 200) out += "...";
  return out + "'";
}

Status parse_error(const std::string& name, simdjson::error_code err) {
  return data_error(name + ": not valid JSON (" + simdjson::error_message(err) +
                    "); the file is truncated or corrupt: fetch it again");
}

// An optional boolean field (absent or null = fallback); errors name `where` and the field.
Result<bool> bool_field(const object& obj, std::string_view key, bool fallback, const std::string& where) {
  auto value = json::get_optional_bool(obj, key, json::RecordWhere{});
  if (!value.is_ok()) return value.status().with_context(where);
  return value->value_or(fallback);
}

// An optional string field (absent or null = ""); a value of another type is an error.
Result<std::string> string_field(const object& obj, std::string_view key, const std::string& where) {
  auto value = json::get_optional_string(obj, key, json::RecordWhere{}, "");
  if (!value.is_ok()) return value.status().with_context(where);
  return std::string(value->value_or(""));
}

// ---- normalizer ----

Status parse_normalizer(Tokenizer::Impl& impl, element node, const std::string& where) {
  if (node.is_null()) return Status::ok();
  object obj;
  if (node.get(obj) != simdjson::SUCCESS) return data_error(where + " must be an object or null");
  SP_ASSIGN_OR_RETURN(const std::string type, string_field(obj, "type", where));
  using unicode::NormalForm;
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    impl.normal_forms.push_back(type == "NFC"    ? NormalForm::nfc
                                : type == "NFD"  ? NormalForm::nfd
                                : type == "NFKC" ? NormalForm::nfkc
                                                 : NormalForm::nfkd);
    impl.normalizer_desc += type + ";";
    return Status::ok();
  }
  if (type == "Sequence") {
    array list;
    if (obj["normalizers"].get(list) != simdjson::SUCCESS)
      return data_error(where + ".normalizers must be an array");
    size_t i = 0;
    for (element child : list)
      SP_RETURN_IF_ERROR(parse_normalizer(impl, child, where + ".normalizers[" + std::to_string(i++) + "]"));
    return Status::ok();
  }
  return unsupported(where + ": normalizer type " + quote(type) +
                     " is not supported (supported: NFC, NFD, NFKC, NFKD and Sequence of them)");
}

// ---- pre-tokenizer ----

struct PreTokenizerSpec {
  std::optional<std::string> pattern;
  bool byte_level = false;
};

Status parse_pre_tokenizer(PreTokenizerSpec& spec, element node, const std::string& where) {
  if (node.is_null()) return unsupported(where + " is null; synpref needs a byte-level pre-tokenizer");
  object obj;
  if (node.get(obj) != simdjson::SUCCESS) return data_error(where + " must be an object");
  SP_ASSIGN_OR_RETURN(const std::string type, string_field(obj, "type", where));
  if (type == "Sequence") {
    array list;
    if (obj["pretokenizers"].get(list) != simdjson::SUCCESS)
      return data_error(where + ".pretokenizers must be an array");
    size_t i = 0;
    for (element child : list)
      SP_RETURN_IF_ERROR(
          parse_pre_tokenizer(spec, child, where + ".pretokenizers[" + std::to_string(i++) + "]"));
    return Status::ok();
  }
  if (type == "Split") {
    std::string_view regex;
    if (obj["pattern"]["Regex"].get(regex) != simdjson::SUCCESS)
      return unsupported(where + ": only Split with a {\"Regex\": ...} pattern is supported");
    SP_ASSIGN_OR_RETURN(const std::string behavior, string_field(obj, "behavior", where));
    if (behavior != "Isolated")
      return unsupported(where + ": Split behavior " + quote(behavior) + " is not supported (only Isolated)");
    SP_ASSIGN_OR_RETURN(bool invert, bool_field(obj, "invert", false, where));
    if (invert) return unsupported(where + ": Split with invert=true is not supported");
    if (spec.pattern) return unsupported(where + ": more than one regex split is not supported");
    spec.pattern = std::string(regex);
    return Status::ok();
  }
  if (type == "ByteLevel") {
    SP_ASSIGN_OR_RETURN(bool add_prefix_space, bool_field(obj, "add_prefix_space", true, where));
    SP_ASSIGN_OR_RETURN(bool use_regex, bool_field(obj, "use_regex", true, where));
    if (add_prefix_space) return unsupported(where + ": ByteLevel add_prefix_space=true is not supported");
    if (use_regex) {
      if (spec.pattern)
        return unsupported(where + ": ByteLevel use_regex=true after a regex split is not supported");
      spec.pattern = std::string(kGpt2Pattern);
    }
    spec.byte_level = true;
    return Status::ok();
  }
  return unsupported(where + ": pre-tokenizer type " + quote(type) +
                     " is not supported (supported: Sequence, Split(Regex, Isolated), ByteLevel)");
}

// ---- post-processor ----

Status parse_post_processor(Tokenizer::Impl& impl, element node, const std::string& where) {
  if (node.is_null()) return Status::ok();
  object obj;
  if (node.get(obj) != simdjson::SUCCESS) return data_error(where + " must be an object or null");
  SP_ASSIGN_OR_RETURN(const std::string type, string_field(obj, "type", where));
  if (type == "ByteLevel") return Status::ok();  // only adjusts offsets
  if (type == "Sequence") {
    array list;
    if (obj["processors"].get(list) != simdjson::SUCCESS)
      return data_error(where + ".processors must be an array");
    size_t i = 0;
    for (element child : list)
      SP_RETURN_IF_ERROR(
          parse_post_processor(impl, child, where + ".processors[" + std::to_string(i++) + "]"));
    return Status::ok();
  }
  if (type == "TemplateProcessing") {
    array single;
    if (obj["single"].get(single) != simdjson::SUCCESS) return data_error(where + ".single must be an array");
    object specials;
    if (obj["special_tokens"].get(specials) != simdjson::SUCCESS)
      return data_error(where + ".special_tokens must be an object");
    bool seen_sequence = false;
    size_t i = 0;
    for (element item : single) {
      const std::string at = where + ".single[" + std::to_string(i++) + "]";
      object piece;
      if (item.get(piece) != simdjson::SUCCESS) return data_error(at + " must be an object");
      object special;
      if (piece["Sequence"].get(special) == simdjson::SUCCESS) {
        if (seen_sequence) return unsupported(at + ": more than one Sequence in a single template");
        seen_sequence = true;
        continue;
      }
      if (piece["SpecialToken"].get(special) != simdjson::SUCCESS)
        return data_error(at + " must hold SpecialToken or Sequence");
      SP_ASSIGN_OR_RETURN(const std::string name, string_field(special, "id", at));
      array ids;
      if (specials[name]["ids"].get(ids) != simdjson::SUCCESS)
        return data_error(at + ": special token " + quote(name) + " is missing from special_tokens");
      for (element id_value : ids) {
        int64_t id = 0;
        if (id_value.get(id) != simdjson::SUCCESS || id < 0 || id > INT32_MAX)
          return data_error(at + ": special_tokens[" + quote(name) + "].ids must hold non-negative integers");
        (seen_sequence ? impl.post_suffix : impl.post_prefix).push_back(static_cast<int32_t>(id));
      }
    }
    return Status::ok();
  }
  return unsupported(where + ": post-processor type " + quote(type) +
                     " is not supported (supported: ByteLevel, TemplateProcessing, Sequence)");
}

Status check_decoder(element node, const std::string& where) {
  if (node.is_null()) return Status::ok();
  object obj;
  if (node.get(obj) != simdjson::SUCCESS) return data_error(where + " must be an object or null");
  SP_ASSIGN_OR_RETURN(const std::string type, string_field(obj, "type", where));
  if (type == "ByteLevel") return Status::ok();
  if (type == "Sequence") {
    array list;
    if (obj["decoders"].get(list) != simdjson::SUCCESS)
      return data_error(where + ".decoders must be an array");
    size_t i = 0;
    for (element child : list)
      SP_RETURN_IF_ERROR(check_decoder(child, where + ".decoders[" + std::to_string(i++) + "]"));
    return Status::ok();
  }
  return unsupported(where + ": decoder type " + quote(type) + " is not supported (only ByteLevel)");
}

// ---- tokenizer_config.json ----

// bos_token etc. are a string, an AddedToken object {"content": ...}, or null.
std::string config_token(const nlohmann::json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string())
    return value["content"].get<std::string>();
  return {};
}

// tokenizer_config.json is parsed with nlohmann::json: real files hold integers beyond 64 bits
// (model_max_length 1e30) that simdjson rejects.
Status apply_config(Tokenizer::Impl& impl, std::string_view config_json, const std::string& name) {
  if (config_json.empty()) return Status::ok();
  const nlohmann::json config = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (config.is_discarded())
    return data_error(name + ": not valid JSON; the file is truncated or corrupt: fetch it again");
  if (!config.is_object()) return data_error(name + ": top level must be an object");
  auto resolve = [&](const char* key, std::string& token, std::optional<int32_t>& id) -> Status {
    if (!config.contains(key)) return Status::ok();  // absent: keep the default
    token = config_token(config[key]);
    id.reset();
    if (token.empty()) return Status::ok();
    const int32_t found = impl.string_to_id.find(token);
    if (found < 0)
      return data_error(name + ": " + key + " " + quote(token) + " is not a token of the tokenizer");
    id = found;
    return Status::ok();
  };
  SP_RETURN_IF_ERROR(resolve("bos_token", impl.bos_token, impl.bos_id));
  SP_RETURN_IF_ERROR(resolve("eos_token", impl.eos_token, impl.eos_id));
  SP_RETURN_IF_ERROR(resolve("pad_token", impl.pad_token, impl.pad_id));
  if (config.contains("chat_template")) {
    const nlohmann::json& tmpl = config["chat_template"];
    if (tmpl.is_string()) {
      impl.chat_template = tmpl.get<std::string>();
    } else if (tmpl.is_array()) {
      // [{"name": "default", "template": "..."}, ...]: the default one, else the first.
      for (const nlohmann::json& entry : tmpl) {
        if (!entry.is_object() || !entry.contains("template") || !entry["template"].is_string()) continue;
        if (entry.value("name", std::string()) == "default") {
          impl.chat_template = entry["template"].get<std::string>();
          break;
        }
        if (impl.chat_template.empty()) impl.chat_template = entry["template"].get<std::string>();
      }
    } else if (!tmpl.is_null()) {
      return data_error(name + ": chat_template must be a string or a list of {name, template}");
    }
  }
  return Status::ok();
}

// ---- base64 (tokenizer.model) ----

bool base64_decode(std::string_view in, std::string& out) {
  static const auto table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  if (in.empty() || in.size() % 4 != 0) return false;
  size_t padding = 0;
  if (in.back() == '=') ++padding;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++padding;
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      const char c = in[i + k];
      int8_t d = 0;
      if (c == '=') {
        if (i + k < in.size() - padding) return false;
      } else {
        d = table[static_cast<uint8_t>(c)];
        if (d < 0) return false;
      }
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    out.push_back(static_cast<char>(v >> 16));
    if (i + 4 < in.size() || padding < 2) out.push_back(static_cast<char>((v >> 8) & 0xFF));
    if (i + 4 < in.size() || padding < 1) out.push_back(static_cast<char>(v & 0xFF));
  }
  return true;
}

void set_vocab_token(Tokenizer::Impl& impl, int32_t id, std::string raw) {
  if (static_cast<size_t>(id) >= impl.token_raw.size()) {
    impl.token_raw.resize(static_cast<size_t>(id) + 1);
    impl.id_kind.resize(static_cast<size_t>(id) + 1, 0);
  }
  if (raw.size() == 1) impl.bpe.byte_id[static_cast<uint8_t>(raw[0])] = id;
  impl.token_raw[id] = std::move(raw);
  impl.id_kind[id] = 1;
}

// ---- tokenizer.json ----

using ImplPtr = std::shared_ptr<Tokenizer::Impl>;

Result<ImplPtr> load_json_impl(std::string_view tokenizer_json, std::string_view config_json,
                               const std::string& name) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(tokenizer_json);
  element root_element;
  if (auto err = parser.parse(padded).get(root_element)) return parse_error(name, err);
  object root;
  if (root_element.get(root) != simdjson::SUCCESS) return data_error(name + ": top level must be an object");
  auto impl = std::make_shared<Tokenizer::Impl>();
  std::fill(std::begin(impl->bpe.byte_id), std::end(impl->bpe.byte_id), -1);
  impl->source_format = "tokenizer.json";

  object model;
  if (root["model"].get(model) != simdjson::SUCCESS) return data_error(name + ": missing object 'model'");
  SP_ASSIGN_OR_RETURN(const std::string type, string_field(model, "type", name + ": model"));
  if (!type.empty() && type != "BPE")
    return unsupported(name + ": model.type " + quote(type) + " is not supported (only byte-level BPE)");
  SP_ASSIGN_OR_RETURN(bool byte_fallback, bool_field(model, "byte_fallback", false, name + ": model"));
  if (byte_fallback)
    return unsupported(name + ": model.byte_fallback=true is not supported (byte-level BPE has no fallback)");
  SP_ASSIGN_OR_RETURN(const std::string subword_prefix,
                      string_field(model, "continuing_subword_prefix", name + ": model"));
  SP_ASSIGN_OR_RETURN(const std::string word_suffix,
                      string_field(model, "end_of_word_suffix", name + ": model"));
  if (!subword_prefix.empty() || !word_suffix.empty())
    return unsupported(name + ": model.continuing_subword_prefix / end_of_word_suffix are not supported");
  SP_ASSIGN_OR_RETURN(impl->bpe.ignore_merges, bool_field(model, "ignore_merges", false, name + ": model"));

  object vocab;
  if (model["vocab"].get(vocab) != simdjson::SUCCESS)
    return data_error(name + ": missing object 'model.vocab'");
  impl->bpe.vocab.reserve(vocab.size());
  for (auto field : vocab) {
    int64_t id = 0;
    if (field.value.get(id) != simdjson::SUCCESS || id < 0 || id >= INT32_MAX)
      return data_error(name + ": model.vocab[" + quote(field.key) + "] must be a non-negative integer id");
    std::string raw;
    if (!byte_level_decode(field.key, raw) || raw.empty())
      return unsupported(name + ": model.vocab token " + quote(field.key) + " (id " + std::to_string(id) +
                         ") is not byte-level encoded; only byte-level BPE tokenizers are supported");
    if (!impl->bpe.vocab.insert(raw, static_cast<int32_t>(id)))
      return data_error(name + ": model.vocab token " + quote(field.key) + " appears twice");
    set_vocab_token(*impl, static_cast<int32_t>(id), std::move(raw));
  }

  array merges;
  if (model["merges"].get(merges) != simdjson::SUCCESS)
    return data_error(name + ": missing array 'model.merges'");
  impl->bpe.pairs.reserve(merges.size());
  uint32_t rank = 0;
  std::string left_raw, right_raw;
  for (element merge : merges) {
    const std::string at = name + ": model.merges[" + std::to_string(rank) + "]";
    std::string_view left, right, line;
    array pair;
    if (merge.get(line) == simdjson::SUCCESS) {
      const size_t space = line.find(' ');
      if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
        return data_error(at + ": " + quote(line) + " must be two tokens separated by one space");
      left = line.substr(0, space);
      right = line.substr(space + 1);
    } else if (merge.get(pair) == simdjson::SUCCESS && pair.size() == 2 &&
               pair.at(0).get(left) == simdjson::SUCCESS && pair.at(1).get(right) == simdjson::SUCCESS) {
    } else {
      return data_error(at + " must be \"a b\" or [\"a\", \"b\"]");
    }
    left_raw.clear();
    right_raw.clear();
    if (!byte_level_decode(left, left_raw) || !byte_level_decode(right, right_raw))
      return data_error(at + ": " + quote(left) + " / " + quote(right) + " is not byte-level encoded");
    const int32_t left_id = impl->bpe.vocab.find(left_raw), right_id = impl->bpe.vocab.find(right_raw);
    const int32_t merged_id = impl->bpe.vocab.find(left_raw + right_raw);
    if (left_id < 0 || right_id < 0 || merged_id < 0)
      return data_error(at + ": " + quote(std::string(left) + " " + std::string(right)) +
                        " uses or makes a token missing from model.vocab");
    impl->bpe.pairs.insert(left_id, right_id, rank, merged_id);
    ++rank;
  }

  array added;
  if (root["added_tokens"].get(added) == simdjson::SUCCESS) {
    size_t i = 0;
    for (element entry : added) {
      const std::string at = name + ": added_tokens[" + std::to_string(i++) + "]";
      object obj;
      if (entry.get(obj) != simdjson::SUCCESS) return data_error(at + " must be an object");
      AddedToken token;
      int64_t id = 0;
      std::string_view content;
      if (obj["id"].get(id) != simdjson::SUCCESS || id < 0 || id >= INT32_MAX)
        return data_error(at + ".id must be a non-negative integer");
      if (obj["content"].get(content) != simdjson::SUCCESS || content.empty())
        return data_error(at + ".content must be a non-empty string");
      token.id = static_cast<int32_t>(id);
      token.content = std::string(content);
      SP_ASSIGN_OR_RETURN(token.special, bool_field(obj, "special", false, at));
      SP_ASSIGN_OR_RETURN(token.lstrip, bool_field(obj, "lstrip", false, at));
      SP_ASSIGN_OR_RETURN(token.rstrip, bool_field(obj, "rstrip", false, at));
      SP_ASSIGN_OR_RETURN(token.single_word, bool_field(obj, "single_word", false, at));
      SP_ASSIGN_OR_RETURN(token.normalized, bool_field(obj, "normalized", !token.special, at));
      impl->added.push_back(std::move(token));
    }
  }

  element node;
  if (root["normalizer"].get(node) == simdjson::SUCCESS)
    SP_RETURN_IF_ERROR(parse_normalizer(*impl, node, name + ": normalizer"));
  PreTokenizerSpec spec;
  if (root["pre_tokenizer"].get(node) != simdjson::SUCCESS)
    return data_error(name + ": missing 'pre_tokenizer'");
  SP_RETURN_IF_ERROR(parse_pre_tokenizer(spec, node, name + ": pre_tokenizer"));
  if (!spec.byte_level)
    return unsupported(name + ": pre_tokenizer has no ByteLevel step; only byte-level BPE is supported");
  if (!spec.pattern) return unsupported(name + ": pre_tokenizer has no regex split");
  SP_ASSIGN_OR_RETURN(impl->pre, PreTokenizer::from_pattern(*spec.pattern));
  if (root["post_processor"].get(node) == simdjson::SUCCESS)
    SP_RETURN_IF_ERROR(parse_post_processor(*impl, node, name + ": post_processor"));
  if (root["decoder"].get(node) == simdjson::SUCCESS)
    SP_RETURN_IF_ERROR(check_decoder(node, name + ": decoder"));

  SP_RETURN_IF_ERROR(finish_tokenizer(*impl, name));
  const std::string config_name = name.size() >= 14 && name.ends_with("tokenizer.json")
                                      ? name.substr(0, name.size() - 14) + "tokenizer_config.json"
                                      : name + " (config)";
  SP_RETURN_IF_ERROR(apply_config(*impl, config_json, config_name));
  return impl;
}

// ---- tokenizer.model ----

Result<ImplPtr> load_model_impl(std::string_view model_text, std::string_view config_json,
                                const std::string& name) {
  auto impl = std::make_shared<Tokenizer::Impl>();
  std::fill(std::begin(impl->bpe.byte_id), std::end(impl->bpe.byte_id), -1);
  impl->source_format = "tokenizer.model";
  impl->bpe.ignore_merges = true;  // tiktoken returns a piece found in the ranks as is
  size_t line_no = 0, pos = 0;
  std::string raw;
  while (pos < model_text.size()) {
    size_t end = model_text.find('\n', pos);
    if (end == std::string_view::npos) end = model_text.size();
    std::string_view line = model_text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string at = name + ":" + std::to_string(line_no);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos)
      return data_error(at + ": expected '<base64 token> <rank>', got " + quote(line));
    int64_t rank = -1;
    const std::string_view rank_text = line.substr(space + 1);
    auto [ptr, ec] = std::from_chars(rank_text.data(), rank_text.data() + rank_text.size(), rank);
    if (ec != std::errc() || ptr != rank_text.data() + rank_text.size() || rank < 0 || rank >= INT32_MAX)
      return data_error(at + ": rank " + quote(rank_text) + " is not a non-negative integer");
    raw.clear();
    if (!base64_decode(line.substr(0, space), raw))
      return data_error(at + ": token " + quote(line.substr(0, space)) + " is not valid base64");
    if (!impl->bpe.vocab.insert(raw, static_cast<int32_t>(rank))) return data_error(at + ": duplicate token");
    if (static_cast<size_t>(rank) < impl->id_kind.size() && impl->id_kind[rank] != 0)
      return data_error(at + ": duplicate rank " + std::to_string(rank));
    set_vocab_token(*impl, static_cast<int32_t>(rank), raw);
  }
  const size_t n_base = impl->bpe.vocab.size();
  if (n_base == 0) return data_error(name + ": no tokens (empty file?)");
  if (impl->id_kind.size() != n_base)
    return data_error(name + ": ranks are not 0.." + std::to_string(n_base - 1) + " (largest rank " +
                      std::to_string(impl->id_kind.size() - 1) + ")");
  for (int b = 0; b < 256; ++b)
    if (impl->bpe.byte_id[b] < 0) return data_error(name + ": byte " + std::to_string(b) + " has no token");

  // tiktoken merges any adjacent pair whose concatenation is a token, lowest rank first: every
  // split of a token into two tokens is a merge ranked by the token's rank.
  impl->bpe.pairs.reserve(n_base * 3);
  for (size_t id = 0; id < n_base; ++id) {
    const std::string& bytes = impl->token_raw[id];
    for (size_t k = 1; k < bytes.size(); ++k) {
      const int32_t left = impl->bpe.vocab.find(std::string_view(bytes).substr(0, k));
      if (left < 0) continue;
      const int32_t right = impl->bpe.vocab.find(std::string_view(bytes).substr(k));
      if (right < 0) continue;
      impl->bpe.pairs.insert(left, right, static_cast<uint32_t>(id), static_cast<int32_t>(id));
    }
  }

  // Meta's Llama 3.1 special tokens (llama-models models/llama3/tokenizer.py, as in HF
  // Llama-3.1 tokenizer.json), appended after the last rank.
  std::vector<std::string> specials = {"<|begin_of_text|>",
                                       "<|end_of_text|>",
                                       "<|reserved_special_token_0|>",
                                       "<|reserved_special_token_1|>",
                                       "<|finetune_right_pad_id|>",
                                       "<|reserved_special_token_2|>",
                                       "<|start_header_id|>",
                                       "<|end_header_id|>",
                                       "<|eom_id|>",
                                       "<|eot_id|>",
                                       "<|python_tag|>"};
  for (int i = 3; specials.size() < 256; ++i)
    specials.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  for (size_t i = 0; i < specials.size(); ++i) {
    AddedToken token;
    token.id = static_cast<int32_t>(n_base + i);
    token.content = specials[i];
    token.special = true;
    impl->added.push_back(std::move(token));
  }
  SP_ASSIGN_OR_RETURN(impl->pre, PreTokenizer::from_pattern(std::string(kLlama3Pattern)));
  impl->post_prefix = {static_cast<int32_t>(n_base)};  // <|begin_of_text|>, as HF's Llama 3 post-processor
  SP_RETURN_IF_ERROR(finish_tokenizer(*impl, name));
  impl->bos_token = specials[0];
  impl->bos_id = static_cast<int32_t>(n_base);
  impl->eos_token = specials[1];
  impl->eos_id = static_cast<int32_t>(n_base + 1);
  impl->pad_token = specials[4];
  impl->pad_id = static_cast<int32_t>(n_base + 4);
  SP_RETURN_IF_ERROR(apply_config(*impl, config_json, name + " (tokenizer_config.json)"));
  return impl;
}

}  // namespace

Result<Tokenizer> load_tokenizer_json(std::string_view tokenizer_json, std::string_view config_json,
                                      const std::string& name) {
  SP_ASSIGN_OR_RETURN(ImplPtr impl, load_json_impl(tokenizer_json, config_json, name));
  return Tokenizer(std::move(impl));
}

Result<Tokenizer> load_tiktoken_model(std::string_view model_text, std::string_view config_json,
                                      const std::string& name) {
  SP_ASSIGN_OR_RETURN(ImplPtr impl, load_model_impl(model_text, config_json, name));
  return Tokenizer(std::move(impl));
}

namespace {

// Tokenizer files must be regular files (a FIFO would block the read forever).
Result<std::string> read_tokenizer_file(const std::filesystem::path& path, uint64_t max_bytes) {
  SP_RETURN_IF_ERROR(require_regular_file(path.string()));
  return io::read_file(path.string(), max_bytes);
}

}  // namespace

Result<Tokenizer> load_tokenizer(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path base(dir);
  std::error_code ec;
  if (!fs::is_directory(base, ec))
    return not_found(dir + ": not a directory (expected a folder holding tokenizer.json or tokenizer.model)");
  std::string config;
  const fs::path config_path = base / "tokenizer_config.json";
  if (fs::exists(config_path, ec)) {
    SP_ASSIGN_OR_RETURN(config, read_tokenizer_file(config_path, uint64_t{64} << 20));
  }
  const fs::path json_path = base / "tokenizer.json", model_path = base / "tokenizer.model";
  ImplPtr impl;
  if (fs::exists(json_path, ec)) {
    SP_ASSIGN_OR_RETURN(std::string json, read_tokenizer_file(json_path, uint64_t{1} << 30));
    SP_ASSIGN_OR_RETURN(impl, load_json_impl(json, config, json_path.string()));
  } else if (fs::exists(model_path, ec)) {
    SP_ASSIGN_OR_RETURN(std::string text, read_tokenizer_file(model_path, uint64_t{1} << 30));
    SP_ASSIGN_OR_RETURN(impl, load_model_impl(text, config, model_path.string()));
  } else {
    return not_found(dir + ": holds neither tokenizer.json nor tokenizer.model");
  }
  impl->source_dir = dir;
  if (impl->chat_template.empty()) {
    const fs::path jinja = base / "chat_template.jinja";
    if (fs::exists(jinja, ec)) {
      SP_ASSIGN_OR_RETURN(impl->chat_template, read_tokenizer_file(jinja, uint64_t{16} << 20));
    }
  }
  return Tokenizer(std::move(impl));
}

}  // namespace synpref::tokenizer
