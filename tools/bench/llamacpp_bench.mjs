// llama.cpp's CPU backend (through node-llama-cpp's prebuilt binaries) on a GGUF file written by
// `synpref convert gguf`: the baseline of the model benchmark and a second forward pass to compare
// logits with. Run from the repository root (node-llama-cpp lives in tools/node/node_modules).
//
//   node tools/bench/llamacpp_bench.mjs --model M.gguf --ids 1,2,3 [--reps 3]     one-shot, JSON out
//   node tools/bench/llamacpp_bench.mjs --model M.gguf --ids @ids.json             ids from a JSON array
//   node tools/bench/llamacpp_bench.mjs --model M.gguf --ids 1,2,3 --logits        next-token logits, JSON out
//   node tools/bench/llamacpp_bench.mjs --model M.gguf --serve                     line protocol:
//       stdout: {"ready": true, ...facts}                       once the model is loaded
//       stdin {"cmd": "run", "ids": [...]}    -> {"seconds": s}  prompt processing from scratch
//       stdin {"cmd": "logits", "ids": [...]} -> {"logits": [...]}  raw logits after the last id
//   options: --threads N (2), --batch N (512; tokens per llama_decode call, node-llama-cpp makes the
//            micro-batch the same; >= the longest sequence: one call),
//            --context N (1024), --kv f16|f32 (f16, llama.cpp's default), --flash-attention on|off|auto (auto)
//
// Every evaluation starts from an empty KV cache (the sequence's history is cleared), so a
// repetition measures prompt processing of the whole sequence, like synpref's one forward pass.
// Facts printed with the results: node-llama-cpp and llama.cpp versions, prebuilt or local build,
// the CPU backend library ggml loaded (ggml picks the best variant for this CPU at run time, e.g.
// libggml-cpu-sapphirerapids.so), llama.cpp's system info line, and the threads the context uses.
import {readFileSync} from "node:fs";
import {createRequire} from "node:module";
import path from "node:path";
import readline from "node:readline";
import {fileURLToPath, pathToFileURL} from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const nodeDir = path.resolve(here, "../node");

function parseArgs(argv) {
    const a = {threads: 2, batch: 512, context: 1024, kv: "f16", flashAttention: "auto", reps: 1, serve: false, logits: false};
    for (let i = 0; i < argv.length; ++i) {
        const k = argv[i], v = () => {
            if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
            return argv[++i];
        };
        if (k === "--model") a.model = v();
        else if (k === "--ids") a.ids = v();
        else if (k === "--reps") a.reps = Number(v());
        else if (k === "--threads") a.threads = Number(v());
        else if (k === "--batch") a.batch = Number(v());
        else if (k === "--context") a.context = Number(v());
        else if (k === "--kv") a.kv = v();
        else if (k === "--flash-attention") a.flashAttention = v();
        else if (k === "--serve") a.serve = true;
        else if (k === "--logits") a.logits = true;
        else throw new Error(`unknown argument ${k}`);
    }
    if (!a.model) throw new Error("--model FILE.gguf is required");
    if (!a.serve && !a.ids) throw new Error("give --ids or --serve");
    if (!["f16", "f32"].includes(a.kv)) throw new Error("--kv must be f16 or f32");
    if (!["on", "off", "auto"].includes(a.flashAttention)) throw new Error("--flash-attention must be on, off or auto");
    return a;
}

function parseIds(spec) {
    const ids = spec.startsWith("@") ? JSON.parse(readFileSync(spec.slice(1), "utf8")) : spec.split(",").map(Number);
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every(Number.isInteger)) throw new Error("--ids: expected integers");
    return ids;
}

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const require = createRequire(path.join(nodeDir, "package.json"));
    const entry = require.resolve("node-llama-cpp");  // tools/node/node_modules/node-llama-cpp/dist/index.js
    const version = JSON.parse(readFileSync(path.join(path.dirname(entry), "../package.json"), "utf8")).version;
    const {getLlama, LlamaLogLevel} = await import(pathToFileURL(entry).href);

    const logs = [];
    const llama = await getLlama({
        gpu: false,
        build: "never",  // the prebuilt binary or nothing: never download or compile
        usePrebuiltBinaries: true,
        skipDownload: true,
        progressLogs: false,
        maxThreads: args.threads,
        // ggml reports the CPU variant it loaded at "log" level, below "info"; collected, not printed.
        logLevel: LlamaLogLevel.debug,
        logger: (level, message) => {
            if (logs.length < 10000) logs.push(String(message).trim());
            if (level === LlamaLogLevel.error || level === LlamaLogLevel.fatal) process.stderr.write(`llama.cpp: ${message}\n`);
        },
    });
    const model = await llama.loadModel({modelPath: args.model, gpuLayers: 0, useMmap: true});
    const context = await model.createContext({
        contextSize: args.context,
        batchSize: args.batch,
        threads: {ideal: args.threads, min: args.threads},
        sequences: 1,
        flashAttention: args.flashAttention === "auto" ? "auto" : args.flashAttention === "on",
        experimentalKvCacheKeyType: args.kv.toUpperCase(),
        experimentalKvCacheValueType: args.kv.toUpperCase(),
    });
    const sequence = context.getSequence();
    llama.logLevel = LlamaLogLevel.warn;  // nothing to collect during evaluation

    const cpuBackend = logs.map(l => /loaded CPU backend from (\S+)/.exec(l)).find(m => m);
    // llama.cpp's context log line says what "auto" resolved to ("flash_attn = auto -> enabled").
    const flashLine = logs.map(l => /flash_attn\s*=\s*(.*)$/.exec(l)).filter(m => m).pop();
    const facts = {
        node_llama_cpp: version,
        llama_cpp: llama.llamaCppRelease.release,
        build: llama.buildType,
        gpu: llama.gpu,
        cpu_backend: cpuBackend ? path.basename(cpuBackend[1]) : "unknown (no 'loaded CPU backend' log line)",
        system_info: llama.systemInfo,
        threads: context.idealThreads,
        batch: context.batchSize,
        context: context.contextSize,
        kv: args.kv,
        flash_attention: args.flashAttention,
        flash_attention_log: flashLine ? flashLine[1].trim() : "unknown (no flash_attn log line)",
    };
    if (args.ids && Math.max(...parseIds(args.ids)) >= model.tokens.vocabSize) {
        throw new Error(`--ids: an id is >= the model's vocabulary size ${model.tokens.vocabSize}`);
    }

    // Prompt processing of `ids` from an empty cache; returns wall seconds.
    async function run(ids) {
        // More ids than the batch size: node-llama-cpp splits them into batch-size llama_decode calls.
        if (ids.length > context.contextSize) throw new Error(`${ids.length} ids exceed the context size ${context.contextSize}`);
        await sequence.clearHistory();
        const t0 = process.hrtime.bigint();
        await sequence.evaluateWithoutGeneratingNewTokens(ids);
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        if (context.currentThreads !== args.threads) {
            throw new Error(`llama.cpp used ${context.currentThreads} threads, not ${args.threads}`);
        }
        return seconds;
    }
    // Raw next-token logits after the last id (no sampling options applied).
    async function logits(ids) {
        await sequence.clearHistory();
        const input = ids.map((id, i) => i === ids.length - 1 ? [id, {generateNext: {logits: true}}] : id);
        const out = await sequence.controlledEvaluate(input);
        const last = out[ids.length - 1];
        if (!last || !last.next || !last.next.logits) throw new Error("llama.cpp returned no logits");
        const v = new Array(model.tokens.vocabSize).fill(null);
        for (const [token, value] of last.next.logits) v[token] = value;
        return v;
    }

    if (args.serve) {
        process.stdout.write(JSON.stringify({ready: true, ...facts}) + "\n");
        const rl = readline.createInterface({input: process.stdin});
        for await (const line of rl) {
            if (!line.trim()) continue;
            try {
                const req = JSON.parse(line);
                if (req.cmd === "run") process.stdout.write(JSON.stringify({seconds: await run(req.ids)}) + "\n");
                else if (req.cmd === "logits") process.stdout.write(JSON.stringify({logits: await logits(req.ids)}) + "\n");
                else throw new Error(`unknown cmd '${req.cmd}'`);
            } catch (e) {
                process.stdout.write(JSON.stringify({error: String(e && e.message || e)}) + "\n");
            }
        }
    } else if (args.logits) {
        process.stdout.write(JSON.stringify({...facts, logits: await logits(parseIds(args.ids))}) + "\n");
    } else {
        const ids = parseIds(args.ids);
        const seconds = [];
        for (let r = 0; r < args.reps; ++r) seconds.push(await run(ids));
        const tokensPerSecond = seconds.map(s => ids.length / s);
        process.stdout.write(JSON.stringify({...facts, tokens: ids.length, seconds, tokens_per_second: tokensPerSecond}) + "\n");
    }
    await context.dispose();
    await model.dispose();
    await llama.dispose();
}

main().catch(e => {
    process.stderr.write(`llamacpp_bench: ${e && e.stack || e}\n`);
    process.exit(1);
});
