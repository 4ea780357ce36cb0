/* ast_build.h — constructors the parser uses to build the syntax tree.
 * All nodes and lists are allocated from the module's arena. */
#ifndef ASTC_AST_BUILD_H
#define ASTC_AST_BUILD_H

#include "ast.h"

Expr *new_expr(Arena *a, ExprKind kind, Loc loc);
Expr *new_num(Arena *a, Loc loc, double v, bool is_int);
Expr *new_binary(Arena *a, BinOp op, Loc loc, Expr *lhs, Expr *rhs);
Expr *new_unary(Arena *a, BinOp op, Loc loc, Expr *operand);
Expr *new_range(Arena *a, Loc loc, Expr *lo, Expr *hi);
Expr *new_call(Arena *a, Loc loc, Expr *fn, ArgList args);
Expr *new_member(Arena *a, Loc loc, Expr *lhs, const char *name);
Expr *new_list(Arena *a, Loc loc, ArgList items);
Expr *new_index(Arena *a, Loc loc, Expr *lhs, ArgList items);
Expr *new_slice(Arena *a, Loc loc, Expr *lo, Expr *hi);
TypeExpr *new_type(Arena *a, Loc loc, const char *name, bool has_dims, ArgList dims);
Stmt *new_stmt(Arena *a, StmtKind kind, Loc loc, const char *name, Loc name_loc,
               TypeExpr *type, Expr *value);
Stmt *new_if(Arena *a, Loc loc, Expr *cond, StmtList body, StmtList els);
Item *new_item(Arena *a, ItemKind kind, Loc loc);
Item *new_callable(Arena *a, ItemKind kind, Loc loc, const char *name,
                   Loc name_loc, ParamList params, TypeExpr *ret, StmtList body);

void args_push(Arena *a, ArgList *l, Arg x);
void stmts_push(Arena *a, StmtList *l, Stmt *x);
void params_push(Arena *a, ParamList *l, Param x);
void entries_push(Arena *a, EntryList *l, Entry x);
void module_push_item(Module *m, Item *it);

#endif
