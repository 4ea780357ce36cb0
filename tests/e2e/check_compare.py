#!/usr/bin/python3
"""check_compare.py — checks the JSON results of `astc compare`.

  check_compare.py FILE --programs a,b --seeds N --budgets 0.5,1
                   [--metric accuracy|loss] [--reached-none] [--reached-some]
                   [--failed-all] [--plot FILE]

Every (program, seed, budget) must have a run, none dropped; the summaries
must agree with the runs (median, min, max, mean, sample std, time to
target reached k/n), each frontier with the Pareto definition, the
dominance with its definition (docs/compare.md), all recomputed here in
Python in the direction of the file's metric: higher is better for
accuracy, lower for loss (a file without "metric" is an accuracy file).
--metric: the file must compare that metric; --reached-some: some run must
reach the target. Exits 1 with a message on any failure."""
import json
import math
import statistics
import sys


def fail(msg):
    print(f"check_compare: {msg}")
    sys.exit(1)


def close(a, b, what):
    if a is None or b is None:
        if a is not b:
            fail(f"{what}: {a} vs {b}")
        return
    if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
        fail(f"{what}: {a} vs {b}")


LOWER = False  # the direction of the metric: set from the file (loss: lower is better)


def better(x, y):
    return x < y if LOWER else x > y


def at_least(x, y):
    return x <= y if LOWER else x >= y


def weakly(p, q):
    return p[0] <= q[0] and at_least(p[1], q[1])


def dominates(p, q):
    return weakly(p, q) and (p[0] < q[0] or better(p[1], q[1]))


def best(front, t):
    vals = [p[1] for p in front if p[0] <= t]
    if not vals:
        return math.inf if LOWER else -math.inf
    return min(vals) if LOWER else max(vals)


def covers(a, b):
    return all(any(weakly(p, q) for p in a) for q in b)


def check_stats(s, prefix, vals, what):
    """prefix_mean/std/min/max of a summary against the values (None when there are none)"""
    close(s[f"{prefix}_mean"], statistics.mean(vals) if vals else None, f"{what} {prefix} mean")
    close(s[f"{prefix}_std"], (statistics.stdev(vals) if len(vals) > 1 else 0.0) if vals else None,
          f"{what} {prefix} std")
    close(s[f"{prefix}_min"], min(vals) if vals else None, f"{what} {prefix} min")
    close(s[f"{prefix}_max"], max(vals) if vals else None, f"{what} {prefix} max")


def main():
    global LOWER
    args = sys.argv[1:]
    path = args.pop(0)
    flags = ("--reached-none", "--reached-some", "--failed-all")
    opts = {f: False for f in flags}
    while args:
        a = args.pop(0)
        if a in flags:
            opts[a] = True
        else:
            opts[a] = args.pop(0)
    d = json.load(open(path))
    metric = d.get("metric", "accuracy")
    if metric not in ("accuracy", "loss"):
        fail(f"metric {metric!r}")
    if "--metric" in opts and metric != opts["--metric"]:
        fail(f"metric {metric!r}, expected {opts['--metric']!r}")
    LOWER = metric == "loss"
    if "metric" in d and d.get("better") != ("lower" if LOWER else "higher"):
        fail(f"metric {metric} but better {d.get('better')!r}")
    final_key = "final_loss" if LOWER else "final_accuracy"
    names = opts["--programs"].split(",")
    seeds = list(range(1, int(opts["--seeds"]) + 1))
    budgets = [float(b) for b in opts["--budgets"].split(",")]
    if [p["name"] for p in d["programs"]] != names:
        fail(f"programs {[p['name'] for p in d['programs']]} != {names}")
    if d["seeds"] != seeds or d["budgets"] != budgets:
        fail(f"seeds {d['seeds']} budgets {d['budgets']}")
    runs = d["runs"]
    if len(runs) != len(names) * len(seeds) * len(budgets):
        fail(f"{len(runs)} runs, expected {len(names) * len(seeds) * len(budgets)}")
    keys = {(r["program"], r["seed"], r["budget"]) for r in runs}
    for n in names:
        for s in seeds:
            for b in budgets:
                if (n, s, b) not in keys:
                    fail(f"no run for {n} seed {s} budget {b}")
    target = d["target"]
    for r in runs:
        if opts["--failed-all"]:
            if r["ok"] or not r.get("error"):
                fail(f"run {r['program']} {r['seed']} {r['budget']} should have failed with an error")
            continue
        if not r["ok"]:
            fail(f"run failed: {r}")
        ev = r["evals"]
        if not ev or ev[-1]["train_seconds"] != r["train_seconds"] or ev[-1]["test_accuracy"] != r["final_accuracy"]:
            fail(f"run {r['program']} {r['seed']}: evals do not end at the final result")
        if "final_loss" in r or LOWER:
            # the final loss is the last evaluation's, the best the lowest
            losses = [e["test_loss"] for e in ev if e["test_loss"] is not None]
            if ev[-1]["test_loss"] != r["final_loss"] or (min(losses) if losses else None) != r["best_loss"]:
                fail(f"run {r['program']} {r['seed']}: final_loss {r['final_loss']} best_loss {r['best_loss']} "
                     f"disagree with the evaluations")
        if r[final_key] is None:
            fail(f"run {r['program']} {r['seed']}: no {final_key}")
        if not r["eval_seconds"] >= 0 or not r["wall_seconds"] >= r["train_seconds"]:
            fail(f"run times {r['train_seconds']} {r['eval_seconds']} {r['wall_seconds']}")
        # time to target: the first evaluation at or above (accuracy) or at or
        # below (loss) the target (epoch granularity)
        value = "test_loss" if LOWER else "test_accuracy"
        first = None
        if target is not None:
            first = next((e["train_seconds"] for e in ev if e[value] is not None and at_least(e[value], target)), None)
        close(r["time_to_target"], first, f"time to target of {r['program']} seed {r['seed']}")
        if r["reached_target"] != (first is not None):
            fail("reached_target disagrees")
    if opts["--reached-some"] and not any(r["ok"] and r["reached_target"] for r in runs):
        fail("no run reached the target")
    fronts = {}
    for p in d["programs"]:
        pts = []
        for s in p["budgets"]:
            mine = [r for r in runs if r["program"] == p["name"] and r["budget"] == s["budget"]]
            ok = [r for r in mine if r["ok"]]
            if s["runs"] != len(mine) or s["failed"] != len(mine) - len(ok):
                fail(f"{p['name']} budget {s['budget']}: runs {s['runs']} failed {s['failed']}")
            t = s["time_to_target"]
            reached = [r["time_to_target"] for r in ok if r["reached_target"]]
            if t["runs"] != len(mine) or t["reached"] != len(reached):
                fail(f"{p['name']} budget {s['budget']}: reached {t['reached']}/{t['runs']}, "
                     f"expected {len(reached)}/{len(mine)}")
            if opts["--reached-none"] and reached:
                fail("a run reached an unreachable target")
            if not ok:
                continue
            acc = [r["final_accuracy"] for r in ok if r["final_accuracy"] is not None]
            sec = [r["train_seconds"] for r in ok]
            what = f"{p['name']} budget {s['budget']}:"
            check_stats(s, "accuracy", acc, what)
            if "loss_mean" in s or LOWER:
                check_stats(s, "loss", [r["final_loss"] for r in ok if r["final_loss"] is not None], what)
            close(s["train_seconds_median"], statistics.median(sec), "train time median")
            close(s["train_seconds_min"], min(sec), "train time min")
            close(s["train_seconds_max"], max(sec), "train time max")
            close(t["median"], statistics.median(reached) if reached else None, "time to target median")
            close(t["min"], min(reached) if reached else None, "time to target min")
            pts.append((statistics.median(sec), statistics.mean(r[final_key] for r in ok), s["budget"]))
        # by time (points of equal time on a frontier are duplicates)
        front = sorted((q for q in pts if not any(dominates(o, q) for o in pts if o is not q)), key=lambda q: q[0])
        got = [(f["train_seconds"], f[metric], f["budget"]) for f in p["frontier"]]
        if len(got) != len(front):
            fail(f"{p['name']} frontier {got} != {front}")
        for g, w in zip(got, front):
            close(g[0], w[0], "frontier time")
            close(g[1], w[1], f"frontier {metric}")
            if g[2] != w[2]:
                fail(f"frontier budget {g[2]} != {w[2]}")
        for a, b in zip(got, got[1:]):
            if not (a[0] <= b[0] and at_least(b[1], a[1])):
                fail(f"frontier not monotone (time up, {metric} {'down' if LOWER else 'up'}): {got}")
        fronts[p["name"]] = [(f[0], f[1]) for f in got]
    for dm in d["dominance"]:
        a, b = fronts[dm["a"]], fronts[dm["b"]]
        if not a or not b:
            want = "neither"
        else:
            ca, cb = covers(a, b), covers(b, a)
            want = "equal" if ca and cb else "a_dominates" if ca else "b_dominates" if cb else "neither"
        if dm["result"] != want:
            fail(f"dominance {dm} != {want}")
        # where each frontier's best value within t is better than the other's
        for key, x, y in (("a_ahead", a, b), ("b_ahead", b, a)):
            ts = sorted({p[0] for p in x + y})
            want_iv = []
            for i, t in enumerate(ts):
                nxt = ts[i + 1] if i + 1 < len(ts) else None
                if better(best(x, t), best(y, t)):
                    if want_iv and want_iv[-1][1] == t:
                        want_iv[-1][1] = nxt
                    else:
                        want_iv.append([t, nxt])
            got_iv = dm[key]
            if len(got_iv) != len(want_iv):
                fail(f"{key} {got_iv} != {want_iv}")
            for g, w in zip(got_iv, want_iv):
                close(g[0], w[0], key)
                close(g[1], w[1], key)
            if want == "a_dominates" and key == "b_ahead" and want_iv:
                fail("the dominated frontier is ahead somewhere")
    if "--plot" in opts:
        data = open(opts["--plot"], "rb").read()
        if b"<svg" not in data[:2000] or len(data) < 1000:
            fail(f"{opts['--plot']} is not an SVG plot ({len(data)} bytes)")
    print(f"check_compare: ok ({len(runs)} runs, {len(names)} programs, {metric}, dominance "
          f"{[x['result'] for x in d['dominance']]})")


main()
