#!/bin/sh
# GPT wall-clock: astc's compiled step per backend (bench/step_time, .so, 20 steps) and torch_gpt.py, 2 rounds
B=/work/wt-gemm/build/bench/step_time
for r in 1 2; do
  for g in auto openblas xsmm; do
    for t in 1 2; do echo "round $r astc $g t$t $($B /tmp/lm_$g.so 20 $t 2>&1 | grep 'ms per step')"; done
  done
  for s in 1x1 1x2; do
    o=${s%x*}; b=${s#*x}
    for v in "" "--fused-qkv"; do
      echo "round $r torch $s $v $(OMP_NUM_THREADS=$o OPENBLAS_NUM_THREADS=$b /usr/bin/python3 /work/wt-gemm/bench/torch_gpt.py throughput --steps 20 --threads $o $v 2>/dev/null | tail -1)"
    done
  done
done
