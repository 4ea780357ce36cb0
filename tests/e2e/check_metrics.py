#!/usr/bin/python3
"""check_metrics.py — checks a metrics file written by a compiled program.

  check_metrics.py FILE [--evals N] [--min-accuracy A] [--loss-falls]

The file must exist and hold at least one eval line; every line must be
JSON; there must be N "eval" lines (if given) with all the documented keys,
then one "end" line. --loss-falls: the last eval's train_loss is below the
first's (two evals at least). --min-accuracy: the final test accuracy is at
least A. Exits 1 with a message on any failure (a missing or empty file
too: nothing to check is a failure)."""
import json
import sys

EVAL_KEYS = {"event", "epoch", "step", "samples", "train_loss", "test_loss", "test_accuracy", "train_seconds"}
END_KEYS = {"event", "final_test_accuracy", "best_test_accuracy", "train_seconds", "eval_seconds",
            "time_to_target"}


def fail(msg):
    print(f"check_metrics: {msg}")
    sys.exit(1)


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    evals_wanted = min_acc = None
    loss_falls = False
    while args:
        a = args.pop(0)
        if a == "--evals":
            evals_wanted = int(args.pop(0))
        elif a == "--min-accuracy":
            min_acc = float(args.pop(0))
        elif a == "--loss-falls":
            loss_falls = True
        else:
            fail(f"unknown option {a}")
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        fail(f"cannot read the metrics file: {e}")
    try:
        lines = [json.loads(l) for l in text.splitlines() if l.strip()]
    except json.JSONDecodeError as e:
        fail(f"{path}: a line is not JSON: {e}")
    if not lines:
        fail(f"{path} is empty: no metrics to check")
    if lines[-1].get("event") != "end":
        fail("the last line is not an end event")
    evals = [l for l in lines if l.get("event") == "eval"]
    if not evals:
        fail(f"{path} has no eval line")
    for e in evals:
        if set(e) != EVAL_KEYS:
            fail(f"eval line keys {sorted(e)} != {sorted(EVAL_KEYS)}")
    if set(lines[-1]) != END_KEYS:
        fail(f"end line keys {sorted(lines[-1])} != {sorted(END_KEYS)}")
    if evals_wanted is not None and len(evals) != evals_wanted:
        fail(f"{len(evals)} eval lines, expected {evals_wanted}")
    if loss_falls and len(evals) < 2:
        fail(f"--loss-falls needs two eval lines, {path} has {len(evals)}")
    if loss_falls and not evals[-1]["train_loss"] < evals[0]["train_loss"]:
        fail(f"train loss did not fall: {evals[0]['train_loss']} -> {evals[-1]['train_loss']}")
    acc = lines[-1]["final_test_accuracy"]
    if min_acc is not None and not acc >= min_acc:
        fail(f"final test accuracy {acc} < {min_acc}")
    print(f"check_metrics: ok ({len(evals)} evaluations, final accuracy {acc:.4f})")


main()
