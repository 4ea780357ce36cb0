/* value.c — elaboration values: constructors and descriptions for messages. */
#include <stdio.h>

#include "elab.h"

Value v_err(void) { return (Value){.kind = V_ERR}; }

Value v_num(VKind k, double x, Loc loc) {
  return (Value){.kind = k, .num = x, .loc = loc};
}

Value v_tensor(int node, Loc loc) {
  if (node < 0) return v_err();
  return (Value){.kind = V_TENSOR, .node = node, .loc = loc};
}

const char *vkind_name(VKind k) {
  static const char *names[] = {
      [V_ERR] = "error", [V_NONE] = "nothing", [V_TENSOR] = "tensor",
      [V_INT] = "int", [V_FLOAT] = "float", [V_BOOL] = "bool", [V_STR] = "string",
      [V_SYMBOL] = "name", [V_LIST] = "list", [V_RANGE] = "range",
      [V_BATCH] = "the batch size B", [V_ITEM] = "definition", [V_MODULE] = "module",
      [V_BUILTIN] = "built-in function", [V_INIT] = "initializer",
      [V_PARTIAL] = "function",
  };
  return names[k];
}

const char *value_desc(Elab *e, const Value *v, char *buf, size_t cap) {
  switch (v->kind) {
  case V_TENSOR: return type_str(&e->g->nodes[v->node].type, buf, cap);
  case V_INT: snprintf(buf, cap, "int %.0f", v->num); return buf;
  case V_FLOAT: snprintf(buf, cap, "float %s", num_str(v->num)); return buf;
  case V_BOOL: snprintf(buf, cap, "bool %s", v->num ? "true" : "false"); return buf;
  case V_STR: snprintf(buf, cap, "string \"%s\"", v->str); return buf;
  case V_SYMBOL: snprintf(buf, cap, "name '%s'", v->str); return buf;
  case V_ITEM:
    snprintf(buf, cap, "%s '%s'", item_kind_str(v->item->kind), v->item->name);
    return buf;
  case V_BUILTIN: snprintf(buf, cap, "built-in '%s'", v->builtin->name); return buf;
  default: snprintf(buf, cap, "%s", vkind_name(v->kind)); return buf;
  }
}
