/* rewrite.h — rebuilding a graph node by node: copy, drop or add nodes while
 * operands are renumbered. Passes use it to insert nodes where they belong
 * (SSA order) instead of appending at the end. */
#ifndef ASTC_REWRITE_H
#define ASTC_REWRITE_H

#include "irb.h"

typedef struct IrRewrite {
  const IrGraph *src;
  IrGraph dst;
  int *map;          /* src index -> dst index, -1 if dropped */
  IrBuilder b;       /* builds into dst */
} IrRewrite;

void rw_begin(IrRewrite *rw, const IrGraph *src);
/* Copies src node i with its operands renumbered; returns its new index. */
int rw_copy(IrRewrite *rw, int i);
/* Maps src node i to an existing dst node (replacing its uses). */
void rw_map(IrRewrite *rw, int i, int dst);
/* Replaces *g (which must be rw->src) with the rebuilt graph. */
void rw_end(IrRewrite *rw, IrGraph *g);

/* Dead-code elimination (ir_dce.c): removes nodes whose value nothing uses
 * and that have no effect; keeps node order. Returns the number removed. */
int ir_dce(IrGraph *g);

#endif
