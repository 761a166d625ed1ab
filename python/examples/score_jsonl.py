#!/usr/bin/env python3
"""Scores a JSONL file of preference pairs or response sets with a reward model, in Python.

    python score_jsonl.py MODEL_DIR INPUT.jsonl OUTPUT.jsonl [--batch 256] [--date YYYY-MM-DD]

INPUT is any format synpref reads (TRL prompt/chosen/rejected, chat chosen/rejected message lists,
hh-rlhf transcripts, canonical records; plain, .gz or .zst). OUTPUT gets one line per record,
{"id": ..., "scores": [...]}, the format of `synpref score` (and the same scores, bit for bit).
Malformed input lines are listed in OUTPUT.rejects.jsonl with file, line and reason.

The one-call equivalent is `RewardModel.score_file(INPUT, OUTPUT)`; this script shows the loop a
user writes to do something with each batch (filter, relabel, keep margins...).
"""
import argparse
import json

import numpy as np

import synpref


def responses_of(record):
    if record["kind"] == "pair":
        return [record["chosen"]["content"], record["rejected"]["content"]]
    return [response["content"] for response in record["responses"]]


def batches(records, size):
    for start in range(0, len(records), size):
        yield records[start:start + size]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--date", default=None, help="date seen by date-aware chat templates")
    args = ap.parse_args()

    rm = synpref.RewardModel(args.model, threads=args.threads, date=args.date)
    read = synpref.read_records(args.input, rejects_path=args.output + ".rejects.jsonl")
    margins = []
    with open(args.output, "w", encoding="utf-8") as out:
        for batch in batches(read.records, args.batch):
            # Canonical records: a shared context, then chosen + rejected (a pair) or 2+ responses.
            sets = [(r["context"], responses_of(r)) for r in batch]
            for record, scores in zip(batch, rm.score_response_sets(sets)):
                out.write(json.dumps({"id": record["id"], "scores": [float(s) for s in scores]}) + "\n")
                if record["kind"] == "pair":
                    margins.append(float(scores[0] - scores[1]))
    print(f"scored {len(read)} records ({read.rejected} rejected) -> {args.output}")
    if margins:
        m = np.asarray(margins)
        print(f"pairs: {len(m)}, accuracy {np.mean(m > 0):.4f}, mean margin {m.mean():.6f}")


if __name__ == "__main__":
    main()
