// Browser test of the HTML reports (registered in tests/report/CMakeLists.txt; docs/reports.md).
//
// Makes a small JudgeBench and RM-Bench set with scores and a training run folder, has the real
// `synpref` binary write the pages (`eval --html`, `report eval`, `report train`), opens each in
// headless Chromium (Debian's, driven by playwright-core from tools/node/node_modules) with the
// network cut off, and checks in the rendered Vega scenegraph (window.synprefCharts[id].view) that
// the marks carry the numbers of the JSON report / metrics.jsonl and sit where the y scale puts
// them, that every chart drew an <svg>, that nothing was fetched and that nothing was logged as an
// error or warning. Bounded: gives up after 50 s.
//
//   node tests/report/browser_test.mjs --synpref BIN --node-modules DIR [--chromium PATH] [--keep]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const kTimeLimitMs = 50_000;
const options = {chromium: '/usr/lib/chromium/chromium', keep: false};
for (let i = 2; i < process.argv.length; ++i) {
  const flag = process.argv[i];
  if (flag === '--synpref') options.synpref = path.resolve(process.argv[++i]);
  else if (flag === '--node-modules') options.nodeModules = process.argv[++i];
  else if (flag === '--chromium') options.chromium = process.argv[++i];
  else if (flag === '--keep') options.keep = true;
  else throw new Error(`unknown argument ${flag}`);
}
if (!options.synpref || !options.nodeModules) {
  console.error('usage: browser_test.mjs --synpref BIN --node-modules DIR [--chromium PATH] [--keep]');
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error(`FAIL: the browser test ran past ${kTimeLimitMs / 1000} s`);
  process.exit(1);
}, kTimeLimitMs);

const { chromium } = createRequire(path.resolve(options.nodeModules, 'package.json'))('playwright-core');

const failures = [];
let n_checks = 0;
function check(ok, what) {
  ++n_checks;
  if (!ok) failures.push(what);
}
const near = (a, b, tol = 1e-9) => typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= tol;

// ---- Inputs: deterministic, small, with numbers that differ from chart to chart.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synpref_browser_'));
process.on('exit', () => { if (!options.keep) fs.rmSync(tmp, {recursive: true, force: true}); });
let seed = 12345;
function random() {  // a small LCG: the same scores every run
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed / 2147483648;
}
const writeJsonl = (file, rows) => fs.writeFileSync(file, rows.map(r => JSON.stringify(r)).join('\n') + '\n');

function makeJudgeBench() {
  const dir = path.join(tmp, 'judgebench');
  fs.mkdirSync(dir);
  const sources = ['mmlu-pro-math', 'livebench-reasoning', 'livebench-math', 'livecodebench'];
  const items = [], scores = [];
  sources.forEach((source, c) => {
    for (let k = 0; k < 6; ++k) {
      const id = `${source}-${k}`;
      const label = k % 2 ? 'A>B' : 'B>A';
      items.push({pair_id: id, source, question: `q ${id}`, response_A: 'a', response_B: 'b', label});
      const right = k <= c + 1;  // category c gets c + 2 of 6 right
      const better = 0.5 + random(), worse = better - 0.25;
      const [a, b] = (label === 'A>B') === right ? [better, worse] : [worse, better];
      scores.push({id, scores: [a, b]});
    }
  });
  writeJsonl(path.join(dir, 'judgebench.jsonl'), items);
  writeJsonl(path.join(tmp, 'judgebench.scores.jsonl'), scores);
  return dir;
}

function makeRmBench() {
  const dir = path.join(tmp, 'rm-bench');
  fs.mkdirSync(dir);
  const scores = [];
  for (const [domain, n] of [['chat', 5], ['safety-refuse', 4]]) {
    const items = [];
    for (let k = 0; k < n; ++k) {
      const id = `${k}`;
      items.push({id, prompt: `p ${k}`, chosen: ['c0', 'c1', 'c2'], rejected: ['r0', 'r1', 'r2']});
      scores.push({id: `${domain}:${id}`, scores: Array.from({length: 6}, () => Math.round(random() * 100) / 10)});
    }
    fs.writeFileSync(path.join(dir, `${domain}_filtered.json`), JSON.stringify(items));
  }
  writeJsonl(path.join(tmp, 'rm-bench.scores.jsonl'), scores);
  return dir;
}

function makeTrainRun() {
  const dir = path.join(tmp, 'run');
  fs.mkdirSync(dir);
  const lines = [{kind: 'start', step: 0, pairs: 96, eval_pairs: 24, total_steps: 12, params: 52000, kernels: 'avx2'}];
  const evalLine = step => {
    const acc = 0.5 + step / 40;
    return {kind: 'eval', step, eval_pairs: 24, eval_loss: 0.7 - step / 50, eval_accuracy: acc,
            eval_margin: step / 20, eval_accuracy_by_category: {math: acc + 0.05, safety: acc - 0.1}};
  };
  lines.push(evalLine(0));
  for (let step = 1; step <= 12; ++step) {
    lines.push({kind: 'train', step, epoch: step / 12, loss: 0.7 * Math.exp(-step / 8) + random() / 50,
                accuracy: Math.min(1, 0.5 + step / 25), margin: step / 10, lr: step <= 2 ? 1e-3 * step / 2 : 1e-3 * (12 - step) / 10,
                grad_norm: 1 + random(), tokens: 900, tokens_per_s: 4000 + 100 * step, elapsed_s: step / 4});
    if (step % 6 === 0) lines.push(evalLine(step));
  }
  writeJsonl(path.join(dir, 'metrics.jsonl'), lines);
  fs.writeFileSync(path.join(dir, 'summary.json'), JSON.stringify({steps: 12, first_loss: lines[2].loss}));
  return {dir, lines};
}

function synpref(args) {
  try {
    return execFileSync(options.synpref, args, {env: {...process.env, CI: '1'}, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']});
  } catch (e) {
    throw new Error(`synpref ${args.join(' ')} failed (exit ${e.status}):\n${e.stderr}`);
  }
}

const jbData = makeJudgeBench(), rmData = makeRmBench(), run = makeTrainRun();
const file = name => path.join(tmp, name);
synpref(['eval', '--benchmark', 'judgebench', '--data', jbData, '--scores', file('judgebench.scores.jsonl'),
         '--out', file('jb.json'), '--html', file('jb.html'), '--bootstrap', '200', '--model-name', 'toy-rm']);
synpref(['eval', '--benchmark', 'rm-bench', '--data', rmData, '--scores', file('rm-bench.scores.jsonl'),
         '--out', file('rm.json'), '--html', file('rm.html'), '--bootstrap', '200', '--model-name', 'toy-rm']);
synpref(['report', 'eval', file('jb.json'), file('rm.json'), '-o', file('table.html')]);
synpref(['report', 'train', run.dir]);
const jb = JSON.parse(fs.readFileSync(file('jb.json'), 'utf8'));
const rm = JSON.parse(fs.readFileSync(file('rm.json'), 'utf8'));

// ---- In the browser.

// Runs in the page: every chart's scenegraph items (marks named by the Vega-Lite layer names),
// each with its datum, geometry and where the chart's y scale puts its value fields.
function readCharts() {
  const out = {};
  for (const [id, result] of Object.entries(window.synprefCharts)) {
    const view = result.view;
    let y = null;
    try { y = view.scale('y'); } catch (e) { y = null; }
    const marks = {};
    const walk = node => {
      if (!node) return;
      if (node.marktype && node.marktype !== 'group' && node.name) {
        marks[node.name] = (marks[node.name] || []).concat(node.items.map(item => {
          const datum = {};
          for (const [k, v] of Object.entries(item.datum || {})) if (typeof v !== 'object' || v === null) datum[k] = v;
          const px = {};
          if (y && typeof y === 'function') {
            for (const k of ['value', 'y', 'lo', 'hi', 'lower_lo', 'upper_lo', 'label_y'])
              if (typeof datum[k] === 'number') px[k] = y(datum[k]);
          }
          return {datum, x: item.x, y: item.y, y2: item.y2, height: item.height, text: item.text, px};
        }));
      }
      for (const child of node.items || []) walk(child);
    };
    walk(view.scenegraph().root);
    const el = document.getElementById(id);
    out[id] = {marks, svg: el.querySelectorAll('svg.marks').length, error: el.classList.contains('chart-error')};
  }
  out.__ids = Array.from(document.querySelectorAll('script[data-chart]')).map(e => e.getAttribute('data-chart'));
  out.__errors = Array.from(document.querySelectorAll('.chart-error')).map(e => e.textContent);
  return out;
}

const browser = await chromium.launch({
  executablePath: options.chromium,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({offline: true});

async function open(name) {
  const page = await context.newPage();
  const logged = [], fetched = [];
  page.on('console', m => { if (m.type() === 'error' || m.type() === 'warning') logged.push(`${m.type()}: ${m.text()}`); });
  page.on('pageerror', e => logged.push(`pageerror: ${e.message}`));
  page.on('request', r => {
    const url = r.url();
    if (!/^(file|data|blob|about):/.test(url)) fetched.push(url);
  });
  await page.goto(pathToFileURL(file(name)).href);
  await page.evaluate(() => window.synprefReady);
  const charts = await page.evaluate(readCharts);
  await page.close();
  check(logged.length === 0, `${name}: console errors/warnings: ${logged.join(' | ')}`);
  check(fetched.length === 0, `${name}: fetched ${fetched.join(', ')}`);
  check(charts.__errors.length === 0, `${name}: charts failed: ${charts.__errors.join(' | ')}`);
  for (const id of charts.__ids) {
    check(charts[id] && charts[id].svg === 1 && !charts[id].error, `${name}: chart ${id} did not render an svg`);
  }
  return charts;
}

// Items of the mark whose name starts with `prefix` (Vega-Lite names marks after their layer).
function items(chart, prefix) {
  if (!chart) return [];
  return Object.entries(chart.marks).filter(([name]) => name.startsWith(prefix)).flatMap(([, list]) => list);
}
const metric = (report, name) => report.metrics.find(m => m.name === name);

// Bars with intervals: value, lo/hi, bar top and error-bar ends where the y scale puts them, labels.
function checkBars(where, chart, expected) {
  const bars = items(chart, 'bars'), rules = items(chart, 'intervals').filter(i => i.datum.lower_lo !== undefined && i.height === undefined);
  const labels = items(chart, 'labels');
  check(bars.length === expected.length, `${where}: ${bars.length} bars, expected ${expected.length}`);
  for (const e of expected) {
    const bar = bars.find(b => b.datum.category === e.category && (e.group === undefined || b.datum.group === e.group));
    check(bar !== undefined, `${where}: no bar for ${e.category}`);
    if (!bar) continue;
    check(near(bar.datum.value, e.value), `${where}: bar ${e.category} value ${bar.datum.value} != ${e.value}`);
    check(near(bar.y, bar.px.value, 0.5), `${where}: bar ${e.category} top at ${bar.y}px, scale says ${bar.px.value}px`);
    if (e.lo !== undefined) {
      check(near(bar.datum.lo, e.lo) && near(bar.datum.hi, e.hi), `${where}: ${e.category} interval ${bar.datum.lo}..${bar.datum.hi} != ${e.lo}..${e.hi}`);
      const rule = rules.find(r => r.datum.category === e.category && (e.group === undefined || r.datum.group === e.group));
      check(rule !== undefined && near(rule.datum.lower_lo, e.lo) && near(rule.datum.upper_lo, e.hi),
            `${where}: ${e.category} error bar missing or wrong`);
      if (rule) {
        const ends = [rule.y, rule.y2].sort((a, b) => a - b), want = [rule.px.lower_lo, rule.px.upper_lo].sort((a, b) => a - b);
        check(near(ends[0], want[0], 0.5) && near(ends[1], want[1], 0.5), `${where}: ${e.category} error bar drawn at ${ends}, scale says ${want}`);
      }
    }
    if (labels.length) {
      const label = labels.find(l => l.datum.category === e.category && (e.group === undefined || l.datum.group === e.group));
      check(label && label.text === e.value.toFixed(3), `${where}: label of ${e.category} is ${label && label.text}, expected ${e.value.toFixed(3)}`);
    }
  }
}

function checkLines(where, chart, expected) {  // expected: {series: [[x, y], ...]}
  const points = items(chart, 'lines').filter(i => i.datum.series !== undefined);
  for (const [series, xy] of Object.entries(expected)) {
    const got = points.filter(p => p.datum.series === series).sort((a, b) => a.datum.x - b.datum.x);
    check(got.length === xy.length, `${where}: series ${series} has ${got.length} points, expected ${xy.length}`);
    xy.forEach(([x, y], k) => {
      const p = got[k];
      check(p && p.datum.x === x && near(p.datum.y, y), `${where}: ${series} point ${k} is (${p && p.datum.x}, ${p && p.datum.y}), expected (${x}, ${y})`);
      if (p) check(near(p.y, p.px.y, 0.5), `${where}: ${series} point ${k} drawn at ${p.y}px, scale says ${p.px.y}px`);
    });
  }
}

try {
  // JudgeBench: per-category bars with their bootstrap intervals; the headline among the overall bars.
  const jbCharts = await open('jb.html');
  const categories = jb.metrics.filter(m => m.name.startsWith('category/'));
  check(categories.length === 4, `jb.json: ${categories.length} categories`);
  checkBars('jb.html metrics-category', jbCharts['metrics-category'],
            categories.map(m => ({category: m.name.slice(9), value: m.value, lo: m.ci_low, hi: m.ci_high})));
  const overall = items(jbCharts['metrics-overall'], 'bars');
  check(overall.length > 0 && overall[0].datum.category === jb.headline.name && near(overall[0].datum.value, jb.headline.value),
        'jb.html: the headline is not the first overall bar');

  // RM-Bench: the 3x3 style matrix as a heatmap, each cell's colour and printed number.
  const rmCharts = await open('rm.html');
  const cells = items(rmCharts.matrix, 'cells'), cellLabels = items(rmCharts.matrix, 'labels');
  check(cells.length === 9, `rm.html matrix: ${cells.length} cells`);
  for (const m of rm.metrics.filter(m => m.name.startsWith('matrix/'))) {
    const [, row, col] = m.name.split('/');
    const cell = cells.find(c => c.datum.row === row && c.datum.col === col);
    const label = cellLabels.find(c => c.datum.row === row && c.datum.col === col);
    check(cell && near(cell.datum.value, m.value), `rm.html matrix ${row}/${col}: ${cell && cell.datum.value} != ${m.value}`);
    check(label && label.text === m.value.toFixed(3), `rm.html matrix ${row}/${col}: label ${label && label.text}`);
  }
  checkBars('rm.html metrics-overall', rmCharts['metrics-overall'],
            [rm.headline, ...rm.metrics.filter(m => !m.name.includes('/') && m.name !== rm.headline.name)]
                .map(m => ({category: m.name, value: m.value, lo: m.ci_low, hi: m.ci_high})));

  // Table 1: one bar per (benchmark, model).
  const tableCharts = await open('table.html');
  checkBars('table.html benchmarks', tableCharts.benchmarks, [
    {category: 'JudgeBench', group: 'toy-rm', value: jb.headline.value, lo: jb.headline.ci_low, hi: jb.headline.ci_high},
    {category: 'RM-Bench', group: 'toy-rm', value: rm.headline.value, lo: rm.headline.ci_low, hi: rm.headline.ci_high},
  ]);

  // Training: every curve against metrics.jsonl, and the categories of the last evaluation.
  const trainCharts = await open(path.join('run', 'report.html'));
  const train = run.lines.filter(l => l.kind === 'train'), evals = run.lines.filter(l => l.kind === 'eval');
  const series = (lines, field) => lines.map(l => [l.step, l[field]]);
  checkLines('train loss', trainCharts.loss, {'train': series(train, 'loss'), 'held-out': series(evals, 'eval_loss')});
  checkLines('train accuracy', trainCharts.accuracy, {'train': series(train, 'accuracy'), 'held-out': series(evals, 'eval_accuracy')});
  checkLines('train lr', trainCharts.lr, {'lr': series(train, 'lr')});
  checkLines('train throughput', trainCharts.throughput, {'tokens/s': series(train, 'tokens_per_s')});
  checkLines('train grad_norm', trainCharts.grad_norm, {'grad norm': series(train, 'grad_norm')});
  const last = evals[evals.length - 1].eval_accuracy_by_category;
  checkBars('train eval_categories', trainCharts.eval_categories,
            Object.entries(last).map(([category, value]) => ({category, value})));
} finally {
  await browser.close();
  clearTimeout(timer);
}

if (failures.length) {
  console.error(`FAIL: ${failures.length} of ${n_checks} checks\n  ${failures.join('\n  ')}`);
  process.exit(1);
}
console.log(`OK browser: ${n_checks} checks on 4 pages`);
