#!/usr/bin/python3
"""PyTorch reference of Qwen3/Llama *ForSequenceClassification / *ForCausalLM in fp32.

Written from transformers' modeling_llama.py / modeling_qwen3.py (RMSNorm, rotary embedding with
default/linear/llama3 inverse frequencies, rotate_half, repeat_kv, eager attention with an additive
causal mask and fp32 softmax, SwiGLU MLP, last-non-pad-token pooling), without importing
transformers (not installable here). Also a numpy forward of llama2.c's run.c (interleaved-pair RoPE)
that reads the .bin checkpoint directly, independent of our HF conversion.

Run with Debian's interpreter: /usr/bin/python3 tests/oracles/model_reference.py <command> ...
  score   --model DIR --input seqs.json --output out.json   {"sequences": [[ids]]} -> {"scores": [..]}
  logits  --model DIR --input seqs.json --output out.json   -> {"logits": [[T*V floats], ...]}
  llama2c --bin FILE  --input seqs.json --output out.json   -> {"logits": [[T*V floats], ...]}
  bench   --model DIR --seq-len N --threads K               reads "run" lines on stdin, prints tokens/s
  --attn-chunk N (score, logits, bench): -1 (default) eager attention up to 2048 tokens, query-chunked
  above; 0 always eager; N > 0 chunks of N query rows. The chunked path computes the same softmax per
  query row as eager attention (see causal_attention) without materializing heads x T x T scores,
  which at 16K tokens is 17 GB per layer for Qwen3-0.6B.
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

torch.set_grad_enabled(False)


# ----------------------------------------------------------------------------- checkpoint reading

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
        shape = info["shape"]
        if info["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype="<f4").copy()
        elif info["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        elif info["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: dtype {info['dtype']} not handled by the reference")
        out[name] = torch.from_numpy(arr.reshape(shape))
    return out


def load_folder(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        weights = read_safetensors(single)
    else:
        with open(os.path.join(folder, "model.safetensors.index.json")) as f:
            index = json.load(f)
        weights = {}
        for shard in sorted(set(index["weight_map"].values())):
            weights.update(read_safetensors(os.path.join(folder, shard)))
    return config, weights


# ----------------------------------------------------------------------------- transformers' modules

class RMSNorm:
    """LlamaRMSNorm / Qwen3RMSNorm."""

    def __init__(self, weight, eps):
        self.weight = weight
        self.variance_epsilon = eps

    def __call__(self, hidden_states):
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)


def compute_inv_freq(config):
    """ROPE_INIT_FUNCTIONS: default, linear, llama3 (modeling_rope_utils.py)."""
    base = config.get("rope_theta", 10000.0)
    scaling = config.get("rope_scaling") or config.get("rope_parameters") or {}
    if "rope_theta" in scaling:
        base = scaling["rope_theta"]
    head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
    dim = head_dim
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rope_type = scaling.get("rope_type", scaling.get("type", "default"))
    if rope_type == "linear":
        inv_freq = inv_freq / scaling["factor"]
    elif rope_type == "llama3":
        factor = scaling["factor"]
        low_freq_factor = scaling["low_freq_factor"]
        high_freq_factor = scaling["high_freq_factor"]
        old_context_len = scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        inv_freq = torch.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    elif rope_type != "default":
        raise ValueError(f"rope_type {rope_type} not in the reference")
    return inv_freq


def rotary_cos_sin(inv_freq, position_ids):
    """LlamaRotaryEmbedding.forward (attention_scaling = 1 for default/linear/llama3)."""
    inv_freq_expanded = inv_freq[None, :, None].float().expand(position_ids.shape[0], -1, 1)
    position_ids_expanded = position_ids[:, None, :].float()
    freqs = (inv_freq_expanded.float() @ position_ids_expanded.float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=1):
    cos = cos.unsqueeze(unsqueeze_dim)
    sin = sin.unsqueeze(unsqueeze_dim)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed


def repeat_kv(hidden_states, n_rep):
    batch, num_key_value_heads, slen, head_dim = hidden_states.shape
    if n_rep == 1:
        return hidden_states
    hidden_states = hidden_states[:, :, None, :, :].expand(batch, num_key_value_heads, n_rep, slen, head_dim)
    return hidden_states.reshape(batch, num_key_value_heads * n_rep, slen, head_dim)


def linear(x, w, b=None):
    return torch.nn.functional.linear(x, w, b)


EAGER_MAX_TOKENS = 2048  # --attn-chunk -1: eager attention up to this length
CHUNK_SCORE_BYTES = 512 << 20  # --attn-chunk -1: query rows per chunk keep heads x rows x T scores below this


def auto_attn_chunk(n_head, T):
    """Query rows per chunk for --attn-chunk -1 (0: eager)."""
    if T <= EAGER_MAX_TOKENS:
        return 0
    chunk = 64
    while chunk * 2 < T and n_head * (chunk * 2) * T * 4 <= CHUNK_SCORE_BYTES:
        chunk *= 2
    return chunk


def attention_masks(T, chunk):
    """The additive causal masks causal_attention applies: eager (chunk = 0 or >= T), one (1, 1, T, T)
    mask; chunked, one (1, 1, e - s, e) mask per chunk of query rows s..e-1 (row i: keys j > s + i get
    finfo.min). Built once per forward pass and shared by the layers."""
    min_value = torch.finfo(torch.float32).min
    if chunk <= 0 or chunk >= T:
        return [torch.full((T, T), min_value).triu(1)[None, None]]
    return [torch.full((min(T, s + chunk) - s, min(T, s + chunk)), min_value).triu(s + 1)[None, None]
            for s in range(0, T, chunk)]


def causal_attention(q, k, v, scaling, chunk, masks=None):
    """eager_attention_forward with a causal mask: softmax(q k^T * scaling + mask) v, (1, H, T, D) each.

    chunk = 0: transformers' eager path as written (the whole (T, T) additive mask and score matrix).
    chunk > 0: the same per query row, computed for chunk rows at a time: rows s..e-1 see keys 0..e-1
    with the eager path's additive mask (finfo.min above the diagonal); the keys >= e that eager attention
    also masks for these rows are left out, which drops only exact zeros (exp(finfo.min - max) = 0) from
    each softmax sum and from the product with v. masks: attention_masks(T, chunk) (built when None).
    """
    T = q.shape[2]
    if masks is None:
        masks = attention_masks(T, chunk)
    if chunk <= 0 or chunk >= T:
        attn_weights = torch.matmul(q, k.transpose(2, 3)) * scaling
        attn_weights = attn_weights + masks[0]
        attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32)
        return torch.matmul(attn_weights, v)
    out = torch.empty_like(q)
    for mask, s in zip(masks, range(0, T, chunk)):
        e = min(T, s + chunk)
        attn_weights = torch.matmul(q[:, :, s:e], k[:, :, :e].transpose(2, 3)) * scaling
        attn_weights = attn_weights + mask
        attn_weights = torch.nn.functional.softmax(attn_weights, dim=-1, dtype=torch.float32)
        out[:, :, s:e] = torch.matmul(attn_weights, v[:, :, :e])
    return out


class Model:
    def __init__(self, folder, attn_chunk=-1):
        self.config, self.w = load_folder(folder)
        self.attn_chunk = attn_chunk  # --attn-chunk
        self.last_attn_chunk = 0  # the chunk the last forward pass used (0: eager)
        c = self.config
        arch = c["architectures"][0]
        self.qk_norm = arch.startswith("Qwen3") or c.get("model_type") == "qwen3"
        self.prefix = "model." if "model.embed_tokens.weight" in self.w else ""
        self.n_layer = c["num_hidden_layers"]
        self.n_head = c["num_attention_heads"]
        self.n_kv = c.get("num_key_value_heads") or self.n_head
        default_head_dim = 128 if self.qk_norm else c["hidden_size"] // self.n_head
        self.head_dim = c.get("head_dim") or default_head_dim
        self.eps = c.get("rms_norm_eps", 1e-6)
        self.inv_freq = compute_inv_freq(dict(c, head_dim=self.head_dim))
        self.pad = c.get("pad_token_id")
        self.tie = c.get("tie_word_embeddings", False)

    def p(self, name):
        return self.w[self.prefix + name]

    def hidden(self, ids):
        """Final-norm hidden states (T, C) of one unpadded sequence (batch 1)."""
        input_ids = torch.tensor([ids], dtype=torch.int64)
        T = input_ids.shape[1]
        h = self.p("embed_tokens.weight")[input_ids]  # (1, T, C)
        position_ids = torch.arange(T)[None, :]
        cos, sin = rotary_cos_sin(self.inv_freq, position_ids)
        chunk = auto_attn_chunk(self.n_head, T) if self.attn_chunk < 0 else self.attn_chunk
        self.last_attn_chunk = chunk if 0 < chunk < T else 0
        masks = attention_masks(T, chunk)  # once per forward pass (chunked at 16K: 512 MB in all)
        scaling = self.head_dim ** -0.5
        for l in range(self.n_layer):
            lp = f"layers.{l}."
            residual = h
            x = RMSNorm(self.p(lp + "input_layernorm.weight"), self.eps)(h)
            hidden_shape = (1, T, -1, self.head_dim)
            q = linear(x, self.p(lp + "self_attn.q_proj.weight"), self.w.get(self.prefix + lp + "self_attn.q_proj.bias")).view(hidden_shape)
            k = linear(x, self.p(lp + "self_attn.k_proj.weight"), self.w.get(self.prefix + lp + "self_attn.k_proj.bias")).view(hidden_shape)
            v = linear(x, self.p(lp + "self_attn.v_proj.weight"), self.w.get(self.prefix + lp + "self_attn.v_proj.bias")).view(hidden_shape)
            if self.qk_norm:
                q = RMSNorm(self.p(lp + "self_attn.q_norm.weight"), self.eps)(q)
                k = RMSNorm(self.p(lp + "self_attn.k_norm.weight"), self.eps)(k)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k = repeat_kv(k, self.n_head // self.n_kv)
            v = repeat_kv(v, self.n_head // self.n_kv)
            attn_output = causal_attention(q, k, v, scaling, chunk, masks).transpose(1, 2).reshape(1, T, -1)
            attn_output = linear(attn_output, self.p(lp + "self_attn.o_proj.weight"), self.w.get(self.prefix + lp + "self_attn.o_proj.bias"))
            h = residual + attn_output
            residual = h
            x = RMSNorm(self.p(lp + "post_attention_layernorm.weight"), self.eps)(h)
            gate = linear(x, self.p(lp + "mlp.gate_proj.weight"), self.w.get(self.prefix + lp + "mlp.gate_proj.bias"))
            up = linear(x, self.p(lp + "mlp.up_proj.weight"), self.w.get(self.prefix + lp + "mlp.up_proj.bias"))
            mlp = linear(torch.nn.functional.silu(gate) * up, self.p(lp + "mlp.down_proj.weight"), self.w.get(self.prefix + lp + "mlp.down_proj.bias"))
            h = residual + mlp
        return RMSNorm(self.p("norm.weight"), self.eps)(h)[0]

    def score(self, ids):
        """*ForSequenceClassification: score head on every token, pooled at the last non-pad token."""
        logits = linear(self.hidden(ids), self.w["score.weight"])  # (T, num_labels)
        input_ids = torch.tensor(ids)
        if self.pad is None:
            last = len(ids) - 1
        else:
            non_pad_mask = (input_ids != self.pad).int()
            token_indices = torch.arange(len(ids))
            last = int((token_indices * non_pad_mask).argmax(-1))
        return float(logits[last, 0])

    def logits(self, ids):
        head = self.p("embed_tokens.weight") if self.tie else self.w["lm_head.weight"]
        return linear(self.hidden(ids), head)


# ----------------------------------------------------------------------------- llama2.c (run.c) in numpy

def llama2c_logits(path, ids):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("<7i", data[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    w = np.frombuffer(data[28:], dtype="<f4").astype(np.float64)
    hs = dim // n_heads
    kv_dim = n_kv * hs
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = w[off:off + n].reshape(shape)
        off += n
        return a

    tok = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, dim, dim)
    wk = take(n_layers, kv_dim, dim)
    wv = take(n_layers, kv_dim, dim)
    wo = take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    rms_final = take(dim)
    take(seq_len, hs)  # freq_cis_real + freq_cis_imag
    wcls = tok if shared else take(vocab, dim)

    def rmsnorm(x, weight):
        return weight * (x / np.sqrt(np.mean(x * x) + 1e-5))

    T = len(ids)
    key_cache = np.zeros((n_layers, T, kv_dim))
    value_cache = np.zeros((n_layers, T, kv_dim))
    out = np.zeros((T, vocab))
    for pos, token in enumerate(ids):
        x = tok[token].copy()
        for l in range(n_layers):
            xb = rmsnorm(x, rms_att[l])
            q = wq[l] @ xb
            k = wk[l] @ xb
            v = wv[l] @ xb
            for i in range(0, dim, 2):  # run.c: interleaved pairs, frequency from i % head_size
                head_dim = i % hs
                freq = 1.0 / 10000.0 ** (head_dim / hs)
                val = pos * freq
                fcr, fci = math.cos(val), math.sin(val)
                for vec in ([q, k] if i < kv_dim else [q]):
                    v0, v1 = vec[i], vec[i + 1]
                    vec[i] = v0 * fcr - v1 * fci
                    vec[i + 1] = v0 * fci + v1 * fcr
            key_cache[l, pos] = k
            value_cache[l, pos] = v
            xb = np.zeros(dim)
            for h in range(n_heads):
                kvh = h // (n_heads // n_kv)
                qh = q[h * hs:(h + 1) * hs]
                keys = key_cache[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
                att = keys @ qh / math.sqrt(hs)
                att = np.exp(att - att.max())
                att /= att.sum()
                xb[h * hs:(h + 1) * hs] = att @ value_cache[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
            x = x + wo[l] @ xb
            xb = rmsnorm(x, rms_ffn[l])
            h1 = w1[l] @ xb
            h3 = w3[l] @ xb
            x = x + w2[l] @ ((h1 / (1.0 + np.exp(-h1))) * h3)
        out[pos] = wcls @ rmsnorm(x, rms_final)
    return out


# ----------------------------------------------------------------------------- commands

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["score", "logits", "llama2c", "bench"])
    ap.add_argument("--model")
    ap.add_argument("--bin")
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--attn-chunk", type=int, default=-1)
    args = ap.parse_args()

    if args.command == "bench":
        # "run": one forward pass of --seq-len random ids; "run [ids...]" (a JSON array): of those ids.
        # Each answer is the tokens/s of that pass and the attention path it took ("eager", "chunk=N").
        torch.set_num_threads(args.threads)
        model = Model(args.model, args.attn_chunk)
        default_ids = [int(i) for i in np.random.default_rng(0).integers(0, model.config["vocab_size"], args.seq_len)]
        print("ready", flush=True)
        for line in sys.stdin:
            line = line.strip()
            if line != "run" and not line.startswith("run "):
                break
            ids = json.loads(line[4:]) if line.startswith("run ") else default_ids
            t0 = time.perf_counter()
            model.score(ids) if "score.weight" in model.w else model.hidden(ids)
            dt = time.perf_counter() - t0
            path = f"chunk={model.last_attn_chunk}" if model.last_attn_chunk else "eager"
            print(f"{len(ids) / dt:.6f} {path}", flush=True)
        return

    with open(args.input) as f:
        seqs = json.load(f)["sequences"]
    if args.command in ("score", "logits"):
        model = Model(args.model, args.attn_chunk)
        chunks = []  # per sequence: the query rows per attention chunk (0: eager)
        if args.command == "score":
            result = {"scores": []}
            for s in seqs:
                result["scores"].append(model.score(s))
                chunks.append(model.last_attn_chunk)
        else:
            result = {"logits": []}
            for s in seqs:
                result["logits"].append(model.logits(s).reshape(-1).tolist())
                chunks.append(model.last_attn_chunk)
        result["attn_chunks"] = chunks
    else:
        result = {"logits": [llama2c_logits(args.bin, s).reshape(-1).tolist() for s in seqs]}
    with open(args.output, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
