/* drop.h — layer dropping (stochastic depth, progressive layer dropping).
 *
 * Two halves. Before differentiation (drop_blocks.c, called by the front end
 * for every training step it builds), the residual blocks of the forward
 * graph are found and each block's join y = x + f(x) becomes
 * gated_add(x, f(x), c) with c = drop_gate(p_l(t)): 1/p_l where the block runs in
 * this step, 0 where it is dropped. Autodiff then derives the backward of the
 * gated join (the branch's gradient enters as c dy). After the other passes,
 * the drop pass (drop.c) finds each block's forward, backward and update work
 * and guards it (IrNode.guard), so that code generation and the interpreter
 * skip it in a step where c is 0.
 */
#ifndef ASTC_DROP_H
#define ASTC_DROP_H

#include "ir.h"
#include "speedup.h"

/* Gates the residual blocks of the forward graph g (forward and loss, not
 * yet differentiated) for the drop item `it`: returns the index of `loss`
 * in the rewritten graph, or -1 after reporting why the model has no
 * residual block (or a bad argument). A schedule that keeps every block in
 * every step (final: 1, theta: 1, start: 1) leaves g as it is. */
int drop_gate_step(IrProgram *p, IrGraph *g, int loss, const SpeedupItem *it);

/* The keep probability of block l (1-based) of L at progress t. */
double drop_keep_probability(const SpeedupItem *it, int l, int L, double t);

/* The mean over [t0, t1) of the keep probability a gate node reads (its
 * operand: a constant or a schedule of t), for astc cost. */
double drop_mean_keep(const IrGraph *g, int keep_node, double t0, double t1);

#endif
