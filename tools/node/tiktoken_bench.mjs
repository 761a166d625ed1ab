// Times npm tiktoken (Rust core compiled to WASM) on a corpus, for synpref-bench's
// tokenizer.encode workload (tools/bench/bench_tokenizer.cpp), which runs it side by side.
//
//   node tools/node/tiktoken_bench.mjs --model tokenizer.model --in corpus.jsonl [--passes N]
//
// Loads the Llama 3 ranks with Meta's pattern and special tokens, encodes every text once as a
// warm-up, then times N passes of encode_ordinary (tiktoken's fastest path: no special-token
// scan) and prints {"bytes", "tokens", "seconds", "mb_per_s"} as JSON (MB = 10^6 UTF-8 bytes).
import fs from "node:fs";
import { Tiktoken } from "tiktoken/lite";

const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const ranks = fs.readFileSync(option("--model"), "utf8");
const nBase = ranks.split("\n").filter((l) => l.length > 0).length;
const special = { "<|begin_of_text|>": nBase, "<|end_of_text|>": nBase + 1 };
const enc = new Tiktoken(ranks, special, LLAMA3_PATTERN);
const texts = fs
  .readFileSync(option("--in"), "utf8")
  .split("\n")
  .filter((l) => l.length > 0)
  .map((l) => JSON.parse(l));
const passes = Number(option("--passes", "1"));
let bytes = 0;
for (const t of texts) bytes += Buffer.byteLength(t, "utf8");
for (const t of texts) enc.encode_ordinary(t);  // warm-up
let tokens = 0;
const start = process.hrtime.bigint();
for (let pass = 0; pass < passes; ++pass) for (const t of texts) tokens += enc.encode_ordinary(t).length;
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
enc.free();
console.log(JSON.stringify({ bytes: bytes * passes, tokens, seconds, mb_per_s: (bytes * passes) / 1e6 / seconds }));
