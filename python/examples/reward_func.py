#!/usr/bin/env python3
"""A reward function for RL fine-tuning, backed by synpref's engine in-process (no reward server).

Two calling conventions are provided:

* OpenRLHF's remote/custom reward function, `reward_func(queries, prompts, labels)`, where each query
  is the prompt text followed by the generated response. Returns {"rewards", "scores",
  "extra_logs"} as OpenRLHF expects (torch tensors when torch is importable, numpy otherwise).
* TRL's GRPOTrainer reward function, `trl_reward_func(prompts, completions, **kwargs)`, in TRL's
  standard (strings) or conversational (message lists) format. Returns a list of floats.

The model is loaded once per process from $SYNPREF_REWARD_MODEL (a Hugging Face
*ForSequenceClassification folder). Usage as a script (a smoke test on made-up rollouts):

    python reward_func.py MODEL_DIR
"""
import os
import sys

import numpy as np

import synpref

_MODEL = None


def _model():
    global _MODEL
    if _MODEL is None:
        path = os.environ.get("SYNPREF_REWARD_MODEL")
        if not path:
            raise RuntimeError("set SYNPREF_REWARD_MODEL to a reward-model folder")
        # date: pin what date-aware chat templates print, so rewards are reproducible.
        _MODEL = synpref.RewardModel(path, threads=int(os.environ.get("SYNPREF_THREADS", "0")),
                                     truncation="truncate-left", date=os.environ.get("SYNPREF_DATE"))
    return _MODEL


def _as_messages(prompt):
    """A prompt as TRL and OpenRLHF hand it over: a plain string or a list of messages."""
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def _to_tensor(values):
    try:
        import torch
    except ImportError:
        return np.asarray(values, dtype=np.float32)
    return torch.from_numpy(np.asarray(values, dtype=np.float32))


def reward_func(queries, prompts, labels=None):
    """OpenRLHF: queries[i] = prompts[i] + response; the response is scored in the context of the
    prompt, rendered with the reward model's own chat template (pass raw prompts, not prompts
    already rendered with the policy's template)."""
    if len(queries) != len(prompts):
        raise ValueError(f"{len(queries)} queries but {len(prompts)} prompts")
    conversations = []
    for query, prompt in zip(queries, prompts):
        if not query.startswith(prompt):
            raise ValueError("a query does not start with its prompt; pass the prompts the queries were generated from")
        conversations.append(_as_messages(prompt) + [{"role": "assistant", "content": query[len(prompt):]}])
    rewards = _model().score(conversations)
    return {
        "rewards": _to_tensor(rewards),  # used for the advantage
        "scores": _to_tensor(rewards),  # used for dynamic filtering
        "extra_logs": {"reward_mean": _to_tensor([float(np.mean(rewards))])},
    }


def trl_reward_func(prompts, completions, **kwargs):
    """TRL GRPOTrainer: standard format (strings) or conversational (message lists)."""
    conversations = []
    for prompt, completion in zip(prompts, completions, strict=True):
        response = completion if isinstance(completion, str) else completion[-1]["content"]
        conversations.append(_as_messages(prompt) + [{"role": "assistant", "content": response}])
    return [float(r) for r in _model().score(conversations)]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    os.environ["SYNPREF_REWARD_MODEL"] = sys.argv[1]
    prompts = ["What is the capital of France?", "Give me a prime number."]
    responses = [["Paris.", "Lyon, I think."], ["7", "Eight."]]
    queries = [p + r for p, rs in zip(prompts, responses) for r in rs]
    rollout_prompts = [p for p, rs in zip(prompts, responses) for _ in rs]
    out = reward_func(queries, rollout_prompts, labels=[None] * len(queries))
    print("openrlhf rewards:", [round(float(r), 6) for r in out["rewards"]])
    trl = trl_reward_func(rollout_prompts, [r for rs in responses for r in rs])
    print("trl rewards:", [round(r, 6) for r in trl])
    conversational = trl_reward_func([[{"role": "user", "content": p}] for p in rollout_prompts],
                                     [[{"role": "assistant", "content": r}] for rs in responses for r in rs])
    assert conversational == trl


if __name__ == "__main__":
    main()
