// synpref.RewardModel: score::Scorer (synpref/score/scorer.h) from Python. Every method builds
// score::Items and calls Scorer::score_items, the path `synpref score` and `synpref eval --model`
// take, so scores are the CLI's bit for bit (the engine is batch- and prefix-invariant).
#include "reward_model.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "bindings.h"
#include "synpref/data/reader.h"
#include "synpref/model/model.h"
#include "tokenizer_object.h"

namespace synpref::python {

std::unique_ptr<PyRewardModel> PyRewardModel::open(const score::ScorerOptions& options) {
  Result<std::unique_ptr<score::Scorer>> scorer = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    scorer = score::Scorer::open(options);
  }
  return std::unique_ptr<PyRewardModel>(new PyRewardModel(unwrap(std::move(scorer))));
}

score::ItemResults PyRewardModel::score_items(std::span<const score::Item> items) {
  Result<score::ItemResults> results = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    std::lock_guard lock(mutex_);
    results = score::score_all(*scorer_, items);
    if (results.is_ok()) last_stats_ = results->stats;
  }
  return unwrap(std::move(results));
}

py::dict stats_to_dict(const score::ScoreStats& s) {
  py::dict d;
  d["records"] = s.records;
  d["scored"] = s.scored;
  d["resumed"] = s.resumed;
  d["skipped_over_max_length"] = s.skipped_too_long;
  d["truncated"] = s.truncated;
  d["rejected"] = s.rejected;
  d["rejects_file"] = s.rejects_path;
  d["pairs"] = s.pairs;
  d["pair_accuracy"] = s.pair_accuracy();
  d["pair_ties"] = s.pair_ties;
  d["tokens"] = s.tokens;
  d["tokens_per_second"] = s.tokens_per_second();
  return d;
}

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Conversations, records or response sets converted from Python, owning what the Items point to.
struct ItemBatch {
  std::vector<std::string> ids;
  std::vector<std::vector<data::Turn>> contexts;
  std::vector<std::vector<std::string>> responses;

  void add(std::string id, std::vector<data::Turn> context, std::vector<std::string> candidates) {
    ids.push_back(std::move(id));
    contexts.push_back(std::move(context));
    responses.push_back(std::move(candidates));
  }
  std::vector<score::Item> items() const {
    std::vector<score::Item> out;
    out.reserve(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) out.push_back({ids[i], contexts[i], responses[i]});
    return out;
  }
};

// A list argument that must not be one conversation given by mistake.
void check_list_of(py::handle obj, const char* field, const char* what) {
  if (py::isinstance<py::str>(obj) || py::isinstance<py::dict>(obj) || !py::isinstance<py::sequence>(obj))
    raise(data_error(std::string(field) + ": expected a list of " + what));
}

// A response: a string or an assistant message {"role": "assistant", "content": ...}.
std::string response_from_py(py::handle obj, const std::string& where) {
  if (py::isinstance<py::str>(obj)) return obj.cast<std::string>();
  if (py::isinstance<py::dict>(obj)) {
    std::vector<data::Turn> turns = turns_from_py(py::make_tuple(obj), where);
    if (turns[0].role != data::Role::assistant)
      raise(data_error(where + ".role: a response must be the assistant's"));
    return turns[0].content;
  }
  raise(data_error(where + ": expected a string or an assistant message dict"));
}

// (context, responses) as Python gives them -> one item.
void add_response_set(ItemBatch& batch, py::handle context, py::handle responses, const std::string& where) {
  std::vector<data::Turn> turns = turns_from_py(context, where + ".context");
  check_list_of(responses, (where + ".responses").c_str(), "responses");
  std::vector<std::string> candidates;
  size_t k = 0;
  for (py::handle response : responses)
    candidates.push_back(response_from_py(response, where + ".responses[" + std::to_string(k++) + "]"));
  if (candidates.empty()) raise(data_error(where + ".responses: no responses"));
  batch.add(where, std::move(turns), std::move(candidates));
}

py::array_t<float> flat_array(const std::vector<std::vector<float>>& scores) {
  py::array_t<float> out(static_cast<py::ssize_t>(scores.size()));
  auto view = out.mutable_unchecked<1>();
  for (size_t i = 0; i < scores.size(); ++i) view(i) = scores[i].empty() ? kNaN : scores[i][0];
  return out;
}

py::array_t<float> vector_array(const std::vector<float>& scores, size_t n) {
  py::array_t<float> out(static_cast<py::ssize_t>(n));
  auto view = out.mutable_unchecked<1>();
  for (size_t k = 0; k < n; ++k) view(k) = scores.empty() ? kNaN : scores[k];
  return out;
}

py::dict config_dict(const model::Model& m, const encode::RmInputBuilder& builder) {
  const model::ModelConfig& c = m.config();
  py::dict d;
  d["architecture"] = c.architecture;
  d["model_type"] = model::family_spec(c.family).model_type;
  d["vocab_size"] = c.vocab_size;
  d["hidden_size"] = c.hidden_size;
  d["intermediate_size"] = c.intermediate_size;
  d["num_hidden_layers"] = c.n_layer;
  d["num_attention_heads"] = c.n_head;
  d["num_key_value_heads"] = c.n_head_kv;
  d["head_dim"] = c.head_dim;
  d["qk_norm"] = c.qk_norm;
  d["tie_word_embeddings"] = c.tie_word_embeddings;
  d["rope_theta"] = c.rope_theta;
  d["max_position_embeddings"] = c.max_position_embeddings;
  d["num_labels"] = c.num_labels;
  d["pad_token_id"] = c.pad_token_id ? py::cast(*c.pad_token_id) : py::none();
  d["bos_token_id"] = c.bos_token_id ? py::cast(*c.bos_token_id) : py::none();
  d["eos_token_id"] = c.eos_token_id ? py::cast(*c.eos_token_id) : py::none();
  d["torch_dtype"] = c.torch_dtype;
  d["tokenizer_vocab_size"] = builder.tokenizer().vocab_size();
  return d;
}

}  // namespace

void init_reward_model(py::module_& m) {
  py::class_<PyRewardModel>(
      m, "RewardModel",
      "A Bradley-Terry reward model (a Hugging Face *ForSequenceClassification folder: config.json, "
      "safetensors, tokenizer with its chat template) scored by synpref's CPU engine.\n\n"
      "Each conversation is rendered with the chat template, tokenized with special tokens (one BOS) "
      "and scored at its last token, as transformers' sequence classifiers do; scores equal `synpref "
      "score` bit for bit. Scores are numpy float32 arrays (the engine's precision); NaN marks a "
      "conversation skipped over max_length (truncation='skip'). Calls release the GIL; one call "
      "runs at a time per model (others wait), each using `threads` threads.")
      .def(py::init([](py::handle path, int threads, uint64_t max_length, std::string truncation,
                       std::optional<std::string> date, py::object chat_template_file, py::object tokenizer,
                       int64_t max_tokens_per_batch, int64_t chunk_records) {
             score::ScorerOptions options;
             options.model_dir = path_from_py(path, "path");
             options.n_threads = threads;
             options.input.max_length = max_length;
             options.input.truncation = std::move(truncation);
             options.input.date = date.value_or("");
             if (!chat_template_file.is_none())
               options.input.chat_template_file = path_from_py(chat_template_file, "chat_template_file");
             if (!tokenizer.is_none()) options.input.tokenizer_dir = path_from_py(tokenizer, "tokenizer");
             options.max_tokens_per_batch = max_tokens_per_batch;
             options.chunk_records = chunk_records;
             return PyRewardModel::open(options);
           }),
           py::arg("path"), py::kw_only(), py::arg("threads") = 0, py::arg("max_length") = 16384,
           py::arg("truncation") = "error", py::arg("date") = py::none(),
           py::arg("chat_template_file") = py::none(), py::arg("tokenizer") = py::none(),
           py::arg("max_tokens_per_batch") = 4096, py::arg("chunk_records") = 256,
           "Loads the model folder `path` and checks it can score (tokenizer, chat template, score "
           "head).\n\nthreads: engine threads (0 = all). max_length: tokens of context + response. "
           "truncation: over max_length, 'error' (raise DataError), 'skip' (NaN scores) or "
           "'truncate-left' (drop the oldest context tokens). date: 'YYYY-MM-DD' seen by date-aware "
           "templates (Llama 3.x), for reproducible scores. chat_template_file: a Jinja file overriding "
           "the tokenizer's template. tokenizer: another tokenizer folder. max_tokens_per_batch: token "
           "rows per forward pass. chunk_records: records per engine call. The same fields as `synpref "
           "score`'s flags; errors name these fields.")
      .def(
          "score",
          [](PyRewardModel& self, py::handle conversations) {
            check_list_of(conversations, "conversations", "conversations (each a list of messages)");
            ItemBatch batch;
            size_t i = 0;
            for (py::handle conversation : conversations) {
              const std::string where = "conversations[" + std::to_string(i++) + "]";
              std::vector<data::Turn> turns = turns_from_py(conversation, where);
              if (turns.back().role != data::Role::assistant)
                raise(data_error(where + ": the last message must be the assistant's (the scored response)"));
              std::string response = std::move(turns.back().content);
              turns.pop_back();
              batch.add(where, std::move(turns), {std::move(response)});
            }
            return flat_array(self.score_items(batch.items()).scores);
          },
          py::arg("conversations"),
          "Scores each conversation (a list of {'role', 'content'} messages ending with the assistant "
          "response to score). Returns a float32 array of shape (N,).")
      .def(
          "score_pairs",
          [](PyRewardModel& self, py::handle pairs, const std::string& format) {
            check_list_of(pairs, "pairs", "preference records (dicts)");
            data::ReadOptions read;
            read.format = unwrap(data::parse_format(format));
            ItemBatch batch;
            size_t i = 0;
            data::Record record;
            for (py::handle pair : pairs) {
              const std::string where = "pairs[" + std::to_string(i++) + "]";
              if (!py::isinstance<py::dict>(pair)) raise(data_error(where + ": expected a dict"));
              std::string code, reason;
              record.clear();
              if (!data::parse_record_json(json_dumps(pair), read, record, code, reason))
                raise(data_error(where + ": " + code + ": " + reason));
              if (record.kind != data::RecordKind::pair)
                raise(data_error(where + ": a response set, not a pair (use score_response_sets)"));
              std::vector<std::string> responses = {record.responses[0].content, record.responses[1].content};
              batch.add(record.id, std::move(record.context), std::move(responses));
            }
            std::vector<std::vector<float>> scores = self.score_items(batch.items()).scores;
            py::array_t<float> out({static_cast<py::ssize_t>(scores.size()), py::ssize_t{2}});
            auto view = out.mutable_unchecked<2>();
            for (size_t r = 0; r < scores.size(); ++r) {
              view(r, 0) = scores[r].empty() ? kNaN : scores[r][0];
              view(r, 1) = scores[r].empty() ? kNaN : scores[r][1];
            }
            return out;
          },
          py::arg("pairs"), py::arg("format") = "auto",
          "Scores preference pairs given as dicts in any format the data reader reads (TRL "
          "{'prompt', 'chosen', 'rejected'} with strings or message lists; {'chosen': messages, "
          "'rejected': messages} sharing a prefix; hh-rlhf transcripts; canonical records). Returns a "
          "float32 array of shape (N, 2): column 0 the chosen response's score, column 1 the "
          "rejected one's (so `(s[:, 0] > s[:, 1]).mean()` is the pair accuracy). A malformed pair "
          "raises DataError naming its index and the reader's reason.")
      .def(
          "score_best_of_n",
          [](PyRewardModel& self, py::handle context, py::handle responses) {
            ItemBatch batch;
            add_response_set(batch, context, responses, "item");
            std::vector<std::vector<float>> scores = self.score_items(batch.items()).scores;
            return vector_array(scores[0], batch.responses[0].size());
          },
          py::arg("context"), py::arg("responses"),
          "Scores N candidate responses to one context (a message list ending with the user turn); "
          "the shared prompt is computed once (prefix sharing, exact). responses are strings or "
          "assistant message dicts. Returns a float32 array of shape (N,).")
      .def(
          "score_response_sets",
          [](PyRewardModel& self, py::handle sets) {
            check_list_of(sets, "sets", "(context, responses) tuples");
            ItemBatch batch;
            size_t i = 0;
            for (py::handle set : sets) {
              const std::string where = "sets[" + std::to_string(i++) + "]";
              if (!py::isinstance<py::sequence>(set) || py::isinstance<py::str>(set) || py::len(set) != 2)
                raise(data_error(where + ": expected a (context, responses) tuple"));
              py::sequence pair = py::reinterpret_borrow<py::sequence>(set);
              add_response_set(batch, pair[0], pair[1], where);
            }
            std::vector<std::vector<float>> scores = self.score_items(batch.items()).scores;
            py::list out;
            for (size_t k = 0; k < scores.size(); ++k)
              out.append(vector_array(scores[k], batch.responses[k].size()));
            return out;
          },
          py::arg("sets"),
          "score_best_of_n for many (context, responses) tuples in one engine run (packed batches). "
          "Returns a list of float32 arrays, one per set.")
      .def(
          "score_file",
          [](PyRewardModel& self, py::handle input, py::handle output, const std::string& format,
             py::object rejects_path, bool resume) {
            score::ScoreFileOptions options;
            options.input = path_from_py(input, "input");
            options.output = path_from_py(output, "output");
            options.format = format;
            if (!rejects_path.is_none()) options.rejects_path = path_from_py(rejects_path, "rejects_path");
            options.resume = resume;
            Result<score::ScoreStats> stats = invalid_argument("unreachable");
            {
              py::gil_scoped_release release;
              std::lock_guard lock(self.mutex());
              stats = score::score_file(self.scorer(), options);
              if (stats.is_ok()) self.set_last_stats(*stats);
            }
            return stats_to_dict(unwrap(std::move(stats)));
          },
          py::arg("input"), py::arg("output"), py::kw_only(), py::arg("format") = "auto",
          py::arg("rejects_path") = py::none(), py::arg("resume") = false,
          "`synpref score` as a call: records of `input` (any reader format; plain, .gz, .zst) -> "
          "JSON lines {'id', 'scores'} in `output`, streamed chunk by chunk; malformed and skipped "
          "records listed in rejects_path (default '<output>.rejects.jsonl'); resume=True keeps the "
          "scores already in output. Returns the run's counts (the keys of `synpref score --json`).")
      .def(
          "input_ids",
          [](PyRewardModel& self, py::handle conversation) {
            std::vector<data::Turn> turns = turns_from_py(conversation, "conversation");
            if (turns.back().role != data::Role::assistant)
              raise(
                  data_error("conversation: the last message must be the assistant's (the scored response)"));
            const std::vector<std::string> response = {turns.back().content};
            turns.pop_back();
            Result<encode::RmInput> input = invalid_argument("unreachable");
            {
              py::gil_scoped_release release;
              input = self.scorer().builder().build(turns, response, "conversation");
            }
            encode::RmInput built = unwrap(std::move(input));
            if (built.skipped) raise(data_error(built.skip_reason));
            std::vector<int32_t> ids = built.prefix;
            ids.insert(ids.end(), built.suffixes[0].begin(), built.suffixes[0].end());
            return ids;
          },
          py::arg("conversation"),
          "The token ids the model scores for one conversation (chat template, special tokens, one "
          "BOS, truncation applied): what `synpref tokenize --chat` prints.")
      .def_property_readonly(
          "path", [](const PyRewardModel& self) { return self.scorer().options().model_dir; },
          "The model folder.")
      .def_property_readonly(
          "config",
          [](const PyRewardModel& self) {
            return config_dict(self.scorer().model(), self.scorer().builder());
          },
          "The model configuration as a dict (config.json's field names).")
      .def_property_readonly(
          "tokenizer",
          [](const PyRewardModel& self) { return PyTokenizer(self.scorer().builder().tokenizer()); },
          "The model's Tokenizer (shares the loaded vocabulary).")
      .def_property_readonly(
          "threads", [](const PyRewardModel& self) { return self.scorer().model().n_threads(); },
          "Engine threads in use.")
      .def_property_readonly(
          "kernels",
          [](const PyRewardModel& self) { return std::string(self.scorer().model().kernel_name()); },
          "The kernel set chosen for this CPU ('avx512', 'avx2', 'generic').")
      .def_property_readonly(
          "max_length", [](const PyRewardModel& self) { return self.scorer().options().input.max_length; },
          "Tokens of context + response allowed.")
      .def_property_readonly(
          "truncation", [](const PyRewardModel& self) { return self.scorer().options().input.truncation; },
          "What happens over max_length: 'error', 'skip' or 'truncate-left'.")
      .def_property_readonly(
          "date", [](const PyRewardModel& self) { return self.scorer().options().input.date; },
          "The date date-aware templates see ('' = today).")
      .def_property_readonly(
          "last_stats", [](PyRewardModel& self) { return stats_to_dict(self.last_stats()); },
          "Counts of the last scoring call (records, scored, skipped_over_max_length, truncated, "
          "pairs, pair_accuracy, tokens, tokens_per_second, ...).")
      .def("__repr__", [](const PyRewardModel& self) {
        const auto& c = self.scorer().model().config();
        return "synpref.RewardModel(" + std::string(py::repr(py::str(self.scorer().options().model_dir))) +
               ", architecture='" + c.architecture +
               "', threads=" + std::to_string(self.scorer().model().n_threads()) + ")";
      });
}

}  // namespace synpref::python
