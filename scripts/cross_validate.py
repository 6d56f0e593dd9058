#!/usr/bin/env python3
"""K-fold cross-validation of the predictor on a store's results.

Reads `peephole results` JSON Lines, keeps the completed networks, shuffles
them with a fixed seed and deals them into K folds (network i goes to fold
i mod K). For each fold it writes the training records and the held-out
records to OUT/fold<k>-train.jsonl and OUT/fold<k>-test.jsonl, fits a
predictor on the first (`peephole fit`), measures it on the second
(`peephole eval --json`), and prints one line per fold and the mean, beside
the Kendall tau of the parameter count (from `peephole show`) on the same
held-out networks as a baseline.

    peephole results --store sqlite://mnist-study.db > results.jsonl
    python3 scripts/cross_validate.py results.jsonl --out cv \
        --peephole target/release/peephole --folds 4 --members 5

Only the Python standard library is needed.
"""

import argparse
import json
import random
import re
import statistics
import subprocess
import sys
from pathlib import Path


def kendall_tau(x, y):
    """Tau-a over all pairs (ties count as neither concordant nor not)."""
    agree = disagree = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            sign = (x[i] - x[j]) * (y[i] - y[j])
            agree += sign > 0
            disagree += sign < 0
    pairs = len(x) * (len(x) - 1) / 2
    return (agree - disagree) / pairs if pairs else float("nan")


def record(result):
    """A training record: the architecture at its last measured epoch."""
    return {
        "arch": result["arch"],
        "epoch": result["curve"][-1]["epoch"],
        "accuracy": result["accuracy"],
    }


def parameters(peephole, arch):
    shown = subprocess.run(
        [peephole, "show", "-"],
        input=json.dumps(arch),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(re.search(r"total: (\d+) parameters", shown).group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", help="`peephole results` JSON Lines")
    parser.add_argument("--out", default="cv", help="folder for folds and checkpoints")
    parser.add_argument("--peephole", default="target/release/peephole")
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7, help="shuffle seed")
    args = parser.parse_args()

    results = []
    with open(args.results) as lines:
        for number, line in enumerate(lines, 1):
            try:
                results.append(json.loads(line))
            except json.JSONDecodeError as error:
                sys.exit(f"{args.results}:{number}: not JSON: {error}")
    done = [r for r in results if r.get("status") == "completed"]
    print(f"{len(results)} results, {len(done)} completed")
    if len(done) < 2 * args.folds:
        sys.exit(f"{args.results}: too few completed results for {args.folds} folds")
    random.Random(args.seed).shuffle(done)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for fold in range(args.folds):
        test = done[fold :: args.folds]
        train = [r for i, r in enumerate(done) if i % args.folds != fold]
        paths = {}
        for name, part in (("train", train), ("test", test)):
            paths[name] = out / f"fold{fold}-{name}.jsonl"
            paths[name].write_text("".join(json.dumps(record(r)) + "\n" for r in part))
        checkpoint = out / f"fold{fold}.ckpt"
        subprocess.run(
            [args.peephole, "fit", str(paths["train"]), "-o", str(checkpoint),
             "--members", str(args.members)],
            check=True,
            capture_output=True,
        )
        metrics = json.loads(subprocess.run(
            [args.peephole, "eval", str(paths["test"]), "--model", str(checkpoint), "--json"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout)
        counts = [parameters(args.peephole, r["arch"]) for r in test]
        metrics["params_tau"] = kendall_tau(counts, [r["accuracy"] for r in test])
        rows.append(metrics)
        print(
            f"fold {fold}: train {len(train)}, test {len(test)}, "
            f"tau {metrics['kendall_tau']:.3f}, MSE {metrics['mse']:.4f}, "
            f"R^2 {metrics['r2']:.3f}, params tau {metrics['params_tau']:.3f}",
            flush=True,
        )
    mean = {k: statistics.mean(r[k] for r in rows)
            for k in ("kendall_tau", "mse", "r2", "params_tau")}
    print(
        f"mean:   tau {mean['kendall_tau']:.3f}, MSE {mean['mse']:.4f}, "
        f"R^2 {mean['r2']:.3f}, params tau {mean['params_tau']:.3f}"
    )


if __name__ == "__main__":
    main()
