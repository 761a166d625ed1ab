#!/usr/bin/python3
"""OpenRLHF's remote reward-model client against `synpref serve`, with the requests it really sends.

OpenRLHF (openrlhf/utils/remote_rm_utils.py) POSTs {"query": [...], "prompts": [...], "labels": [...]}
as JSON with python-requests, calls raise_for_status(), checks that the score key ("rewards") is in
the answer and turns it into a tensor; its actors call it from many workers at once. Each query is
the decoded prompt + response with special tokens written out: here the conversation rendered with
the model's chat template the way transformers renders it (tests/oracles/chat_jinja2.py).

Checks: every reward equals, as a float32, what offline `synpref score` gives the same conversation;
concurrent callers get the same rewards; sglang's /classify shape; a malformed body is a 400 JSON
error; SIGTERM stops the server with exit status 0 after answering.

Usage: /usr/bin/python3 tests/serve/test_openrlhf_client.py SYNPREF_BINARY
"""
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE, "tests", "oracles"))
from chat_jinja2 import make_environment  # noqa: E402

DATE = "2025-01-01"


def run(binary, *args):
    done = subprocess.run([binary, *args], capture_output=True, text=True, env={**os.environ, "CI": "1"})
    assert done.returncode == 0, f"synpref {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def conversations():
    """(context, responses) cases: pairs and one best-of-4 with a multi-turn context."""
    cases = []
    for i in range(5):
        cases.append(([{"role": "user", "content": f"What is {i} times 3?"}], [f"It is {3 * i}.", "No idea."]))
    cases.append(([{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Hi"},
                   {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "A fruit?"}],
                  ["Apple.", "A banana, yellow and sweet.", "rock", "Mango!"]))
    return cases


def offline_scores(binary, model, workdir, cases):
    lines = []
    for n, (context, responses) in enumerate(cases):
        record = {"id": f"c{n}", "context": context}
        if len(responses) == 2:
            record.update(kind="pair", chosen={"content": responses[0]}, rejected={"content": responses[1]})
        else:
            record.update(kind="response_set", responses=[{"content": r} for r in responses])
        lines.append(json.dumps(record))
    src, out = os.path.join(workdir, "in.jsonl"), os.path.join(workdir, "out.jsonl")
    with open(src, "w") as f:
        f.write("\n".join(lines) + "\n")
    run(binary, "score", "--model", model, "--input", src, "--output", out, "--threads", "2", "--date", DATE)
    with open(out) as f:
        return [json.loads(line)["scores"] for line in f]


def render(model, context, response):
    with open(os.path.join(model, "tokenizer_config.json")) as f:
        config = json.load(f)
    env = make_environment([None])
    template = env.from_string(config["chat_template"])
    special = {k: config.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token")}
    messages = context + [{"role": "assistant", "content": response}]
    return template.render(messages=messages, add_generation_prompt=False, **special)


def remote_rm(url, queries, prompts, labels, score_key="rewards"):
    """What OpenRLHF's remote RM helper does for one batch (written here, not imported)."""
    response = requests.post(url, json={"query": queries, "prompts": prompts, "labels": labels},
                             headers={"Content-Type": "application/json"}, timeout=180)
    response.raise_for_status()
    body = response.json()
    assert score_key in body, f"{score_key} not in {body}"
    return np.asarray(body[score_key], dtype=np.float32)


def start_server(binary, model):
    proc = subprocess.Popen([binary, "serve", "--model", model, "--port", "0", "--threads", "2", "--date", DATE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})
    first = proc.stdout.readline().strip()
    assert first.startswith("listening on http://"), f"unexpected first line {first!r}: {proc.stderr.read()}"
    return proc, first[len("listening on "):]


def main():
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="synpref-openrlhf-") as workdir:
        model = os.path.join(workdir, "rm")
        run(binary, "init-model", "--arch", "qwen3", "--preset", "qwen3-tiny", "--tokenizer",
            os.path.join(SOURCE, "..", "shared", "data", "tokenizers", "qwen3"), "--seed", "3", "--init-std", "0.2",
            "--out", model)
        cases = conversations()
        expected = offline_scores(binary, model, workdir, cases)

        queries, prompts, labels, want = [], [], [], []
        for (context, responses), scores in zip(cases, expected):
            prompt = render(model, context, "").rsplit("<|im_start|>assistant", 1)[0]
            for response, score in zip(responses, scores):
                queries.append(render(model, context, response))
                prompts.append(prompt)
                labels.append("")
                want.append(np.float32(score))
        want = np.asarray(want, dtype=np.float32)

        proc, base = start_server(binary, model)
        try:
            got = remote_rm(base + "/get_reward", queries, prompts, labels)
            assert got.shape == want.shape, (got.shape, want.shape)
            assert np.array_equal(got, want), f"rewards differ from synpref score:\n{got}\n{want}"

            # Many actors at once, each with its own slice (as Ray workers call it).
            def call(i):
                lo = i % len(queries)
                hi = min(len(queries), lo + 1 + i % 4)
                return lo, hi, remote_rm(base + "/get_reward", queries[lo:hi], prompts[lo:hi], labels[lo:hi])

            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
                for lo, hi, got in pool.map(call, range(64)):
                    assert np.array_equal(got, want[lo:hi]), (lo, hi, got, want[lo:hi])

            # sglang's /classify, as Skywork-Reward-V2's model card calls it.
            answer = requests.post(base + "/classify", json={"text": queries[:3]}, timeout=60)
            answer.raise_for_status()
            embeddings = np.asarray([item["embedding"][0] for item in answer.json()], dtype=np.float32)
            assert np.array_equal(embeddings, want[:3]), (embeddings, want[:3])

            bad = requests.post(base + "/get_reward", data=b'{"query": ["x"', timeout=60)
            assert bad.status_code == 400 and "error" in bad.json(), bad.text
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
        stderr = proc.stderr.read()
        assert code == 0, f"serve exited with {code}: {stderr}"
        assert "stopped after" in stderr, stderr
    print("ok: OpenRLHF remote RM client, %d queries, rewards bitwise equal to synpref score" % len(queries))


if __name__ == "__main__":
    main()
