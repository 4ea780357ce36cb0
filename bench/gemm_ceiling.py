#!/usr/bin/python3
"""gemm_ceiling.py — a program's GEMM-only ceiling with each GEMM backend.

The step's matrix products alone (the list bench/throughput.py takes from
`astc show`: linear layers as single GEMMs, attention's per-head products
as batched ones), timed by bench/gemm_step on astc's runtime with
ASTRT_GEMM=openblas, xsmm and auto (each product's calibrated choice), at 1
and 2 threads; the best of REPEATS runs of 7 repetitions each. A whole
step cannot be faster than its products alone through the fastest backend,
so this bounds what any change to the rest of the step can reach.

  /usr/bin/python3 bench/gemm_ceiling.py [--program examples/charlm.train] [--batch 32] [--repeats 3]
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import throughput as tp  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--program", default=os.path.join(HERE, "..", "examples", "charlm.train"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--astc", default=os.path.join(HERE, "..", "build-release", "compiler", "astc"))
    ap.add_argument("--gemm-step", default=os.path.join(HERE, "..", "build-release", "bench", "gemm_step"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    args = ap.parse_args()
    prods = tp.gemm_products(args.astc, args.program, args.batch)
    if not prods:
        sys.exit(f"{args.program}: no matrix products found")
    step_args = ["7"] + [tp.gemm_arg(p) for p in prods]
    mflop = sum(2 * p[2] * p[3] * p[4] * p[5] for p in prods) / 1e6
    print(f"{args.program}: {len(prods)} products, {mflop:.0f} MFLOP per step (batch {args.batch})")
    print("| backend | threads | ms per step (best of runs) | GFLOP/s | runs (ms) |")
    print("|---|---|---|---|---|")
    for backend in ["openblas", "xsmm", "auto"]:
        os.environ["ASTRT_GEMM"] = backend
        for threads in [int(t) for t in args.threads.split(",")]:
            runs = [tp.gemm_time(args.gemm_step, threads, step_args)[0] for _ in range(args.repeats)]
            best = min(runs)
            print(f"| {backend} | {threads} | {1e3 * best:.1f} | {mflop / 1e3 / best:.0f} | "
                  f"{', '.join(f'{1e3 * r:.1f}' for r in runs)} |")


if __name__ == "__main__":
    main()
