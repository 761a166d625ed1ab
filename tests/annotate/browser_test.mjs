// Browser test of the annotation UI: headless Chromium driven by playwright-core against the real
// `synpref annotate serve`. Two annotators log in and label their queues with the keyboard, an
// admin adjudicates the disagreement and exports the gold set; hostile pair text must render as
// text and never run. Screenshots go to ARTIFACTS (kept by CI).
//   node tests/annotate/browser_test.mjs SYNPREF_BINARY ARTIFACTS_DIR
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const { chromium } = require(path.join(root, "tools/node/node_modules/playwright-core"));

const [synpref, artifacts] = process.argv.slice(2);
if (!synpref || !artifacts) {
  console.error("usage: browser_test.mjs SYNPREF_BINARY ARTIFACTS_DIR");
  process.exit(2);
}
fs.mkdirSync(artifacts, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "synpref-annotate-browser-"));
const project = path.join(tmp, "p");
const hostile = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> <b>not bold</b>';

function check(condition, message) {
  if (!condition) throw new Error("check failed: " + message);
}

// Four pairs; the queue order (objective & low controversy first) is b1, b2, b3, b4.
function pool() {
  const pair = (id, objectivity, controversiality, question, good, bad, guideline) => JSON.stringify({
    id, kind: "pair", source: "browser", context: [{ role: "user", content: question }],
    chosen: { content: good }, rejected: { content: bad },
    attributes: { task_category: id === "b2" ? "code" : "math", objectivity, controversiality,
      desired_attributes: "correct", annotation_guideline: guideline },
  });
  return [
    pair("b1", "objective", "none", "What is 2+2? " + hostile, "GOOD: 4 " + hostile, "BAD: 5 " + hostile, hostile),
    pair("b2", "objective", "low", "Print hello in Python.", "GOOD:\n\n```python\nprint(\"hello\")\n```",
      "BAD: `echo hello`", "Prefer working code."),
    pair("b3", "mixed", "medium", "Is a tomato a fruit?", "GOOD: botanically yes", "BAD: no", "Botany."),
    pair("b4", "subjective", "high", "Best color?", "GOOD: it depends", "BAD: blue, obviously", ""),
  ].join("\n") + "\n";
}

function run(args, env = {}) {
  return execFileSync(synpref, args, { env: { ...process.env, ...env }, encoding: "utf8" });
}

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(synpref, ["annotate", "serve", "--project", project, "--port", "0"],
      { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve({ child, url: m[1] });
    });
    child.on("exit", (code) => reject(new Error("annotate serve exited with " + code)));
  });
}

async function login(page, url, name) {
  await page.goto(url);
  await page.fill("#login-name", name);
  await page.fill("#login-password", "password-" + name);
  await page.click("#login-submit");
  await page.waitForSelector("#nav:not([hidden])");
}

// Labels the queue with the keyboard; `pick(pairId-less view)` returns the key to press.
async function labelQueue(page, pick, shot) {
  const keys = [];
  for (let n = 0; n < 10; ++n) {
    await page.waitForSelector("#label-view, #done");
    if (await page.$("#done")) return keys;
    const itemId = await page.getAttribute("#label-view", "data-item-id");
    const first = await page.textContent("#resp-first");
    const second = await page.textContent("#resp-second");
    const question = await page.textContent("#conversation");
    if (n === 0 && shot) await page.screenshot({ path: path.join(artifacts, shot), fullPage: true });
    await page.waitForTimeout(150);  // time on the page, recorded with the label
    const key = pick({ first, second, question });
    keys.push(key);
    await page.keyboard.press(key);
    await page.waitForFunction((id) => {
      const view = document.getElementById("label-view");
      return document.getElementById("done") || (view && view.dataset.itemId !== id);
    }, itemId);
  }
  throw new Error("queue did not end");
}

const started = Date.now();
let server = null;
let browser = null;
try {
  fs.writeFileSync(path.join(tmp, "pool.jsonl"), pool());
  run(["curate", "init", project, "--pool", path.join(tmp, "pool.jsonl")]);
  for (const [name, role] of [["root", "admin"], ["alice", "annotator"], ["bob", "annotator"]])
    run(["annotate", "user", "add", "--project", project, "--name", name, "--role", role, "--password-env", "PW"],
      { PW: "password-" + name });
  run(["annotate", "queue", "--project", project, "--max", "10"]);
  server = await startServer();
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });

  // alice: always the GOOD response (keys 1 / 2), skips b4 with "s".
  const alice = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const dialogs = [];
  alice.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });
  await login(alice, server.url, "alice");
  // The hostile first pair renders as text: its markup is visible characters, nothing ran.
  await alice.waitForSelector("#label-view");
  check((await alice.textContent("#conversation")).includes("<script>window.__xss = 1</script>"),
    "hostile markup shown as text");
  check((await alice.textContent("#guideline")).includes('onerror="window.__xss = 2"'), "guideline as text");
  check(await alice.evaluate(() => window.__xss === undefined), "hostile script did not run");
  check((await alice.$$("#app script, #app img, #app b")).length === 0, "no element from pair text");
  const aliceKeys = await labelQueue(alice, (v) => {
    if (v.question.includes("Best color")) return "s";
    return v.first.includes("GOOD") ? "1" : "2";
  }, "01-alice-labeling.png");
  check(aliceKeys.length === 4, "alice labeled 4 pairs, got " + aliceKeys.length);
  await alice.screenshot({ path: path.join(artifacts, "02-alice-done.png"), fullPage: true });
  await alice.click("#nav-mine");
  await alice.waitForSelector("#my-labels");
  const mine = await alice.evaluate(async () => (await (await fetch("/api/labels")).json()).labels);
  check(mine.length === 4, "alice has 4 labels");
  check(mine.every((l) => l.user === "alice" && l.client_ms >= 100), "time on page recorded: " + JSON.stringify(mine));
  await alice.click("#nav-guidelines");
  await alice.waitForSelector("#guidelines");
  await alice.screenshot({ path: path.join(artifacts, "03-guidelines.png"), fullPage: true });

  // bob: agrees on b1, b2; on b3 he picks BAD (a disagreement); b4 "cannot determine".
  const bob = await (await browser.newContext()).newPage();
  await login(bob, server.url, "bob");
  const bobKeys = await labelQueue(bob, (v) => {
    if (v.question.includes("Best color")) return "c";
    const goodKey = v.first.includes("GOOD") ? "1" : "2";
    if (v.question.includes("tomato")) return goodKey === "1" ? "2" : "1";
    return goodKey;
  });
  check(bobKeys.length === 4, "bob labeled 4 pairs");
  // bob cannot read alice's labels through the API.
  const bobLabels = await bob.evaluate(async () => (await (await fetch("/api/labels")).json()).labels);
  check(bobLabels.every((l) => l.user === "bob"), "bob sees only his labels");
  const adminDenied = await bob.evaluate(async () => (await fetch("/api/admin/stats")).status);
  check(adminDenied === 403, "annotator gets 403 on admin routes");

  // root: adjudicates b3 with the keyboard (GOOD side), then exports.
  const admin = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  await login(admin, server.url, "root");
  await admin.click("#nav-admin");
  await admin.waitForSelector("#adjudicate-list .adjudicate-item");
  check((await admin.textContent("#stats-summary")).includes("disagreements 1"), "one disagreement");
  await admin.screenshot({ path: path.join(artifacts, "04-admin.png"), fullPage: true });
  await admin.click("#adjudicate-list .adjudicate-item");
  await admin.waitForSelector("#adjudicate-view");
  await admin.screenshot({ path: path.join(artifacts, "05-adjudicate.png"), fullPage: true });
  const good = (await admin.textContent("#resp-first")).includes("GOOD") ? "1" : "2";
  await admin.keyboard.press(good);
  await admin.waitForSelector("#stats-summary");
  await admin.waitForFunction(() => document.getElementById("stats-summary").textContent.includes("adjudicated 1"));
  // A one-time invite link: the new annotator sets a password and lands on the labeling page.
  await admin.fill("#new-user-name", "carol");
  await admin.click("#invite-button");
  await admin.waitForFunction(() => document.getElementById("invite-link").textContent.includes("#invite="));
  const inviteLink = await admin.textContent("#invite-link");
  const carol = await (await browser.newContext()).newPage();
  await carol.goto(inviteLink);
  await carol.fill("#invite-password", "password-carol");
  await carol.click("#invite-submit");
  await carol.waitForSelector("#label-view, #done");
  check((await carol.textContent("#whoami")).startsWith("carol"), "invited account logged in");
  await admin.click("#export-button");
  await admin.waitForFunction(() => document.getElementById("export-result").textContent.includes("gold_jsonl"));
  await admin.screenshot({ path: path.join(artifacts, "06-exported.png"), fullPage: true });
  const result = JSON.parse(await admin.textContent("#export-result"));
  check(result.summary.pairs === 3, "3 gold pairs (b1, b2 agreed; b3 adjudicated): " + JSON.stringify(result));
  check(result.project.pairs === 3, "exported into the curation database");
  const lines = fs.readFileSync(result.gold_jsonl, "utf8").trim().split("\n").map((l) => JSON.parse(l));
  check(lines.every((l) => l.verdict === 1), "every gold verdict is 'chosen better'");
  check(lines.some((l) => l.id === "b3" && l.annotator === "root"), "adjudicator provenance");
  check(!lines.some((l) => l.id === "b4"), "b4 (skip + cannot determine) is not gold");
  check(dialogs.length === 0, "no dialog opened by page content");
  const status = JSON.parse(run(["--json", "curate", "status", project]));
  check(status.gold === 3, "curate status counts 3 gold pairs, got " + status.gold);
  // The CLI export writes the same gold JSONL as the UI's export.
  const cliOut = path.join(tmp, "cli-gold.jsonl");
  const cli = JSON.parse(run(["--json", "annotate", "export", "--project", project, "--out", cliOut]));
  check(cli.pairs === 3 && fs.readFileSync(cliOut, "utf8") === fs.readFileSync(result.gold_jsonl, "utf8"),
    "annotate export CLI agrees with the UI export");
  console.log(`browser test ok in ${((Date.now() - started) / 1000).toFixed(1)} s; screenshots in ${artifacts}`);
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
  if (server) server.child.kill("SIGTERM");
  fs.rmSync(tmp, { recursive: true, force: true });
}
