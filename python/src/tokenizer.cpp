// synpref.Tokenizer: the library's byte-level BPE tokenizer and chat-template renderer
// (synpref/tokenizer/tokenizer.h, synpref/chat/template.h) with transformers' method names.
#include <pybind11/stl.h>

#include <optional>

#include "bindings.h"
#include "synpref/chat/template.h"
#include "synpref/chat/value.h"
#include "synpref/common/hash.h"
#include "synpref/tokenizer/tokenizer.h"
#include "tokenizer_object.h"

namespace synpref::python {

namespace {

// A JSON-serializable Python value -> a template value (None stays none).
chat::Value value_from_py(py::handle obj, const char* field) {
  if (obj.is_none()) return chat::Value::none();
  auto value = chat::Value::parse_json(json_dumps(obj));
  if (!value.is_ok()) raise(value.status().with_context(field));
  return std::move(value).value();
}

std::optional<chat::LocalDateTime> date_from_py(const std::optional<std::string>& date) {
  if (!date || date->empty()) return std::nullopt;
  auto parsed = chat::LocalDateTime::parse(*date);
  if (!parsed.is_ok()) raise(Status(StatusCode::invalid_argument, "date: " + parsed.status().message()));
  return *parsed;
}

}  // namespace

PyTokenizer PyTokenizer::load(const std::string& path) {
  Result<tokenizer::Tokenizer> loaded = invalid_argument("unreachable");
  {
    py::gil_scoped_release release;
    loaded = tokenizer::load_tokenizer(path);
  }
  return PyTokenizer(unwrap(std::move(loaded)));
}

py::object PyTokenizer::apply_chat_template(py::handle messages, bool tokenize, bool add_generation_prompt,
                                            py::handle tools, py::handle documents,
                                            const std::optional<std::string>& chat_template,
                                            const std::optional<std::string>& date, py::dict kwargs) const {
  if (py::isinstance<py::str>(messages) || !py::isinstance<py::sequence>(messages))
    raise(data_error("messages: expected a list of message dicts"));
  const std::string source = chat_template ? *chat_template : tok_.chat_template();
  if (source.empty()) {
    raise(not_found("tokenizer in " + tok_.source_dir() +
                    " has no chat_template (tokenizer_config.json); give one in chat_template"));
  }
  chat::Value messages_value = value_from_py(messages, "messages");
  chat::ChatTemplateArgs args;
  args.add_generation_prompt = add_generation_prompt;
  args.tools = value_from_py(tools, "tools");
  args.documents = value_from_py(documents, "documents");
  // The special tokens transformers passes, then the caller's template variables (a later key
  // wins), as encode::RmInputBuilder::render does for scoring.
  std::vector<std::pair<chat::Value, chat::Value>> extra = {
      {chat::Value::string("bos_token"), chat::Value::string(tok_.bos_token())},
      {chat::Value::string("eos_token"), chat::Value::string(tok_.eos_token())},
      {chat::Value::string("pad_token"), chat::Value::string(tok_.pad_token())}};
  if (!kwargs.empty()) {
    // Kept alive for the loop: entries() refers into the value.
    const chat::Value variables = value_from_py(kwargs, "template variables");
    for (const auto& entry : variables.entries()) extra.push_back(entry);
  }
  args.extra = chat::Value::dict(std::move(extra));
  args.options.now = date_from_py(date);
  Result<std::string> text = invalid_argument("unreachable");
  std::vector<int32_t> ids;
  {
    py::gil_scoped_release release;
    text = [&]() -> Result<std::string> {
      SP_ASSIGN_OR_RETURN(chat::Template tmpl, chat::Template::compile(source));
      return chat::apply_chat_template(tmpl, messages_value, args);
    }();
    // transformers tokenizes the rendered text without adding special tokens (the template
    // writes them).
    if (tokenize && text.is_ok()) ids = tok_.encode(*text, /*add_special_tokens=*/false);
  }
  std::string rendered = unwrap(std::move(text));
  if (tokenize) return py::cast(ids);
  return py::str(rendered);
}

void init_tokenizer(py::module_& m) {
  py::class_<PyTokenizer>(m, "Tokenizer",
                          "A Hugging Face tokenizer (tokenizer.json + tokenizer_config.json, or Meta's "
                          "tiktoken tokenizer.model), encoding exactly as HF `tokenizers` does, with the "
                          "model's chat template rendered byte for byte as transformers renders it.\n\n"
                          "Thread-safe: every method may be called from many threads; compute releases "
                          "the GIL.")
      .def(py::init([](py::handle path) { return PyTokenizer::load(path_from_py(path, "path")); }),
           py::arg("path"),
           "Loads the tokenizer folder `path` (a model folder works too). Raises NotFoundError for a "
           "missing folder or file and DataError for a malformed one.")
      .def(
          "encode",
          [](const PyTokenizer& self, const std::string& text, bool add_special_tokens) {
            std::vector<int32_t> ids;
            {
              py::gil_scoped_release release;
              ids = self.tokenizer().encode(text, add_special_tokens);
            }
            return ids;
          },
          py::arg("text"), py::arg("add_special_tokens") = true,
          "Token ids of `text`. add_special_tokens=True applies the post-processor (Llama 3 prepends "
          "<|begin_of_text|>; Qwen adds nothing), like transformers' tokenizer.encode.")
      .def(
          "encode_batch",
          [](const PyTokenizer& self, const std::vector<std::string>& texts, bool add_special_tokens,
             int threads) {
            if (threads < 0) raise(invalid_argument("threads must be >= 0 (0 = all hardware threads)"));
            tokenizer::EncodedBatch batch;
            {
              py::gil_scoped_release release;
              std::vector<std::string_view> views(texts.begin(), texts.end());
              batch = self.tokenizer().encode_batch(views, add_special_tokens, threads);
            }
            py::list out;
            for (size_t i = 0; i < batch.size(); ++i) {
              auto ids = batch[i];
              out.append(py::cast(std::vector<int32_t>(ids.begin(), ids.end())));
            }
            return out;
          },
          py::arg("texts"), py::arg("add_special_tokens") = true, py::arg("threads") = 0,
          "Ids of every text, encoded on `threads` threads (0 = all); the same ids as encode().")
      .def(
          "decode",
          [](const PyTokenizer& self, const std::vector<int32_t>& ids, bool skip_special_tokens) {
            std::string text = unwrap(self.tokenizer().decode(ids, skip_special_tokens));
            return tokenizer::repair_utf8(text);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = false,
          "The text of `ids`, as transformers' tokenizer.decode returns it (a cut multi-byte character "
          "becomes U+FFFD). Raises InvalidArgumentError for an id that names no token.")
      .def(
          "decode_bytes",
          [](const PyTokenizer& self, const std::vector<int32_t>& ids, bool skip_special_tokens) {
            std::string bytes = unwrap(self.tokenizer().decode(ids, skip_special_tokens));
            return py::bytes(bytes);
          },
          py::arg("ids"), py::arg("skip_special_tokens") = false,
          "The exact bytes `ids` stand for (no UTF-8 repair).")
      .def(
          "apply_chat_template",
          [](const PyTokenizer& self, py::handle messages, bool tokenize, bool add_generation_prompt,
             py::handle tools, py::handle documents, std::optional<std::string> chat_template,
             std::optional<std::string> date, py::kwargs kwargs) {
            return self.apply_chat_template(messages, tokenize, add_generation_prompt, tools, documents,
                                            chat_template, date, kwargs);
          },
          py::arg("messages"), py::kw_only(), py::arg("tokenize") = true,
          py::arg("add_generation_prompt") = false, py::arg("tools") = py::none(),
          py::arg("documents") = py::none(), py::arg("chat_template") = py::none(),
          py::arg("date") = py::none(),
          "Renders `messages` (a list of message dicts) with the chat template, like transformers' "
          "tokenizer.apply_chat_template: tokenize=True returns the ids of the rendered text "
          "(encoded without adding special tokens, as transformers does), tokenize=False the text. "
          "chat_template overrides the tokenizer's template (a Jinja source); date "
          "('YYYY-MM-DD[THH:MM[:SS]]') pins what strftime_now() sees; other keyword arguments are "
          "template variables (e.g. enable_thinking=False). Template errors raise DataError / "
          "UnsupportedError naming the template line and column.")
      .def(
          "token_to_id",
          [](const PyTokenizer& self, const std::string& token) {
            return self.tokenizer().token_to_id(token);
          },
          py::arg("token"), "The id of a token string in HF form ('Ġthe', '<|im_start|>'), or None.")
      .def(
          "id_to_token", [](const PyTokenizer& self, int32_t id) { return self.tokenizer().id_to_token(id); },
          py::arg("id"), "The token string of `id` in HF form, or None.")
      .def("__len__", [](const PyTokenizer& self) { return self.tokenizer().vocab_size(); })
      .def("__repr__",
           [](const PyTokenizer& self) {
             return "synpref.Tokenizer(" + std::string(py::repr(py::str(self.tokenizer().source_dir()))) +
                    ", vocab_size=" + std::to_string(self.tokenizer().vocab_size()) + ")";
           })
      .def_property_readonly(
          "vocab_size", [](const PyTokenizer& self) { return self.tokenizer().vocab_size(); },
          "One past the largest id (vocabulary + added tokens).")
      .def_property_readonly(
          "bos_token", [](const PyTokenizer& self) { return self.tokenizer().bos_token(); },
          "The BOS token text ('' when none).")
      .def_property_readonly(
          "eos_token", [](const PyTokenizer& self) { return self.tokenizer().eos_token(); },
          "The EOS token text ('' when none).")
      .def_property_readonly(
          "pad_token", [](const PyTokenizer& self) { return self.tokenizer().pad_token(); },
          "The padding token text ('' when none).")
      .def_property_readonly(
          "bos_token_id", [](const PyTokenizer& self) { return self.tokenizer().bos_id(); },
          "The BOS id, or None.")
      .def_property_readonly(
          "eos_token_id", [](const PyTokenizer& self) { return self.tokenizer().eos_id(); },
          "The EOS id, or None.")
      .def_property_readonly(
          "pad_token_id", [](const PyTokenizer& self) { return self.tokenizer().pad_id(); },
          "The padding id, or None.")
      .def_property_readonly(
          "chat_template", [](const PyTokenizer& self) { return self.tokenizer().chat_template(); },
          "The Jinja chat template of tokenizer_config.json ('' when none).")
      .def_property_readonly(
          "fingerprint", [](const PyTokenizer& self) { return self.tokenizer().fingerprint().hex(); },
          "XXH3-128 (hex) of everything that decides ids: equal fingerprints, equal encode() results.")
      .def_property_readonly(
          "source_format", [](const PyTokenizer& self) { return self.tokenizer().source_format(); },
          "'tokenizer.json' or 'tokenizer.model': the file that was loaded.")
      .def_property_readonly(
          "path", [](const PyTokenizer& self) { return self.tokenizer().source_dir(); },
          "The folder the tokenizer was loaded from.");
}

}  // namespace synpref::python
