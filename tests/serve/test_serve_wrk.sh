#!/bin/bash
# `synpref serve` under load from a real load generator (Debian's wrk) on loopback.
#  1. Rated load: 16 connections for a few seconds against a queue that can hold them all: zero
#     errors, zero non-200s, every body byte-identical to the answer to the same request sent alone.
#  2. Beyond it: 64 connections against a queue that holds one request: every answer is a 200 (still
#     byte-identical) or a 429 with Retry-After, never a 5xx, a timeout or a dropped connection, and
#     the server's /metrics counts the 429s wrk saw (plus at most one per connection that wrk left
#     unread when its time was up).
# Prints the figures (requests/s, p50/p99 latency). Usage: test_serve_wrk.sh SYNPREF_BINARY [SECONDS]
set -euo pipefail
synpref=$1
seconds=${2:-4}
here=$(cd "$(dirname "$0")" && pwd)
shared=$(cd "$here/../../../shared/data" && pwd)
tmp=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT
export CI=1

"$synpref" init-model --arch qwen3 --preset qwen3-tiny --tokenizer "$shared/tokenizers/qwen3" --seed 4 \
  --init-std 0.2 --out "$tmp/rm" >/dev/null

# Eight OpenRLHF queries: four prompts, two responses each.
python3 - "$tmp/body.json" <<'PY'
import json, sys
q, p = [], []
for i in range(4):
    prompt = f"<|im_start|>user\nWhat is {i} plus {i}?<|im_end|>\n<|im_start|>assistant\n"
    for answer in (f"It is {2 * i}.", "I do not know, sorry."):
        q.append(prompt + "<think>\n\n</think>\n\n" + answer + "<|im_end|>\n")
        p.append(prompt)
json.dump({"query": q, "prompts": p, "labels": [None] * len(q)}, open(sys.argv[1], "w"))
PY

start_server() {  # extra flags...
  "$synpref" serve --model "$tmp/rm" --port 0 --threads 2 --http-threads 80 "$@" >"$tmp/serve.out" 2>"$tmp/serve.err" &
  server_pid=$!
  for _ in $(seq 600); do
    if grep -q '^listening on ' "$tmp/serve.out"; then break; fi
    sleep 0.1
  done
  url=$(sed -n 's/^listening on //p' "$tmp/serve.out")
  [ -n "$url" ] || { echo "server did not start:"; cat "$tmp/serve.err"; exit 1; }
}
stop_server() {
  kill -TERM "$server_pid"
  wait "$server_pid"  # exit status 0: a graceful stop
  server_pid=""
}
field() {  # NAME FILE -> the number after NAME=
  sed -n "s/.*[ ]$1=\([0-9.]*\).*/\1/p; s/^$1=\([0-9.]*\).*/\1/p" "$2" | head -1
}
expect() {  # DESCRIPTION CONDITION
  if ! eval "$2"; then echo "FAIL: $1 ($2)"; cat "$tmp/wrk.out" "$tmp/serve.err"; exit 1; fi
}

# 1. Rated load.
start_server --max-queue 4096
curl -sf -X POST -H 'Content-Type: application/json' --data-binary @"$tmp/body.json" "$url/get_reward" >"$tmp/expected.json"
wrk -t2 -c16 -d"${seconds}s" --timeout 30s -s "$here/wrk_get_reward.lua" "$url/get_reward" -- "$tmp/body.json" \
  "$tmp/expected.json" >"$tmp/wrk.out"
sed -n 's/^FIGURES/rated load (16 connections):/p' "$tmp/wrk.out"
grep STATUS "$tmp/wrk.out"
expect "requests were answered" "[ $(field ok "$tmp/wrk.out") -gt 0 ]"
for key in refused other mismatched; do expect "no $key answers at the rated load" "[ $(field $key "$tmp/wrk.out") -eq 0 ]"; done
for key in connect read write timeout; do expect "no $key errors at the rated load" "[ $(field $key "$tmp/wrk.out") -eq 0 ]"; done
stop_server

# 2. Beyond it: the queue holds one request of 8 sequences.
start_server --max-queue 8 --max-items 8
wrk -t2 -c64 -d"${seconds}s" --timeout 30s -s "$here/wrk_get_reward.lua" "$url/get_reward" -- "$tmp/body.json" \
  "$tmp/expected.json" >"$tmp/wrk.out"
sed -n 's/^FIGURES/overload (64 connections, queue of one request):/p' "$tmp/wrk.out"
grep STATUS "$tmp/wrk.out"
refused=$(field refused "$tmp/wrk.out")
expect "some requests were scored" "[ $(field ok "$tmp/wrk.out") -gt 0 ]"
for key in other mismatched no_retry_after; do expect "no $key answers under overload" "[ $(field $key "$tmp/wrk.out") -eq 0 ]"; done
for key in connect read write timeout; do expect "no $key errors under overload" "[ $(field $key "$tmp/wrk.out") -eq 0 ]"; done
metrics_429=$(curl -sf "$url/metrics" | sed -n 's/^synpref_serve_requests_total{endpoint="\/get_reward",code="429"} //p')
# wrk stops reading when its time is up: up to one answer per connection is counted by the server only.
expect "/metrics counts the 429s wrk saw" "[ ${metrics_429:-0} -ge $refused ] && [ ${metrics_429:-0} -le $((refused + 64)) ]"
stop_server
echo "ok"
