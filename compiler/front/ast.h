/* ast.h — the syntax tree of a .train file, as the parser builds it.
 *
 * Every node carries the Loc of its first token. Nodes live in the Arena of
 * the Module that owns them, so a whole tree is freed in one call.
 */
#ifndef ASTC_AST_H
#define ASTC_AST_H

#include "diag.h"

typedef struct Expr Expr;
typedef struct Stmt Stmt;
typedef struct Item Item;

typedef enum ExprKind {
  EX_NUM,      /* num, is_int: 42, 0.05, 5e-4                       */
  EX_STR,      /* str: "fashion-mnist"                              */
  EX_BOOL,     /* num (0 or 1): true, false                         */
  EX_NAME,     /* name: x, relu, t                                  */
  EX_MEMBER,   /* lhs.name: nn.dense                                */
  EX_CALL,     /* lhs(args): f(x, 256, stride: 2)                   */
  EX_UNARY,    /* op lhs: -x, not x                                 */
  EX_BINARY,   /* lhs op rhs: + - * / @ ** and comparisons          */
  EX_RANGE,    /* lhs -> rhs: 64 -> 512                             */
  EX_LIST,     /* [args]: [0.5, 0.75]                               */
  EX_TYPE,     /* a tensor type used as a value: f32[B, 784]        */
  EX_STAR,     /* `*` inside a type's dims: any rank                */
  EX_INDEX,    /* lhs[args]: x[:, 0:D], parts[1]                    */
  EX_SLICE,    /* lhs:rhs inside an index, either may be NULL: 0:D  */
} ExprKind;

typedef enum BinOp {
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MATMUL, OP_POW,
  OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE, OP_AND, OP_OR,
  OP_NEG, OP_NOT,
} BinOp;

typedef struct Arg {
  const char *name;  /* NULL for a positional argument */
  Loc name_loc;
  Expr *value;
} Arg;

typedef struct ArgList {
  Arg *items;
  int len;
} ArgList;

typedef struct TypeExpr {
  Loc loc;
  const char *name;  /* f32, i32, int, float, bool, str, ... */
  bool has_dims;     /* f32[...] as opposed to int         */
  ArgList dims;      /* dimension expressions (EX_STAR for any rank) */
} TypeExpr;

struct Expr {
  ExprKind kind;
  Loc loc;
  BinOp op;
  bool is_int;
  double num;
  const char *str;   /* EX_STR value, EX_NAME / EX_MEMBER name */
  Expr *lhs, *rhs;
  ArgList args;      /* EX_CALL, EX_LIST, EX_INDEX */
  TypeExpr *type;    /* EX_TYPE */
  int depth;         /* 1 + the deepest operand's depth (bounds recursion) */
};

typedef enum StmtKind {
  ST_ASSIGN,  /* name = value                  */
  ST_PARAM,   /* param name: type = value      */
  ST_STATE,   /* state name: type = value      */
  ST_UPDATE,  /* update name = value           */
  ST_RETURN,  /* return value                  */
  ST_IF,      /* if value { body } else { els } */
} StmtKind;

typedef struct StmtList {
  Stmt **items;
  int len;
} StmtList;

struct Stmt {
  StmtKind kind;
  Loc loc;
  const char *name;
  Loc name_loc;
  TypeExpr *type;
  Expr *value;
  StmtList body, els;
  int depth;         /* nesting depth of if-blocks inside (bounds recursion) */
};

typedef struct Param {
  const char *name;
  Loc loc;
  TypeExpr *type;
  Expr *def;  /* default value or NULL */
} Param;

typedef struct ParamList {
  Param *items;
  int len;
} ParamList;

typedef enum ItemKind {
  IT_IMPORT,   /* import name [as alias]            */
  IT_DATA,     /* data name = value                 */
  IT_LAYER,    /* layer name(params) -> ret { body } */
  IT_FN,       /* fn name(params) -> ret { body }    */
  IT_MODEL,    /* model name(params) -> ret { body } */
  IT_TRAIN,    /* train model on data { entries }   */
  IT_SPEEDUP,  /* speedup { entries }               */
} ItemKind;

/* One `key = value` line of a train block, or `pass value` of a speedup. */
typedef struct Entry {
  const char *key;
  Loc loc;
  Expr *value;  /* may be NULL in speedup for a bare pass name */
} Entry;

typedef struct EntryList {
  Entry *items;
  int len;
} EntryList;

struct Item {
  ItemKind kind;
  Loc loc;
  const char *name;      /* item name; import: module; train: model name */
  Loc name_loc;
  const char *alias;     /* import ... as alias; train: data name */
  Loc alias_loc;
  Param *params;
  int nparams;
  TypeExpr *ret;
  StmtList body;
  Entry *entries;
  int nentries;
  Expr *value;           /* data */
};

typedef struct Module {
  const char *path;
  int file;
  Arena *arena;
  Item **items;
  int nitems;
} Module;

/* Parses `text` (registered as source `file`) into a module; syntax errors
 * are reported through diag. Always returns a module (possibly partial). */
Module *parse_module(int file, const char *path);
void module_free(Module *m);

/* x as one dotted name if it is a name or a chain of names (a.b.c),
 * allocated in a; else NULL, with *bad (if not NULL) the part that is not a
 * name. Named arguments of nested layers (freeze at(residual_1.conv2d_1:
 * t)) and such names in lists (keep: [residual_1.conv2d_1]). */
const char *ast_dotted_name(Arena *a, const Expr *x, const Expr **bad);

const char *binop_str(BinOp op);
const char *item_kind_str(ItemKind k);

/* Debug dump of a module (astc show --ast). */
void ast_dump(FILE *out, const Module *m);

#endif
