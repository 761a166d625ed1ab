"""The examples in python/examples run, and what they compute equals the CLI's: a TRL/OpenRLHF
reward function, scoring a JSONL file, evaluating on JudgeBench (real data, ../shared/data)."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DATE, EXAMPLES, SHARED, read_score_lines, run_synpref


def run_example(name, *args):
    proc = subprocess.run([sys.executable, str(EXAMPLES / name), *map(str, args)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def load_example(name):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), EXAMPLES / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_reward_func_openrlhf_and_trl_equal_synpref_score(qwen_model, tmp_path, monkeypatch):
    assert "openrlhf rewards:" in run_example("reward_func.py", qwen_model)

    monkeypatch.setenv("SYNPREF_REWARD_MODEL", str(qwen_model))
    monkeypatch.setenv("SYNPREF_DATE", DATE)
    example = load_example("reward_func.py")
    prompts = ["Explain recursion briefly.", "2+2=?", "Name a colour."]
    responses = ["A function calling itself on a smaller input.", "4", "Blue — like the sky."]
    out = example.reward_func([p + r for p, r in zip(prompts, responses)], prompts, labels=[None] * 3)
    assert set(out) == {"rewards", "scores", "extra_logs"}
    rewards = np.asarray(out["rewards"], dtype=np.float32)

    # The CLI scores each rollout as the chosen side of a pair (a record needs two responses).
    records = [{"id": f"q{k}", "prompt": p, "chosen": r, "rejected": "-"}
               for k, (p, r) in enumerate(zip(prompts, responses))]
    src = tmp_path / "rollouts.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    run_synpref("--quiet", "score", "--model", qwen_model, "--input", src, "--output", tmp_path / "s.jsonl",
                "--date", DATE, "--truncation", "truncate-left")
    cli = read_score_lines(tmp_path / "s.jsonl")
    want = np.array([cli[f"q{k}"][0] for k in range(3)], dtype=np.float32)
    assert np.array_equal(rewards.view(np.uint32), want.view(np.uint32))
    trl = example.trl_reward_func(prompts, responses)
    assert np.array_equal(np.asarray(trl, dtype=np.float32).view(np.uint32), want.view(np.uint32))
    with pytest.raises(ValueError, match="does not start with its prompt"):
        example.reward_func(["something else"], ["prompt"], None)


def test_score_jsonl_equals_synpref_score(qwen_model, tmp_path):
    # Real hh-rlhf pairs (first 300 of the harmless-base test split) plus one malformed line.
    import gzip

    with gzip.open(SHARED / "hh-rlhf" / "harmless-base" / "test.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [next(f) for _ in range(300)]
    src = tmp_path / "hh.jsonl"
    src.write_text("".join(lines) + '{"chosen": "broken\n', encoding="utf-8")
    out = tmp_path / "py.jsonl"
    stdout = run_example("score_jsonl.py", qwen_model, src, out, "--batch", 64, "--date", DATE, "--threads", 2)
    assert "scored 300 records (1 rejected)" in stdout
    run_synpref("--quiet", "score", "--model", qwen_model, "--input", src, "--output", tmp_path / "cli.jsonl",
                "--date", DATE)
    assert read_score_lines(out) == read_score_lines(tmp_path / "cli.jsonl")
    assert len((tmp_path / "py.jsonl.rejects.jsonl").read_text().splitlines()) == 1


def test_eval_judgebench_equals_synpref_eval_model(qwen_model, tmp_path):
    data = SHARED / "judgebench"
    report = tmp_path / "py.report.json"
    stdout = run_example("eval_judgebench.py", qwen_model, data, "--report", report, "--date", DATE,
                         "--max-length", 2048)
    assert "judgebench: 620 items" in stdout
    cli = json.loads(run_synpref("--json", "--quiet", "eval", "--benchmark", "judgebench", "--data", data, "--model",
                                 qwen_model, "--date", DATE, "--max-length", 2048).stdout)
    got = json.loads(report.read_text())
    assert got == cli  # the whole report: metrics, intervals, counts, files and their hashes
    assert got["scoring"]["n_scored"] == 620 and got["scoring"]["n_truncated"] is not None
