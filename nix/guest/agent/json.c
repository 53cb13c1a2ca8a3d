/* A strict, bounded JSON parser: requests are small (at most MVM_MAX_FRAME bytes), so a tree of
 * heap nodes is fine. Depth is limited so a hostile frame cannot exhaust the stack. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

#define MAX_DEPTH 32

typedef struct {
  const char *p, *end;
  const char *err;
} parser_t;

static void skip_ws(parser_t *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')) ps->p++;
}

static jval_t *new_val(jtype_t t) {
  jval_t *v = calloc(1, sizeof *v);
  if (v) v->type = t;
  return v;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(buf_t *b, unsigned cp) {
  char o[4];
  if (cp < 0x80) {
    o[0] = (char)cp;
    buf_put(b, o, 1);
  } else if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    buf_put(b, o, 2);
  } else if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    buf_put(b, o, 3);
  } else {
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    buf_put(b, o, 4);
  }
}

static int parse_string(parser_t *ps, char **out, size_t *out_len) {
  if (ps->p >= ps->end || *ps->p != '"') return ps->err = "expected string", -1;
  ps->p++;
  buf_t b;
  buf_init(&b);
  buf_put(&b, "", 0);
  while (ps->p < ps->end && *ps->p != '"') {
    unsigned char c = (unsigned char)*ps->p;
    if (c < 0x20) {
      buf_free(&b);
      return ps->err = "control character in string", -1;
    }
    if (c != '\\') {
      /* Copy the whole run of plain characters at once (payloads are long base64 strings). */
      const char *start = ps->p;
      while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20) ps->p++;
      buf_put(&b, start, (size_t)(ps->p - start));
      continue;
    }
    ps->p++;
    if (ps->p >= ps->end) break;
    char e = *ps->p++;
    switch (e) {
      case '"': buf_put(&b, "\"", 1); break;
      case '\\': buf_put(&b, "\\", 1); break;
      case '/': buf_put(&b, "/", 1); break;
      case 'b': buf_put(&b, "\b", 1); break;
      case 'f': buf_put(&b, "\f", 1); break;
      case 'n': buf_put(&b, "\n", 1); break;
      case 'r': buf_put(&b, "\r", 1); break;
      case 't': buf_put(&b, "\t", 1); break;
      case 'u': {
        unsigned cp;
        if (ps->end - ps->p < 4 || hex4(ps->p, &cp) < 0) {
          buf_free(&b);
          return ps->err = "bad \\u escape", -1;
        }
        ps->p += 4;
        if (cp >= 0xD800 && cp < 0xDC00) {
          unsigned lo;
          if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u' || hex4(ps->p + 2, &lo) < 0 ||
              lo < 0xDC00 || lo > 0xDFFF) {
            buf_free(&b);
            return ps->err = "bad surrogate pair", -1;
          }
          ps->p += 6;
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        put_utf8(&b, cp);
        break;
      }
      default: buf_free(&b); return ps->err = "bad escape", -1;
    }
  }
  if (ps->p >= ps->end) {
    buf_free(&b);
    return ps->err = "unterminated string", -1;
  }
  ps->p++;
  *out = b.data;
  *out_len = b.len;
  return 0;
}

static jval_t *parse_value(parser_t *ps, int depth);

static int push_item(jval_t *v, jval_t *item, char *key) {
  jval_t **items = realloc(v->items, (v->count + 1) * sizeof *items);
  if (!items) return -1;
  v->items = items;
  if (v->type == J_OBJ) {
    char **keys = realloc(v->keys, (v->count + 1) * sizeof *keys);
    if (!keys) return -1;
    v->keys = keys;
    v->keys[v->count] = key;
  }
  v->items[v->count++] = item;
  return 0;
}

static jval_t *parse_container(parser_t *ps, int depth, int is_obj) {
  jval_t *v = new_val(is_obj ? J_OBJ : J_ARR);
  if (!v) return NULL;
  ps->p++;
  skip_ws(ps);
  if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
    ps->p++;
    return v;
  }
  for (;;) {
    char *key = NULL;
    if (is_obj) {
      size_t klen;
      skip_ws(ps);
      if (parse_string(ps, &key, &klen) < 0) goto fail;
      skip_ws(ps);
      if (ps->p >= ps->end || *ps->p != ':') {
        free(key);
        ps->err = "expected ':'";
        goto fail;
      }
      ps->p++;
    }
    jval_t *item = parse_value(ps, depth + 1);
    if (!item || push_item(v, item, key) < 0) {
      free(key);
      json_free(item);
      goto fail;
    }
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
      ps->p++;
      continue;
    }
    if (ps->p < ps->end && *ps->p == (is_obj ? '}' : ']')) {
      ps->p++;
      return v;
    }
    ps->err = is_obj ? "expected ',' or '}'" : "expected ',' or ']'";
    goto fail;
  }
fail:
  json_free(v);
  return NULL;
}

static jval_t *parse_value(parser_t *ps, int depth) {
  if (depth > MAX_DEPTH) return ps->err = "nesting too deep", NULL;
  skip_ws(ps);
  if (ps->p >= ps->end) return ps->err = "unexpected end", NULL;
  char c = *ps->p;
  if (c == '{' || c == '[') return parse_container(ps, depth, c == '{');
  if (c == '"') {
    jval_t *v = new_val(J_STR);
    if (!v || parse_string(ps, &v->str, &v->str_len) < 0) {
      free(v);
      return NULL;
    }
    return v;
  }
  static const struct {
    const char *word;
    jtype_t type;
    int b;
  } words[] = {{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
  for (size_t i = 0; i < 3; i++) {
    size_t n = strlen(words[i].word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, words[i].word, n) == 0) {
      ps->p += n;
      jval_t *v = new_val(words[i].type);
      if (v) v->boolean = words[i].b;
      return v;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    char tmp[64];
    size_t n = 0;
    while (ps->p + n < ps->end && n < sizeof tmp - 1 && strchr("+-0123456789.eE", ps->p[n])) {
      tmp[n] = ps->p[n];
      n++;
    }
    tmp[n] = 0;
    char *endp;
    double d = strtod(tmp, &endp);
    if (endp != tmp + n || !isfinite(d)) return ps->err = "bad number", NULL;
    ps->p += n;
    jval_t *v = new_val(J_NUM);
    if (v) v->num = d;
    return v;
  }
  return ps->err = "unexpected character", NULL;
}

jval_t *json_parse(const char *text, size_t len, const char **err) {
  parser_t ps = {text, text + len, NULL};
  jval_t *v = parse_value(&ps, 0);
  if (v) {
    skip_ws(&ps);
    if (ps.p != ps.end) {
      json_free(v);
      v = NULL;
      ps.err = "trailing data";
    }
  }
  if (!v && err) *err = ps.err ? ps.err : "out of memory";
  return v;
}

void json_free(jval_t *v) {
  if (!v) return;
  for (size_t i = 0; i < v->count; i++) {
    json_free(v->items[i]);
    if (v->keys) free(v->keys[i]);
  }
  free(v->items);
  free(v->keys);
  free(v->str);
  free(v);
}

const jval_t *json_get(const jval_t *obj, const char *key) {
  if (!obj || obj->type != J_OBJ) return NULL;
  for (size_t i = 0; i < obj->count; i++)
    if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
  return NULL;
}
