// Extracts every string value from every dataset file under a data directory (default
// ../shared/data), for synpref's tokenizer exactness gate and benchmark.
//
//   node tools/node/corpus.mjs [DATA_DIR] > corpus.jsonl
//
// Reads *.json, *.jsonl and *.jsonl.gz (gzip) recursively, skipping tokenizers/ and models/. Every
// string anywhere in a record (prompts, responses, conversation turns, answers, ids, labels) is
// collected, deduplicated in first-seen order, and written as one JSON string per line. Strings
// that are not well-formed UTF-16 (lone surrogates from "\ud83d"-style escapes) cannot be UTF-8
// and are counted on stderr, not written. Output order is deterministic (sorted file paths).
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const dataDir = process.argv[2] ?? path.join(process.cwd(), "..", "shared", "data");
const skipDirs = new Set(["tokenizers", "models"]);

function listFiles(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!skipDirs.has(entry.name)) out.push(...listFiles(full));
    } else if (/\.(json|jsonl|jsonl\.gz)$/.test(entry.name)) {
      out.push(full);
    }
  }
  return out.sort();
}

// String.prototype.isWellFormed needs Node 20; Debian 12 ships Node 18.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const isWellFormed = (s) => (typeof s.isWellFormed === "function" ? s.isWellFormed() : !loneSurrogate.test(s));

const seen = new Set();
let skipped = 0;
const lines = [];
function collect(value) {
  if (typeof value === "string") {
    if (!isWellFormed(value)) {
      ++skipped;
      return;
    }
    if (!seen.has(value)) {
      seen.add(value);
      lines.push(JSON.stringify(value));
    }
  } else if (Array.isArray(value)) {
    for (const v of value) collect(v);
  } else if (value !== null && typeof value === "object") {
    for (const v of Object.values(value)) collect(v);
  }
}

const files = listFiles(dataDir);
if (files.length === 0) {
  console.error(`corpus.mjs: no .json/.jsonl/.jsonl.gz files under ${dataDir}`);
  process.exit(1);
}
for (const file of files) {
  let text = fs.readFileSync(file);
  if (file.endsWith(".gz")) text = zlib.gunzipSync(text);
  text = text.toString("utf8");
  if (file.endsWith(".json")) {
    collect(JSON.parse(text));
  } else {
    for (const line of text.split("\n")) if (line.trim().length > 0) collect(JSON.parse(line));
  }
}
process.stdout.write(lines.join("\n") + "\n");
console.error(`corpus.mjs: ${files.length} files, ${lines.length} distinct strings, ${skipped} ill-formed skipped`);
