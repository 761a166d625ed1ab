#include "synpref/tokenizer/train.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "pretokenizer.h"
#include "synpref/common/io.h"

namespace synpref::tokenizer {

namespace {

// GPT-2's byte -> printable code point table (the ByteLevel alphabet), as UTF-8 strings.
std::vector<std::string> byte_alphabet() {
  std::vector<int> bs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  std::vector<int> cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  std::vector<std::string> out(256);
  for (size_t i = 0; i < bs.size(); ++i) {
    int cp = cs[i];
    std::string u;
    if (cp < 0x80) {
      u.push_back(static_cast<char>(cp));
    } else {
      u.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      u.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    out[static_cast<size_t>(bs[i])] = u;
  }
  return out;
}

const char* kChatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

}  // namespace

Status train_bpe_tokenizer(const std::vector<std::string_view>& texts, const BpeTrainOptions& options,
                           const std::string& dir) {
  if (options.vocab_size < 256)
    return invalid_argument("vocab_size must be at least 256 (the byte alphabet)");
  SP_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::from_pattern(std::string(kQwenPattern)));
  // Piece frequencies; each piece is a sequence of symbol ids (bytes first).
  std::unordered_map<std::string, uint64_t> piece_freq;
  for (std::string_view text : texts) {
    pre.split(text, [&](size_t b, size_t e) { ++piece_freq[std::string(text.substr(b, e - b))]; });
  }
  std::vector<std::string> symbols(256);  // symbol id -> its bytes
  for (int b = 0; b < 256; ++b) symbols[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  struct Word {
    std::vector<int> syms;
    uint64_t freq;
  };
  std::vector<Word> words;
  words.reserve(piece_freq.size());
  for (auto& [piece, freq] : piece_freq) {
    Word w{{}, freq};
    for (unsigned char c : piece) w.syms.push_back(c);
    words.push_back(std::move(w));
  }
  // Sorted for determinism (unordered_map order is not).
  std::sort(words.begin(), words.end(), [](const Word& a, const Word& b) { return a.syms < b.syms; });
  std::vector<std::pair<int, int>> merges;
  while (static_cast<int>(symbols.size()) < options.vocab_size) {
    std::map<std::pair<int, int>, uint64_t> counts;
    for (const Word& w : words)
      for (size_t i = 0; i + 1 < w.syms.size(); ++i) counts[{w.syms[i], w.syms[i + 1]}] += w.freq;
    std::pair<int, int> best{-1, -1};
    uint64_t best_count = 0;
    std::string best_bytes;
    for (auto& [pair, count] : counts) {
      std::string bytes =
          symbols[static_cast<size_t>(pair.first)] + symbols[static_cast<size_t>(pair.second)];
      if (count > best_count || (count == best_count && bytes < best_bytes)) {
        best = pair;
        best_count = count;
        best_bytes = bytes;
      }
    }
    if (best.first < 0 || best_count < static_cast<uint64_t>(options.min_frequency)) break;
    // Two pairs can spell the same bytes ("a"+"bc", "ab"+"c"): the later merge maps to the
    // existing token, as HF's BPE model does (a merge's result is looked up by its string).
    auto existing = std::find(symbols.begin(), symbols.end(), best_bytes);
    int new_id = static_cast<int>(existing - symbols.begin());
    if (existing == symbols.end()) symbols.push_back(best_bytes);
    merges.push_back(best);
    if (merges.size() > static_cast<size_t>(options.vocab_size) * 2) break;
    for (Word& w : words) {
      std::vector<int> out;
      out.reserve(w.syms.size());
      for (size_t i = 0; i < w.syms.size(); ++i) {
        if (i + 1 < w.syms.size() && w.syms[i] == best.first && w.syms[i + 1] == best.second) {
          out.push_back(new_id);
          ++i;
        } else {
          out.push_back(w.syms[i]);
        }
      }
      w.syms.swap(out);
    }
  }
  // HF form: every symbol's bytes in the ByteLevel alphabet.
  const auto alphabet = byte_alphabet();
  auto visible = [&](const std::string& bytes) {
    std::string s;
    for (unsigned char c : bytes) s += alphabet[c];
    return s;
  };
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  // Byte symbols are ordered by their ByteLevel character, as GPT-2-style vocabularies are; ids
  // are assigned in that order and merges follow.
  for (size_t id = 0; id < symbols.size(); ++id) vocab[visible(symbols[id])] = static_cast<int>(id);
  nlohmann::ordered_json merge_list = nlohmann::ordered_json::array();
  for (auto& [a, b] : merges)
    merge_list.push_back(visible(symbols[static_cast<size_t>(a)]) + " " +
                         visible(symbols[static_cast<size_t>(b)]));
  const int base = static_cast<int>(symbols.size());
  const char* specials[] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  nlohmann::ordered_json added_decoder = nlohmann::ordered_json::object();
  for (int i = 0; i < 3; ++i) {
    nlohmann::ordered_json t = {{"id", base + i},  {"content", specials[i]}, {"single_word", false},
                                {"lstrip", false}, {"rstrip", false},        {"normalized", false},
                                {"special", true}};
    added.push_back(t);
    t.erase("id");
    added_decoder[std::to_string(base + i)] = t;
  }
  nlohmann::ordered_json byte_level = {
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}};
  nlohmann::ordered_json tok = {{"version", "1.0"},
                                {"truncation", nullptr},
                                {"padding", nullptr},
                                {"added_tokens", added},
                                {"normalizer", {{"type", "NFC"}}},
                                {"pre_tokenizer",
                                 {{"type", "Sequence"},
                                  {"pretokenizers",
                                   {{{"type", "Split"},
                                     {"pattern", {{"Regex", std::string(kQwenPattern)}}},
                                     {"behavior", "Isolated"},
                                     {"invert", false}},
                                    byte_level}}}},
                                {"post_processor", byte_level},
                                {"decoder", byte_level},
                                {"model",
                                 {{"type", "BPE"},
                                  {"dropout", nullptr},
                                  {"unk_token", nullptr},
                                  {"continuing_subword_prefix", ""},
                                  {"end_of_word_suffix", ""},
                                  {"fuse_unk", false},
                                  {"byte_fallback", false},
                                  {"ignore_merges", false},
                                  {"vocab", vocab},
                                  {"merges", merge_list}}}};
  nlohmann::ordered_json config = {{"add_bos_token", false},
                                   {"added_tokens_decoder", added_decoder},
                                   {"bos_token", nullptr},
                                   {"chat_template", kChatTemplate},
                                   {"clean_up_tokenization_spaces", false},
                                   {"eos_token", "<|im_end|>"},
                                   {"model_max_length", 32768},
                                   {"pad_token", "<|endoftext|>"},
                                   {"tokenizer_class", "Qwen2Tokenizer"},
                                   {"unk_token", nullptr}};
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error(dir + ": cannot create folder: " + ec.message());
  for (auto& [name, json] :
       {std::pair{"tokenizer.json", &tok}, std::pair{"tokenizer_config.json", &config}}) {
    SP_ASSIGN_OR_RETURN(auto w, io::Writer::open(dir + "/" + name));
    w->append(json->dump(2));
    w->append("\n");
    SP_RETURN_IF_ERROR(w->close());
  }
  return Status::ok();
}

}  // namespace synpref::tokenizer
