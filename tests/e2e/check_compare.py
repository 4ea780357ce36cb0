#!/usr/bin/python3
"""check_compare.py — checks the JSON results of `astc compare`.

  check_compare.py FILE --programs a,b --seeds N --budgets 0.5,1
                   [--reached-none] [--failed-all] [--plot FILE]

Every (program, seed, budget) must have a run, none dropped; the summaries
must agree with the runs (median, min, max, mean, sample std, time to
target reached k/n), each frontier with the Pareto definition, the
dominance with its definition (docs/compare.md), all recomputed here in
Python. Exits 1 with a message on any failure."""
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


def weakly(p, q):
    return p[0] <= q[0] and p[1] >= q[1]


def dominates(p, q):
    return weakly(p, q) and (p[0] < q[0] or p[1] > q[1])


def best(front, t):
    return max((p[1] for p in front if p[0] <= t), default=-math.inf)


def covers(a, b):
    return all(any(weakly(p, q) for p in a) for q in b)


def main():
    args = sys.argv[1:]
    path = args.pop(0)
    opts = {"--reached-none": False, "--failed-all": False}
    while args:
        a = args.pop(0)
        if a in ("--reached-none", "--failed-all"):
            opts[a] = True
        else:
            opts[a] = args.pop(0)
    d = json.load(open(path))
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
        if not r["eval_seconds"] >= 0 or not r["wall_seconds"] >= r["train_seconds"]:
            fail(f"run times {r['train_seconds']} {r['eval_seconds']} {r['wall_seconds']}")
        # time to target: the first evaluation at or above the target (epoch granularity)
        first = next((e["train_seconds"] for e in ev if e["test_accuracy"] >= target), None)
        close(r["time_to_target"], first, f"time to target of {r['program']} seed {r['seed']}")
        if r["reached_target"] != (first is not None):
            fail("reached_target disagrees")
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
            acc = [r["final_accuracy"] for r in ok]
            sec = [r["train_seconds"] for r in ok]
            close(s["accuracy_mean"], statistics.mean(acc), "accuracy mean")
            close(s["accuracy_std"], statistics.stdev(acc) if len(acc) > 1 else 0.0, "accuracy std")
            close(s["train_seconds_median"], statistics.median(sec), "train time median")
            close(s["train_seconds_min"], min(sec), "train time min")
            close(s["train_seconds_max"], max(sec), "train time max")
            close(t["median"], statistics.median(reached) if reached else None, "time to target median")
            close(t["min"], min(reached) if reached else None, "time to target min")
            pts.append((statistics.median(sec), statistics.mean(acc), s["budget"]))
        front = sorted((q for q in pts if not any(dominates(o, q) for o in pts if o is not q)),
                       key=lambda q: (q[0], q[1]))
        got = [(f["train_seconds"], f["accuracy"], f["budget"]) for f in p["frontier"]]
        if len(got) != len(front):
            fail(f"{p['name']} frontier {got} != {front}")
        for g, w in zip(got, front):
            close(g[0], w[0], "frontier time")
            close(g[1], w[1], "frontier accuracy")
            if g[2] != w[2]:
                fail(f"frontier budget {g[2]} != {w[2]}")
        for a, b in zip(got, got[1:]):
            if not (a[0] <= b[0] and a[1] <= b[1]):
                fail(f"frontier not increasing: {got}")
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
        # where each frontier's best accuracy within t is higher than the other's
        for key, x, y in (("a_ahead", a, b), ("b_ahead", b, a)):
            ts = sorted({p[0] for p in x + y})
            want_iv = []
            for i, t in enumerate(ts):
                nxt = ts[i + 1] if i + 1 < len(ts) else None
                if best(x, t) > best(y, t):
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
    print(f"check_compare: ok ({len(runs)} runs, {len(names)} programs, dominance "
          f"{[x['result'] for x in d['dominance']]})")


main()
