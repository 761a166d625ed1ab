"""Shared fixtures of the synpref Python tests: the module, the `synpref` binary (the oracle the
bindings must equal bit for bit), the real data in ../shared/data, and tiny random-weight Hugging
Face reward models written by `synpref init-model` once per test session.

CTest sets PYTHONPATH (the built package), SYNPREF_BINARY and SYNPREF_BUILD_DIR; run by hand:
    PYTHONPATH=build/python SYNPREF_BINARY=build/tools/synpref/synpref \
        /usr/bin/python3 -m pytest -q python/tests
"""
import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared" / "data").resolve()
BUILD = pathlib.Path(os.environ.get("SYNPREF_BUILD_DIR", REPO / "build"))
BINARY = pathlib.Path(os.environ.get("SYNPREF_BINARY", BUILD / "tools" / "synpref" / "synpref"))
EXAMPLES = REPO / "python" / "examples"
# A pinned date: templates that print today's date (Llama 3.1) render the same on every run.
DATE = "2026-01-15"


def run_synpref(*args, check=True, input=None):
    """Runs the real binary; returns the CompletedProcess (text mode)."""
    proc = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"synpref {' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def read_score_lines(path):
    """`synpref score` output -> {id: [scores]} (floats as written: the float32 widened to double)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out[row["id"]] = row["scores"]
    return out


def init_model(out_dir, arch, preset, tokenizer, seed):
    run_synpref("init-model", "--arch", arch, "--preset", preset, "--tokenizer", SHARED / "tokenizers" / tokenizer,
                "--seed", seed, "--init-std", "0.2", "--out", out_dir)
    return out_dir


@pytest.fixture(scope="session")
def shared():
    if not (SHARED / "SOURCES.md").exists():
        pytest.fail(f"the shared data folder {SHARED} is missing (tests read ../shared/data from the repo root)")
    return SHARED


@pytest.fixture(scope="session")
def qwen_model(tmp_path_factory, shared):
    """A tiny random Qwen3 reward model with the real Qwen3 tokenizer and chat template."""
    return init_model(tmp_path_factory.mktemp("qwen") / "rm", "qwen3", "qwen3-tiny", "qwen3", 9)


@pytest.fixture(scope="session")
def llama_model(tmp_path_factory, shared):
    """A tiny random Llama reward model with the Llama 3.1 tokenizer (a BOS-prepending post-processor)."""
    return init_model(tmp_path_factory.mktemp("llama") / "rm", "llama", "llama-tiny", "llama3_1", 4)


@pytest.fixture(scope="session")
def synpref_module():
    import synpref

    return synpref
