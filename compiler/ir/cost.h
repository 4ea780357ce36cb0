/* cost.h — FLOPs and bytes of IR nodes and graphs (cost.c). */
#ifndef ASTC_COST_H
#define ASTC_COST_H

#include "ir.h"

typedef struct IrCost {
  double flops;
  double bytes;
} IrCost;

IrCost ir_node_cost(const IrProgram *p, const IrGraph *g, int i, int64_t batch);
/* The part of node i's cost that is weight averaging's (a running average
 * fused into an update, or an average op); elements: the parameters averaged. */
IrCost ir_average_cost(const IrProgram *p, const IrGraph *g, int i, int64_t *elements);
/* Sum over the nodes of one role (role < 0: all nodes). */
IrCost ir_graph_cost(const IrProgram *p, const IrGraph *g, int64_t batch, int role);

#endif
