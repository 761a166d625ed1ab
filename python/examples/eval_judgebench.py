#!/usr/bin/env python3
"""Evaluates a reward model on JudgeBench with the benchmark's official rule, from Python.

    python eval_judgebench.py MODEL_DIR JUDGEBENCH_DIR [--report report.json] [--max-length N]

JUDGEBENCH_DIR holds the released files (data/dataset=judgebench,response_model=*.jsonl, as in
ScalerLab/JudgeBench). The engine scores every item (both response orders, as JudgeBench's
authors do); synpref.eval applies the rule and the bootstrap intervals and returns the report that
`synpref eval --benchmark judgebench --model MODEL_DIR --out report.json` writes.
"""
import argparse

import synpref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("data")
    ap.add_argument("--report", help="write the JSON report here")
    ap.add_argument("--max-length", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--date", default=None)
    args = ap.parse_args()

    bench = synpref.load_benchmark("judgebench", args.data)
    print(f"{bench.name}: {len(bench)} items from {len(bench.files)} files")
    rm = synpref.RewardModel(args.model, threads=args.threads, max_length=args.max_length,
                             truncation="truncate-left", date=args.date)
    result = synpref.eval(bench, scores=rm)
    print(f"{result.headline} = {result.score:.4f}  (n={result.n_items}, {rm.last_stats['tokens']} tokens)")
    for name, metric in sorted(result.metrics.items()):
        print(f"  {name:40s} {metric.value:.4f}  [{metric.ci_low:.4f}, {metric.ci_high:.4f}]  n={metric.n:g}")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            f.write(result.report)
        print("report:", args.report)


if __name__ == "__main__":
    main()
