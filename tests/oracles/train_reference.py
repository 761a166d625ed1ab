#!/usr/bin/python3
"""PyTorch autograd oracle for Bradley-Terry training (tests/train).

Builds Qwen3/Llama *ForSequenceClassification in fp32 from transformers' modeling code semantics
(RMSNorm, default/linear/llama3 RoPE, rotate_half, repeat_kv, eager causal attention with fp32
softmax, SwiGLU, final norm, score head read at the last non-pad token), runs each response as its
own unpadded sequence (prompt + response; no prefix sharing), and backpropagates
mean_p -log sigmoid(r_chosen - r_rejected - margin) with torch autograd.

Also: `adamw` runs torch.optim.AdamW (+ clip_grad_norm_) on given tensors, for the optimizer test;
`bench` times a training step (forward + backward + AdamW) of a random model for the benchmark.

Run with Debian's interpreter:
  /usr/bin/python3 tests/oracles/train_reference.py grad  --model DIR --pairs pairs.json --output out.json
      pairs.json: {"pairs": [{"prefix": [ids], "chosen": [ids], "rejected": [ids], "margin": m}, ...]}
      out.json:   {"loss": L, "r_chosen": [...], "r_rejected": [...], "grads": {name: [flat floats]}}
  /usr/bin/python3 tests/oracles/train_reference.py adamw --input in.json --output out.json
  /usr/bin/python3 tests/oracles/train_reference.py bench --config config.json --tokens T --pairs P --threads N
      (then "run" lines on stdin, one JSON timing line each)
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        raw = data[base + begin:base + end]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        else:
            raise ValueError(f"{path}: dtype {info['dtype']} not handled")
        out[name] = torch.from_numpy(arr.reshape(info["shape"]))
    return out


def compute_inv_freq(config, head_dim):
    """transformers' ROPE_INIT_FUNCTIONS: default, linear, llama3 (modeling_rope_utils.py)."""
    base = config.get("rope_theta", 10000.0)
    scaling = config.get("rope_scaling") or {}
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif rope_type == "llama3":
        factor = scaling["factor"]
        low, high = scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_len = scaling["original_max_position_embeddings"]
        low_wavelen, high_wavelen = old_len / low, old_len / high
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * inv_freq_llama / factor + smooth * inv_freq_llama
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        inv_freq = torch.where(medium, smoothed, inv_freq_llama)
    elif rope_type != "default":
        raise ValueError(f"rope_type {rope_type} not in the reference")
    return inv_freq


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class RewardModel:
    def __init__(self, config, weights):
        c = config
        self.c = c
        self.w = weights
        self.qk_norm = c.get("model_type") == "qwen3"
        self.n_layer = c["num_hidden_layers"]
        self.n_head = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads") or self.n_head
        self.head_dim = c.get("head_dim") or c["hidden_size"] // self.n_head
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.inv_freq = compute_inv_freq(c, self.head_dim)
        self.pad = c.get("pad_token_id")

    def get(self, name):
        return self.w.get("model." + name)

    def score(self, ids):
        """Reward of one unpadded sequence (transformers' pooling: last non-pad token)."""
        T = len(ids)
        input_ids = torch.tensor(ids, dtype=torch.int64)
        h = self.get("embed_tokens.weight")[input_ids]  # (T, C)
        pos = torch.arange(T).float()
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None], emb.sin()[None]  # (1, T, D)
        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)
        scale = self.head_dim ** -0.5
        n_rep = self.n_head // self.n_kv
        for l in range(self.n_layer):
            p = f"layers.{l}."
            x = rms_norm(h, self.get(p + "input_layernorm.weight"), self.eps)
            lin = lambda t, name: torch.nn.functional.linear(t, self.get(p + name + ".weight"), self.get(p + name + ".bias"))
            q = lin(x, "self_attn.q_proj").view(T, self.n_head, self.head_dim)
            k = lin(x, "self_attn.k_proj").view(T, self.n_kv, self.head_dim)
            v = lin(x, "self_attn.v_proj").view(T, self.n_kv, self.head_dim)
            if self.qk_norm:
                q = rms_norm(q, self.get(p + "self_attn.q_norm.weight"), self.eps)
                k = rms_norm(k, self.get(p + "self_attn.k_norm.weight"), self.eps)
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # (H, T, D)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(n_rep, dim=0)
            v = v.repeat_interleave(n_rep, dim=0)
            att = torch.softmax(q @ k.transpose(1, 2) * scale + mask, dim=-1, dtype=torch.float32) @ v
            att = att.transpose(0, 1).reshape(T, self.n_head * self.head_dim)
            h = h + lin(att, "self_attn.o_proj")
            x = rms_norm(h, self.get(p + "post_attention_layernorm.weight"), self.eps)
            g = lin(x, "mlp.gate_proj")
            u = lin(x, "mlp.up_proj")
            h = h + lin(torch.nn.functional.silu(g) * u, "mlp.down_proj")
        h = rms_norm(h, self.get("norm.weight"), self.eps)
        logits = h @ self.w["score.weight"].T  # (T, 1)
        last = T - 1
        if self.pad is not None:
            while last > 0 and ids[last] == self.pad:
                last -= 1
        return logits[last, 0]


def cmd_grad(args):
    torch.set_num_threads(1)
    with open(os.path.join(args.model, "config.json")) as f:
        config = json.load(f)
    weights = read_safetensors(os.path.join(args.model, "model.safetensors"))
    for t in weights.values():
        t.requires_grad_(True)
    model = RewardModel(config, weights)
    with open(args.pairs) as f:
        pairs = json.load(f)["pairs"]
    rc, rr, losses = [], [], []
    for p in pairs:
        c = model.score(p["prefix"] + p["chosen"])
        r = model.score(p["prefix"] + p["rejected"])
        rc.append(c)
        rr.append(r)
        losses.append(-torch.nn.functional.logsigmoid(c - r - p.get("margin", 0.0)))
    loss = torch.stack(losses).mean()
    loss.backward()
    out = {
        "loss": loss.item(),
        "r_chosen": [x.item() for x in rc],
        "r_rejected": [x.item() for x in rr],
        "grads": {name: (t.grad if t.grad is not None else torch.zeros_like(t)).reshape(-1).tolist()
                  for name, t in weights.items()},
    }
    with open(args.output, "w") as f:
        json.dump(out, f)


def cmd_adamw(args):
    """{"params": [..], "grads": [[..] per step], "lr": [..], "weight_decay": wd, "max_norm": m, ...}"""
    with open(args.input) as f:
        spec = json.load(f)
    p = torch.tensor(spec["params"], dtype=torch.float32, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=spec["lr"][0], betas=(spec["beta1"], spec["beta2"]), eps=spec["eps"],
                            weight_decay=spec["weight_decay"], foreach=False)
    norms = []
    for step, g in enumerate(spec["grads"]):
        for group in opt.param_groups:
            group["lr"] = spec["lr"][step]
        p.grad = torch.tensor(g, dtype=torch.float32)
        norms.append(float(torch.nn.utils.clip_grad_norm_([p], spec["max_norm"])))
        opt.step()
    with open(args.output, "w") as f:
        json.dump({"params": p.detach().tolist(), "norms": norms}, f)


def cmd_bench(args):
    """A training step of a random RM, timed for synpref-bench (tools/bench/bench_train.cpp).

    Prints "ready" after setup, then answers each "run" line on stdin with one JSON line:
    {"fwd_bwd_s": ..., "optimizer_s": ..., "tokens": ...} for forward + backward of the mean BT loss
    over `pairs` pairs whose two responses are full sequences of `tokens` tokens each (transformers
    has no prefix sharing; the 2 * pairs sequences run as one batch), then torch.optim.AdamW.step().
    """
    torch.set_num_threads(args.threads)
    with open(args.config) as f:
        config = json.load(f)
    torch.manual_seed(0)
    C, F = config["hidden_size"], config["intermediate_size"]
    H, Hkv = config["num_attention_heads"], config["num_key_value_heads"]
    D = config.get("head_dim") or C // H
    names = {"model.embed_tokens.weight": (config["vocab_size"], C), "model.norm.weight": (C,), "score.weight": (1, C)}
    for l in range(config["num_hidden_layers"]):
        p = f"model.layers.{l}."
        names.update({p + "input_layernorm.weight": (C,), p + "post_attention_layernorm.weight": (C,),
                      p + "self_attn.q_proj.weight": (H * D, C), p + "self_attn.k_proj.weight": (Hkv * D, C),
                      p + "self_attn.v_proj.weight": (Hkv * D, C), p + "self_attn.o_proj.weight": (C, H * D),
                      p + "mlp.gate_proj.weight": (F, C), p + "mlp.up_proj.weight": (F, C),
                      p + "mlp.down_proj.weight": (C, F)})
        if config.get("model_type") == "qwen3":
            names.update({p + "self_attn.q_norm.weight": (D,), p + "self_attn.k_norm.weight": (D,)})
    weights = {}
    for n, shape in names.items():
        t = torch.ones(shape) if "norm" in n else torch.randn(shape) * 0.02
        weights[n] = t.requires_grad_(True)
    model = BatchedRewardModel(config, weights)
    opt = torch.optim.AdamW(list(weights.values()), lr=1e-5)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, config["vocab_size"], (2 * args.pairs, args.tokens), generator=g)
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() != "run":
            break
        t0 = time.perf_counter()
        opt.zero_grad()
        r = model.scores(ids)
        loss = -torch.nn.functional.logsigmoid(r[0::2] - r[1::2]).mean()
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        print(json.dumps({"fwd_bwd_s": t1 - t0, "optimizer_s": t2 - t1, "tokens": int(ids.numel())}), flush=True)


class BatchedRewardModel(RewardModel):
    """RewardModel over a batch of equal-length unpadded sequences (B, T), scored at the last token."""

    def scores(self, input_ids):
        B, T = input_ids.shape
        h = self.get("embed_tokens.weight")[input_ids]  # (B, T, C)
        pos = torch.arange(T).float()
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]  # (1, 1, T, D)
        mask = torch.full((T, T), torch.finfo(torch.float32).min).triu(1)
        scale = self.head_dim ** -0.5
        n_rep = self.n_head // self.n_kv
        for l in range(self.n_layer):
            p = f"layers.{l}."
            x = rms_norm(h, self.get(p + "input_layernorm.weight"), self.eps)
            lin = lambda t, name: torch.nn.functional.linear(t, self.get(p + name + ".weight"), self.get(p + name + ".bias"))
            q = lin(x, "self_attn.q_proj").view(B, T, self.n_head, self.head_dim)
            k = lin(x, "self_attn.k_proj").view(B, T, self.n_kv, self.head_dim)
            v = lin(x, "self_attn.v_proj").view(B, T, self.n_kv, self.head_dim)
            if self.qk_norm:
                q = rms_norm(q, self.get(p + "self_attn.q_norm.weight"), self.eps)
                k = rms_norm(k, self.get(p + "self_attn.k_norm.weight"), self.eps)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, D)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            k = k.repeat_interleave(n_rep, dim=1)
            v = v.repeat_interleave(n_rep, dim=1)
            att = torch.softmax(q @ k.transpose(2, 3) * scale + mask, dim=-1, dtype=torch.float32) @ v
            att = att.transpose(1, 2).reshape(B, T, self.n_head * self.head_dim)
            h = h + lin(att, "self_attn.o_proj")
            x = rms_norm(h, self.get(p + "post_attention_layernorm.weight"), self.eps)
            h = h + lin(torch.nn.functional.silu(lin(x, "mlp.gate_proj")) * lin(x, "mlp.up_proj"), "mlp.down_proj")
        h = rms_norm(h[:, -1], self.get("norm.weight"), self.eps)
        return (h @ self.w["score.weight"].T)[:, 0]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("grad")
    g.add_argument("--model", required=True)
    g.add_argument("--pairs", required=True)
    g.add_argument("--output", required=True)
    a = sub.add_parser("adamw")
    a.add_argument("--input", required=True)
    a.add_argument("--output", required=True)
    b = sub.add_parser("bench")
    b.add_argument("--config", required=True)
    b.add_argument("--tokens", type=int, required=True)
    b.add_argument("--pairs", type=int, default=1)
    b.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    {"grad": cmd_grad, "adamw": cmd_adamw, "bench": cmd_bench}[args.cmd](args)


if __name__ == "__main__":
    main()
