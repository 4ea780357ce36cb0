#!/usr/bin/python3
"""check_metrics.py — checks a metrics file written by a compiled program.

  check_metrics.py FILE [--evals N] [--min-accuracy A] [--loss-falls]
                       [--no-classes [--text]] [--test-loss-falls] [--max-test-loss L]

The file must exist and hold at least one eval line; every line must be
JSON; there must be N "eval" lines (if given) with all the documented keys,
then one "end" line. --loss-falls: the last eval's train_loss is below the
first's (two evals at least). --min-accuracy: the final test accuracy is at
least A. Exits 1 with a message on any failure (a missing or empty file
too: nothing to check is a failure).

--no-classes: the data has no class labels (a regression, or a language
model): the lines carry no accuracy, but the test loss (eval lines) and the
final and best test loss (end line); with --text also bits per byte
(bits_per_byte, final_bits_per_byte = the loss / ln 2). --test-loss-falls:
the last eval's test_loss is below the first's; --max-test-loss: the final
test loss is at most L."""
import json
import math
import sys

EVAL_KEYS = {"event", "epoch", "step", "samples", "train_loss", "test_loss", "test_accuracy", "test_examples",
             "train_seconds"}
END_KEYS = {"event", "final_test_accuracy", "best_test_accuracy", "train_seconds", "eval_seconds",
            "time_to_target"}
# data without class labels (regression, language models)
LOSS_EVAL_KEYS = {"event", "epoch", "step", "samples", "train_loss", "test_loss", "test_examples", "train_seconds"}
LOSS_END_KEYS = {"event", "final_test_loss", "best_test_loss", "train_seconds", "eval_seconds", "time_to_target"}


def fail(msg):
    print(f"check_metrics: {msg}")
    sys.exit(1)


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    evals_wanted = min_acc = max_test_loss = None
    loss_falls = no_classes = bpb = test_loss_falls = False
    while args:
        a = args.pop(0)
        if a == "--evals":
            evals_wanted = int(args.pop(0))
        elif a == "--min-accuracy":
            min_acc = float(args.pop(0))
        elif a == "--loss-falls":
            loss_falls = True
        elif a == "--no-classes":
            no_classes = True
        elif a == "--text":
            bpb = True
        elif a == "--test-loss-falls":
            test_loss_falls = True
        elif a == "--max-test-loss":
            max_test_loss = float(args.pop(0))
        else:
            fail(f"unknown option {a}")
    if min_acc is not None and no_classes:
        fail("--min-accuracy does not go with --no-classes")
    if bpb and not no_classes:
        fail("--text needs --no-classes")
    eval_keys, end_keys = (LOSS_EVAL_KEYS, LOSS_END_KEYS) if no_classes else (EVAL_KEYS, END_KEYS)
    if bpb:
        eval_keys, end_keys = eval_keys | {"bits_per_byte"}, end_keys | {"final_bits_per_byte"}
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
        if set(e) != eval_keys:
            fail(f"eval line keys {sorted(e)} != {sorted(eval_keys)}")
        if bpb and not math.isclose(e["bits_per_byte"], e["test_loss"] / math.log(2), rel_tol=1e-12):
            fail(f"bits_per_byte {e['bits_per_byte']} is not test_loss {e['test_loss']} / ln 2")
    end = lines[-1]
    if set(end) != end_keys:
        fail(f"end line keys {sorted(end)} != {sorted(end_keys)}")
    if evals_wanted is not None and len(evals) != evals_wanted:
        fail(f"{len(evals)} eval lines, expected {evals_wanted}")
    if loss_falls and len(evals) < 2:
        fail(f"--loss-falls needs two eval lines, {path} has {len(evals)}")
    if loss_falls and not evals[-1]["train_loss"] < evals[0]["train_loss"]:
        fail(f"train loss did not fall: {evals[0]['train_loss']} -> {evals[-1]['train_loss']}")
    if test_loss_falls and len(evals) < 2:
        fail(f"--test-loss-falls needs two eval lines, {path} has {len(evals)}")
    if test_loss_falls and not evals[-1]["test_loss"] < evals[0]["test_loss"]:
        fail(f"test loss did not fall: {evals[0]['test_loss']} -> {evals[-1]['test_loss']}")
    if no_classes:
        loss = end["final_test_loss"]
        if loss != evals[-1]["test_loss"] or not end["best_test_loss"] <= loss:
            fail(f"end line: final test loss {loss}, best {end['best_test_loss']}; "
                 f"the last eval's {evals[-1]['test_loss']}")
        if max_test_loss is not None and not loss <= max_test_loss:
            fail(f"final test loss {loss} > {max_test_loss}")
        print(f"check_metrics: ok ({len(evals)} evaluations, final test loss {loss:.4f})")
        return
    acc = end["final_test_accuracy"]
    if min_acc is not None and not acc >= min_acc:
        fail(f"final test accuracy {acc} < {min_acc}")
    print(f"check_metrics: ok ({len(evals)} evaluations, final accuracy {acc:.4f})")


main()
