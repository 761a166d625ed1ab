#!/usr/bin/env python3
"""Checks synpref's dependency rules (docs/ARCHITECTURE.md); exits 1 and names each violation.

Rules:
  1. Each subsystem includes only the subsystems ALLOWED lists for it (its own always allowed).
     This encodes the layering; in particular: data and tokenizer include only common; kernels
     never include model; model never includes score, train, eval, curate, serve; serve and
     annotate never include each other; nothing under src/ or include/ includes tools/.
  2. No public header (include/synpref/**) exposes a third-party type: public headers include
     only standard-library headers and other synpref headers.
  3. Every subsystem folder under src/ is known here (a new one must state its dependencies).

An include is attributed to a subsystem by its path: "synpref/<sub>/..." (public) or
"<sub>/..." (internal, relative to src/). Includes relative to the including file's folder
("kernels_impl.h") stay inside the subsystem.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# subsystem -> subsystems it may include (besides itself). Keep in sync with docs/ARCHITECTURE.md.
ALLOWED = {
    "common": set(),
    "data": {"common"},
    "tokenizer": {"common"},
    "chat": {"common"},
    "encode": {"common", "data", "tokenizer", "chat"},
    "kernels": {"common"},
    "model": {"common", "kernels", "tokenizer"},
    "score": {"common", "data", "tokenizer", "chat", "encode", "kernels", "model"},
    "train": {"common", "data", "tokenizer", "chat", "encode", "kernels", "model", "score"},
    "eval": {"common", "data"},
    "report": {"common"},
    "http": {"common"},
    "judge": {"common", "data", "http"},
    "curate": {"common", "data", "tokenizer", "chat", "encode", "kernels", "model", "score", "train", "eval",
               "report", "http", "judge"},
    "serve": {"common", "data", "tokenizer", "chat", "encode", "kernels", "model", "score", "http"},
    "annotate": {"common", "data", "report", "http", "judge", "curate"},
}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
STD_HEADER = re.compile(r"^[a-z_]+$")  # <cstdint>, <string>, <span>, ...


def subsystem_of(include_path):
    parts = include_path.split("/")
    if parts[0] == "synpref" and len(parts) > 2:
        return parts[1]
    if len(parts) > 1 and (parts[0] in ALLOWED or parts[0] == "tools"):
        return parts[0]
    return None


def main():
    errors = []
    src = ROOT / "src"
    for d in sorted(p for p in src.iterdir() if p.is_dir()):
        if d.name not in ALLOWED:
            errors.append(f"src/{d.name}/: unknown subsystem; add it to ALLOWED in scripts/check-deps.py "
                          "and to docs/ARCHITECTURE.md")
    files = []
    for sub in ALLOWED:
        for base in (src / sub, ROOT / "include" / "synpref" / sub):
            if base.is_dir():
                files += [(sub, f) for f in sorted(base.rglob("*")) if f.suffix in (".h", ".hpp", ".cpp", ".cc")]
    for sub, f in files:
        rel = f.relative_to(ROOT)
        public = rel.parts[0] == "include"
        text = f.read_text(encoding="utf-8", errors="replace")
        for m in INCLUDE.finditer(text):
            kind, path = m.group(1), m.group(2)
            line = text.count("\n", 0, m.start()) + 1
            dep = subsystem_of(path) if kind == '"' else None
            if dep == "tools":
                errors.append(f"{rel}:{line}: includes tools/ ({path}): tools depend on the library, never the reverse")
            elif dep and dep != sub and dep not in ALLOWED[sub]:
                errors.append(f"{rel}:{line}: {sub} may not include {dep} ({path}); allowed: "
                              f"{', '.join(sorted(ALLOWED[sub])) or 'nothing'}")
            if public and not (kind == '"' and path.startswith("synpref/")) and not (
                    kind == "<" and STD_HEADER.match(path)):
                errors.append(f"{rel}:{line}: public header includes <{path}>: public headers may expose only "
                              "standard and synpref types (move it to the .cpp or an internal header)")
    for e in errors:
        print(e)
    if errors:
        print(f"check-deps: {len(errors)} violation(s)")
        return 1
    print(f"check-deps: ok ({len(files)} files, {len(ALLOWED)} subsystems)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
