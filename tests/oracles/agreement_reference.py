#!/usr/bin/env python3
"""Independent reference for annotate's agreement statistics (tests/annotate/test_agreement.cpp).

Krippendorff's alpha (nominal) from its pairwise definition, not the coincidence matrix:
  D_o = (1/n) * sum_u 1/(m_u - 1) * #{ordered pairs i != j of unit u's values with v_i != v_j}
  D_e = 1/(n (n - 1)) * #{ordered pairs i != j of all pairable values with v_i != v_j}
  alpha = 1 - D_o / D_e
(n = number of pairable values, m_u = values in unit u, units with m_u < 2 dropped).
Cohen's kappa from the two raters' contingency table: (p_o - p_e) / (1 - p_e).

Prints the golden JSON: python3 tests/oracles/agreement_reference.py > tests/fixtures/annotate/agreement_golden.json
Run with --check to recompute Krippendorff's (2011) and Cohen's published examples.
Run with --pandalm FILE (tests/annotate/data/pandalm/testset-v1.jsonl.gz) to print the statistics of
PandaLM's three-annotator test set: python3 tests/oracles/agreement_reference.py --pandalm \
  tests/annotate/data/pandalm/testset-v1.jsonl.gz > tests/annotate/data/pandalm/agreement_reference.json
"""
import gzip
import json
import random
import sys
from fractions import Fraction


def alpha_nominal(units):
    pairable = [u for u in units if len(u) >= 2]
    values = [v for u in pairable for v in u]
    n = len(values)
    if n < 2:
        return None
    d_o = Fraction(0)
    for u in pairable:
        mismatches = sum(1 for i in range(len(u)) for j in range(len(u)) if i != j and u[i] != u[j])
        d_o += Fraction(mismatches, len(u) - 1)
    d_o /= n
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    expected_mismatches = n * n - sum(c * c for c in counts.values())  # ordered pairs, different values
    if expected_mismatches == 0:
        return None
    d_e = Fraction(expected_mismatches, n * (n - 1))
    return float(1 - d_o / d_e)


def kappa(a, b):
    n = len(a)
    cats = sorted(set(a) | set(b))
    table = {(x, y): 0 for x in cats for y in cats}
    for x, y in zip(a, b):
        table[(x, y)] += 1
    p_o = Fraction(sum(table[(c, c)] for c in cats), n)
    p_e = sum(Fraction(sum(table[(c, y)] for y in cats), n) * Fraction(sum(table[(x, c)] for x in cats), n)
              for c in cats)
    if p_e == 1:
        return None
    return float((p_o - p_e) / (1 - p_e))


def check_published():
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    print("Krippendorff 2011 example A (published 0.095):", round(alpha_nominal([list(p) for p in zip(a, b)]), 3))
    m = None
    rows = [[1, 2, 3, 3, 2, 1, 4, 1, 2, m, m, m], [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, m, 3],
            [m, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, m], [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, m]]
    units = [[r[u] for r in rows if r[u] is not None] for u in range(12)]
    print("Krippendorff 2011 example C (published 0.743):", round(alpha_nominal(units), 3))
    xa, xb = [], []
    for x, y, c in [(1, 1, 20), (1, 0, 5), (0, 1, 10), (0, 0, 15)]:
        xa += [x] * c
        xb += [y] * c
    print("Cohen's kappa, Wikipedia 2x2 (published 0.4):", round(kappa(xa, xb), 3))


def pandalm(path):
    """PandaLM's labels as published (0 tie, 1 response 1 better, 2 response 2 better), unmapped."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    raters = ["annotator1", "annotator2", "annotator3"]
    labels = {r: [rec[r] for rec in records] for r in raters}
    kappas = {f"{a}-{b}": kappa(labels[a], labels[b]) for i, a in enumerate(raters) for b in raters[i + 1:]}
    majority = {"0": 0, "1": 0, "2": 0}
    for rec in records:
        values = [rec[r] for r in raters]
        top = max(set(values), key=values.count)
        if values.count(top) >= 2:
            majority[str(top)] += 1
    json.dump({"generator": "tests/oracles/agreement_reference.py --pandalm", "records": len(records),
               "unanimous": sum(1 for rec in records if len({rec[r] for r in raters}) == 1),
               "alpha": alpha_nominal([[rec[r] for r in raters] for rec in records]), "kappa": kappas,
               "majority": majority}, sys.stdout, indent=1)
    sys.stdout.write("\n")


def main():
    if "--check" in sys.argv:
        check_published()
        return
    if "--pandalm" in sys.argv:
        pandalm(sys.argv[sys.argv.index("--pandalm") + 1])
        return
    rng = random.Random(20261206)
    cases = []
    for case_idx in range(24):
        n_cat = rng.choice([2, 3, 4])
        weights = [rng.random() + 0.05 for _ in range(n_cat)]
        agreement = rng.random()
        units = []
        for _ in range(rng.randint(5, 60)):
            truth = rng.choices(range(n_cat), weights)[0]
            m = rng.choice([1, 2, 2, 3, 4, 5])
            units.append([truth if rng.random() < agreement else rng.choices(range(n_cat), weights)[0]
                          for _ in range(m)])
        two = [u[:2] for u in units if len(u) >= 2]
        ka, kb = [u[0] for u in two], [u[1] for u in two]
        alpha, k = alpha_nominal(units), kappa(ka, kb) if two else None
        if alpha is None or k is None:
            continue
        cases.append({"name": f"random-{case_idx}", "units": units, "alpha": alpha,
                      "n_pairable": sum(len(u) for u in units if len(u) >= 2), "kappa_a": ka, "kappa_b": kb,
                      "kappa": k})
    json.dump({"generator": "tests/oracles/agreement_reference.py", "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
