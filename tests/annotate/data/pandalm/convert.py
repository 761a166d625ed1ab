#!/usr/bin/python3
"""Converts PandaLM's human-annotated test set (data/testset-v1.json) into testset-v1.jsonl.gz.

Usage: /usr/bin/python3 convert.py PATH/TO/testset-v1.json [OUT.jsonl.gz]

One JSON object per line, in the original order, with every original field and value except:
  - a JSON boolean in a text field (6 responses in the upstream file, where a pandas round trip
    turned the model's answer "True" into `true`) becomes the string "True" / "False";
  - a NaN in a text field (older revisions of the file wrote `"input": NaN` for empty fields)
    becomes null. The pinned revision has none; the rule is here so that the converter refuses
    nothing Python's json module accepts.
Nothing else changes: annotator labels stay 0 (similar quality, a tie), 1 (response 1 better),
2 (response 2 better). The output is deterministic (original key order, gzip mtime 0, no file name
in the gzip header), so rerunning the converter on the pinned input reproduces the committed file
byte for byte.
"""
import gzip
import hashlib
import json
import math
import sys

EXPECTED_SHA256 = "cc154f9067c7382d7ea86f8f246511a5e1ac87e1fddd845c5938d789505b07a4"
TEXT_FIELDS = ("motivation_app", "cmp_key", "instruction", "input", "response1", "response2")
LABEL_FIELDS = ("annotator1", "annotator2", "annotator3")


def convert_record(record):
    out = dict(record)
    for field in TEXT_FIELDS:
        value = out.get(field)
        if isinstance(value, bool):
            out[field] = "True" if value else "False"
        elif isinstance(value, float) and math.isnan(value):
            out[field] = None
        elif not isinstance(value, str):
            raise ValueError(f"idx {record.get('idx')}: field {field} is {value!r}, expected text")
    for field in LABEL_FIELDS:
        if out.get(field) not in (0, 1, 2) or isinstance(out.get(field), bool):
            raise ValueError(f"idx {record.get('idx')}: {field} is {out.get(field)!r}, expected 0, 1 or 2")
    return out


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    dst = sys.argv[2] if len(sys.argv) == 3 else "testset-v1.jsonl.gz"
    raw = open(src, "rb").read()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != EXPECTED_SHA256:
        sys.exit(f"{src}: sha256 {digest}, expected {EXPECTED_SHA256} (WeOpenML/PandaLM commit 3871806)")
    records = [convert_record(r) for r in json.loads(raw)]
    lines = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in records)
    with open(dst, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(lines.encode("utf-8"))
    print(f"{dst}: {len(records)} records")


if __name__ == "__main__":
    main()
