"""The synpref module against the real `synpref` binary: scores bit for bit, token ids and rendered
templates byte for byte, errors as Python exceptions with the library's messages, pair files."""
import json
import threading
import warnings

import numpy as np
import pytest

from conftest import DATE, REPO, SHARED, read_score_lines, run_synpref

import synpref

# Pairs in the shapes Python users hold them: TRL prompt/chosen/rejected strings, TRL
# conversational message lists, multi-turn contexts, a system prompt, non-ASCII text.
PAIRS = [
    {"id": "p0", "prompt": "What is 2 + 2?", "chosen": "4.", "rejected": "5, probably."},
    {"id": "p1", "prompt": "Name a prime number above 10.", "chosen": "11 is prime.", "rejected": "12."},
    {
        "id": "p2",
        "prompt": [
            {"role": "system", "content": "You answer in one word."},
            {"role": "user", "content": "Capital of France?"},
        ],
        "chosen": [{"role": "assistant", "content": "Paris"}],
        "rejected": [{"role": "assistant", "content": "Lyon"}],
    },
    {
        "id": "p3",
        "prompt": [
            {"role": "user", "content": "Translate 'chat' to English."},
            {"role": "assistant", "content": "Cat."},
            {"role": "user", "content": "Et « chien » ? 🐕"},
        ],
        "chosen": [{"role": "assistant", "content": "Dog — « chien » means dog."}],
        "rejected": [{"role": "assistant", "content": "Bird."}],
    },
    {"id": "p4", "prompt": "Sort [3, 1, 2].", "chosen": "[1, 2, 3]", "rejected": "[3, 2, 1]\n\n```python\nsorted(x)\n```"},
]


def as_messages(prompt):
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt


def as_text(response):
    return response if isinstance(response, str) else response[0]["content"]


def bits(values):
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def cli_scores(model, tmp_path, records, *extra):
    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    out = tmp_path / "scores.jsonl"
    run_synpref("--quiet", "score", "--model", model, "--input", src, "--output", out, "--date", DATE,
                "--threads", 2, *extra)
    return read_score_lines(out)


@pytest.fixture(params=["qwen", "llama"])
def model_dir(request):
    return request.getfixturevalue(f"{request.param}_model")


# ---- RewardModel: every entry point equals `synpref score` bit for bit -------------------------


def test_every_scoring_entry_point_equals_synpref_score_bitwise(model_dir, tmp_path):
    expected = cli_scores(model_dir, tmp_path, PAIRS)
    want = np.array([expected[p["id"]] for p in PAIRS], dtype=np.float64)
    # The CLI writes each float32 widened to double (shortest round trip): exact in float32.
    assert np.array_equal(want.astype(np.float32).astype(np.float64), want)

    rm = synpref.RewardModel(model_dir, threads=2, date=DATE)
    pairs = rm.score_pairs(PAIRS)
    assert pairs.dtype == np.float32 and pairs.shape == (len(PAIRS), 2)
    assert np.array_equal(bits(pairs), bits(want))

    chosen = [as_messages(p["prompt"]) + [{"role": "assistant", "content": as_text(p["chosen"])}] for p in PAIRS]
    rejected = [as_messages(p["prompt"]) + [{"role": "assistant", "content": as_text(p["rejected"])}] for p in PAIRS]
    scores = rm.score(chosen + rejected)
    assert scores.dtype == np.float32 and scores.shape == (2 * len(PAIRS),)
    assert np.array_equal(bits(scores), bits(np.concatenate([want[:, 0], want[:, 1]])))

    for k, p in enumerate(PAIRS):
        best = rm.score_best_of_n(as_messages(p["prompt"]), [as_text(p["chosen"]), as_text(p["rejected"])])
        assert np.array_equal(bits(best), bits(want[k])), p["id"]
    sets = rm.score_response_sets([(as_messages(p["prompt"]), [p["chosen"][0] if isinstance(p["chosen"], list)
                                                                else p["chosen"], as_text(p["rejected"])])
                                   for p in PAIRS])
    assert np.array_equal(bits(np.stack(sets)), bits(want))

    # Thread count, batch size and chunking never change a score (the engine is batch-invariant).
    one = synpref.RewardModel(model_dir, threads=1, date=DATE, max_tokens_per_batch=7, chunk_records=2)
    assert np.array_equal(bits(one.score_pairs(PAIRS)), bits(want))
    assert one.last_stats["scored"] == len(PAIRS) and one.last_stats["tokens"] > 0


def test_best_of_n_with_many_responses_equals_synpref_score(qwen_model, tmp_path):
    context = [{"role": "user", "content": "Write a haiku about the sea."}]
    responses = [f"Wave {k} folds on wave,\nsalt and light in {k} colours,\nthe tide keeps its count." for k in range(9)]
    record = {"id": "bon", "kind": "response_set", "context": context, "responses": [{"content": r} for r in responses]}
    expected = cli_scores(qwen_model, tmp_path, [record], "--format", "canonical")["bon"]
    rm = synpref.RewardModel(qwen_model, date=DATE)
    got = rm.score_best_of_n(context, responses)
    assert got.shape == (9,)
    assert np.array_equal(bits(got), bits(expected))
    # Assistant message dicts are accepted as responses too.
    as_dicts = rm.score_best_of_n(context, [{"role": "assistant", "content": r} for r in responses])
    assert np.array_equal(bits(as_dicts), bits(expected))


def test_score_file_is_synpref_score(qwen_model, tmp_path):
    expected = cli_scores(qwen_model, tmp_path, PAIRS)
    src = tmp_path / "pairs.jsonl"  # written by cli_scores
    out = tmp_path / "py_scores.jsonl"
    rm = synpref.RewardModel(qwen_model, date=DATE)
    stats = rm.score_file(src, out)
    assert stats["records"] == len(PAIRS) and stats["scored"] == len(PAIRS) and stats["pairs"] == len(PAIRS)
    assert (tmp_path / "scores.jsonl").read_bytes() == out.read_bytes()
    assert read_score_lines(out) == expected


def test_input_ids_equal_synpref_tokenize_chat(model_dir, tmp_path):
    conversation = as_messages(PAIRS[3]["prompt"]) + PAIRS[3]["chosen"]
    chat = tmp_path / "chat.json"
    chat.write_text(json.dumps(conversation, ensure_ascii=False), encoding="utf-8")
    ids = json.loads(run_synpref("tokenize", "--tokenizer", model_dir, "--chat", chat, "--date", DATE).stdout)
    rm = synpref.RewardModel(model_dir, date=DATE)
    assert rm.input_ids(conversation) == ids
    text = run_synpref("tokenize", "--tokenizer", model_dir, "--chat", chat, "--render", "--date", DATE).stdout
    assert rm.tokenizer.apply_chat_template(conversation, tokenize=False, date=DATE) == text
    bos = rm.tokenizer.bos_token_id
    if bos is not None:  # Llama 3.1: exactly one BOS although the template also writes it
        assert ids[0] == bos and ids[1] != bos


def test_truncation_policies(qwen_model):
    long_prompt = "word " * 300
    conv = [{"role": "user", "content": long_prompt}, {"role": "assistant", "content": "ok"}]
    short = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(synpref.DataError, match="over the maximum of 64"):
        synpref.RewardModel(qwen_model, max_length=64).score([conv])
    skip = synpref.RewardModel(qwen_model, max_length=64, truncation="skip", date=DATE)
    got = skip.score([conv, short])
    assert np.isnan(got[0]) and np.isfinite(got[1])
    assert skip.last_stats["skipped_over_max_length"] == 1
    left = synpref.RewardModel(qwen_model, max_length=64, truncation="truncate-left", date=DATE)
    assert np.isfinite(left.score([conv])[0]) and left.last_stats["truncated"] == 1
    assert len(left.input_ids(conv)) == 64


def test_concurrent_calls_from_python_threads_are_safe_and_exact(qwen_model):
    rm = synpref.RewardModel(qwen_model, threads=1, date=DATE)
    want = rm.score_pairs(PAIRS * 4)
    results = [None] * 4
    errors = []

    def work(slot):
        try:
            results[slot] = rm.score_pairs(PAIRS * 4)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for got in results:
        assert np.array_equal(bits(got), bits(want))


def test_reward_model_properties(qwen_model):
    rm = synpref.RewardModel(qwen_model, threads=2, date=DATE)
    assert rm.config["architecture"] == "Qwen3ForSequenceClassification"
    assert rm.config["num_labels"] == 1 and rm.config["hidden_size"] == 64
    assert rm.threads == 2 and rm.kernels in ("avx512", "avx2", "generic")
    assert rm.truncation == "error" and rm.max_length == 16384 and rm.date == DATE
    assert isinstance(rm.tokenizer, synpref.Tokenizer) and len(rm.tokenizer) == 151669
    assert "Qwen3ForSequenceClassification" in repr(rm)


# ---- errors: Python exceptions carrying the library's messages ---------------------------------


def test_errors_are_python_exceptions_with_the_library_messages(qwen_model, tmp_path):
    with pytest.raises(synpref.NotFoundError) as e:
        synpref.RewardModel(tmp_path / "no-such-model")
    assert "no-such-model" in str(e.value) and e.value.code == "not_found"
    assert isinstance(e.value, LookupError) and isinstance(e.value, synpref.Error)

    with pytest.raises(synpref.InvalidArgumentError, match="truncation"):
        synpref.RewardModel(qwen_model, truncation="sideways")
    with pytest.raises(synpref.InvalidArgumentError, match="max_tokens_per_batch"):
        synpref.RewardModel(qwen_model, max_tokens_per_batch=0)

    rm = synpref.RewardModel(qwen_model, date=DATE)
    good = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    with pytest.raises(synpref.DataError, match=r"conversations\[1\].*role"):
        rm.score([good, [{"role": "wizard", "content": "a"}, {"role": "assistant", "content": "b"}]])
    with pytest.raises(synpref.DataError, match=r"conversations\[0\].*last message must be the assistant"):
        rm.score([[{"role": "user", "content": "a"}]])
    with pytest.raises(synpref.DataError, match=r"conversations\[0\]: expected a list of messages"):
        rm.score(good)  # one conversation, not a list of them
    with pytest.raises(synpref.DataError, match=r"pairs\[1\]"):
        rm.score_pairs([PAIRS[0], {"id": "x", "prompt": "p", "chosen": "c"}])
    with pytest.raises(synpref.DataError, match="no responses"):
        rm.score_best_of_n([{"role": "user", "content": "q"}], [])
    with pytest.raises(TypeError, match="path"):
        synpref.RewardModel(42)
    # A failed call leaves the model usable.
    assert np.isfinite(rm.score([good])[0])


def test_tokenizer_errors(tmp_path):
    with pytest.raises(synpref.NotFoundError, match="nowhere"):
        synpref.Tokenizer(tmp_path / "nowhere")
    tok = synpref.Tokenizer(SHARED / "tokenizers" / "qwen3")
    with pytest.raises(synpref.Error):
        tok.decode([10**9])
    with pytest.raises(synpref.Error, match="line"):
        tok.apply_chat_template([{"role": "user", "content": "x"}], chat_template="{% for %}")
    with pytest.raises(synpref.Error, match="boom"):
        tok.apply_chat_template([], chat_template="{{ raise_exception('boom') }}")


# ---- Tokenizer: the CLI's ids and the Jinja2 oracle's text ---------------------------------------

TEXTS = [
    "Hello world",
    "  leading spaces and trailing   ",
    "naïve café — 東京 🐕 emoji",
    "<|im_start|>user\nspecial tokens inline<|im_end|>",
    "def f(x):\n\treturn x ** 2  # 12345678\n",
    "",
]


@pytest.mark.parametrize("name", ["qwen3", "llama3_1", "llama3"])
def test_tokenizer_encode_equals_synpref_tokenize(name):
    path = SHARED / "tokenizers" / name
    tok = synpref.Tokenizer(path)
    for text in TEXTS:
        for special in (True, False):
            args = ["tokenize", "--tokenizer", path, "--text", text] + ([] if special else ["--no-special"])
            want = json.loads(run_synpref(*args).stdout)
            assert tok.encode(text, add_special_tokens=special) == want, (name, text, special)
    assert tok.encode_batch(TEXTS, threads=2) == [tok.encode(t) for t in TEXTS]
    for text in TEXTS:
        assert tok.decode(tok.encode(text, add_special_tokens=False)) == text
    assert tok.decode_bytes(tok.encode("🐕", add_special_tokens=False)) == "🐕".encode()


def test_tokenizer_vocabulary_lookups():
    tok = synpref.Tokenizer(SHARED / "tokenizers" / "qwen3")
    assert tok.token_to_id("<|im_start|>") == 151644
    assert tok.id_to_token(151644) == "<|im_start|>"
    assert tok.token_to_id("definitely not a token") is None
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == 151645
    assert tok.pad_token_id == 151643 and tok.bos_token_id is None
    assert tok.vocab_size == 151669 and "im_start" in tok.chat_template
    assert tok.source_format == "tokenizer.json" and len(tok.fingerprint) == 32
    llama = synpref.Tokenizer(SHARED / "tokenizers" / "llama3_1")
    assert llama.encode("hi")[0] == llama.bos_token_id == 128000


def jinja2_oracle(template, context):
    """tests/oracles/chat_jinja2.py: Debian's jinja2 set up as transformers sets it up."""
    import subprocess
    import sys

    request = {"templates": {"t": template}, "cases": [{"template": "t", "context": context, "now": f"{DATE}T00:00:00"}]}
    proc = subprocess.run([sys.executable, str(REPO / "tests" / "oracles" / "chat_jinja2.py")],
                          input=json.dumps(request), capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)["results"][0]
    assert result["ok"], result
    return result["text"]


@pytest.mark.parametrize("name", ["qwen3", "llama3_1"])
def test_apply_chat_template_equals_jinja2_as_transformers_runs_it(name):
    tok = synpref.Tokenizer(SHARED / "tokenizers" / name)
    messages = as_messages(PAIRS[3]["prompt"])
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"}}}}}]
    for kwargs in ({"add_generation_prompt": True}, {"add_generation_prompt": False, "tools": tools},
                   {"add_generation_prompt": True, "enable_thinking": False}):
        context = {"messages": messages, "tools": kwargs.get("tools"), "documents": None,
                   "add_generation_prompt": kwargs["add_generation_prompt"], "bos_token": tok.bos_token,
                   "eos_token": tok.eos_token, "pad_token": tok.pad_token}
        context.update({k: v for k, v in kwargs.items() if k not in ("tools", "add_generation_prompt")})
        want = jinja2_oracle(tok.chat_template, context)
        text = tok.apply_chat_template(messages, tokenize=False, date=DATE, **kwargs)
        assert text == want, kwargs
        # tokenize=True: the rendered text encoded without adding special tokens (transformers).
        assert tok.apply_chat_template(messages, date=DATE, **kwargs) == tok.encode(text, add_special_tokens=False)


# ---- preference-data files --------------------------------------------------------------------


def test_read_records_and_write_records_equal_synpref_data_convert(tmp_path):
    hh = SHARED / "hh-rlhf" / "harmless-base" / "test.jsonl.gz"
    result = synpref.read_records(hh, source="hh-rlhf")
    assert len(result) == len(result.records) and result.files == 1
    first = result.records[0]
    assert first["kind"] == "pair" and first["context"][0]["role"] == "user"
    assert first["chosen"]["content"] and first["rejected"]["content"]
    for to in ("canonical", "trl", "openrlhf"):
        cli_out = tmp_path / f"cli.{to}.jsonl"
        run_synpref("--quiet", "data", "convert", hh, "--source", "hh-rlhf", "--to", to, "-o", cli_out)
        py_out = tmp_path / f"py.{to}.jsonl"
        assert synpref.write_records(py_out, result.records, to=to) == len(result)
        assert py_out.read_bytes() == cli_out.read_bytes(), to
        conv_out = tmp_path / f"convert.{to}.jsonl"
        summary = synpref.convert(hh, conv_out, to=to)
        assert summary["written"] == len(result) and summary["rejected"] == result.rejected
    # Round trip: canonical dicts written and read back are the same dicts.
    again = synpref.read_records(tmp_path / "py.canonical.jsonl")
    assert again.records == result.records


def test_read_records_rejects_are_counted_never_silent(tmp_path):
    src = tmp_path / "mixed.jsonl"
    src.write_text(json.dumps(PAIRS[0]) + "\n{not json\n" + json.dumps({"id": "x", "prompt": "p"}) + "\n",
                   encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = synpref.read_records(src)
    assert len(result) == 1 and result.rejected == 2
    assert any("2 malformed records" in str(w.message) for w in caught)
    rejects = tmp_path / "rejects.jsonl"
    result = synpref.read_records(src, rejects_path=rejects)
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "mixed.jsonl" in lines[0]
    with pytest.raises(synpref.DataError, match="mixed.jsonl"):
        synpref.read_records(src, strict=True)
    with pytest.raises(synpref.DataError, match=r"records\[1\]"):
        synpref.write_records(tmp_path / "out.jsonl", [PAIRS[0], {"id": "bad", "chosen": "only"}])
    assert not (tmp_path / "out.jsonl").exists()  # nothing written when a record is bad


# ---- eval: the registry's official rules, as `synpref eval` ------------------------------------


def test_eval_from_a_scores_file_and_a_dict_equals_synpref_eval(tmp_path):
    data = SHARED / "judgebench"
    bench = synpref.load_benchmark("judgebench", data)
    assert len(bench) == 620 and bench.name == "judgebench"
    assert "judgebench" in synpref.benchmarks()
    # Deterministic made-up scores: longer response wins.
    rows = {item["id"]: [float(len(r)) for r in item["responses"]] for item in bench.items}
    scores_file = tmp_path / "lengths.scores.jsonl"
    scores_file.write_text("".join(json.dumps({"id": i, "scores": s}) + "\n" for i, s in rows.items()))
    cli = json.loads(run_synpref("--json", "eval", "--benchmark", "judgebench", "--data", data,
                                 "--scores", scores_file).stdout)
    from_file = synpref.eval("judgebench", data, scores_file)
    assert json.loads(from_file.report) == cli
    from_dict = synpref.eval(bench, scores=rows)
    from_list = synpref.eval(bench, scores=[rows[i] for i in bench.ids])
    for ev in (from_file, from_dict, from_list):
        assert ev.benchmark == "judgebench" and ev.n_items == 620 and not ev.partial
        assert ev.headline == cli["headline"]["name"] and ev.score == cli["headline"]["value"]
        for name, metric in ev.metrics.items():
            assert metric.value == from_file.metrics[name].value
    with pytest.raises(synpref.DataError, match="no scores"):
        synpref.eval(bench, scores={bench.ids[0]: rows[bench.ids[0]]})
    partial = synpref.eval(bench, scores={bench.ids[0]: rows[bench.ids[0]]}, allow_missing=True)
    assert partial.partial and len(partial.missing) == 619
    with pytest.raises(synpref.InvalidArgumentError, match="judgebench"):
        synpref.load_benchmark("no-such-benchmark", data)


# ---- type stubs and docstrings -------------------------------------------------------------------


def test_stubs_cover_the_module_and_everything_is_documented():
    import ast
    import pathlib

    stub = ast.parse((pathlib.Path(synpref.__file__).parent / "__init__.pyi").read_text(encoding="utf-8"))
    top = {n.name for n in stub.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert set(synpref.__all__) <= top, set(synpref.__all__) - top
    classes = {n.name: n for n in stub.body if isinstance(n, ast.ClassDef)}
    for name in ("RewardModel", "Tokenizer", "Benchmark", "Evaluation", "ReadResult"):
        cls = getattr(synpref, name)
        stubbed = {m.name for m in classes[name].body if isinstance(m, ast.FunctionDef)}
        stubbed |= {m.target.id for m in classes[name].body if isinstance(m, ast.AnnAssign)}
        public = {m for m in dir(cls) if not m.startswith("_")}
        assert public <= stubbed, (name, public - stubbed)
        for member in public:
            assert getattr(cls, member).__doc__, f"{name}.{member} has no docstring"
    for name in ("read_records", "write_records", "convert", "load_benchmark", "eval", "benchmarks"):
        assert getattr(synpref, name).__doc__
