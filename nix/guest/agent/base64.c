/* Base64 (standard alphabet, padded): the encoding of every byte payload in a JSON frame. */
#include "agent.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Returns the decoded length, or -1 when the text is not base64 or does not fit in cap bytes. */
long b64decode(const char *s, size_t n, unsigned char *out, size_t cap) {
  if (n % 4) return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4];
    int last = i + 4 == n;
    for (int k = 0; k < 4; k++) {
      char c = s[i + k];
      v[k] = c == '=' && last && k >= 2 ? 0 : b64val(c);
      if (v[k] < 0) return -1;
    }
    if (s[i + 2] == '=' && s[i + 3] != '=') return -1;
    int pad = (s[i + 2] == '=') + (s[i + 3] == '=');
    unsigned triple = ((unsigned)v[0] << 18) | ((unsigned)v[1] << 12) | ((unsigned)v[2] << 6) | (unsigned)v[3];
    unsigned char bytes[3] = {(unsigned char)(triple >> 16), (unsigned char)(triple >> 8), (unsigned char)triple};
    for (int k = 0; k < 3 - pad; k++) {
      if (o >= cap) return -1;
      out[o++] = bytes[k];
    }
  }
  return (long)o;
}

void buf_b64(buf_t *b, const unsigned char *p, size_t n) {
  buf_put(b, "\"", 1);
  char quad[4];
  for (size_t i = 0; i < n; i += 3) {
    unsigned v = (unsigned)p[i] << 16;
    if (i + 1 < n) v |= (unsigned)p[i + 1] << 8;
    if (i + 2 < n) v |= p[i + 2];
    quad[0] = alphabet[(v >> 18) & 63];
    quad[1] = alphabet[(v >> 12) & 63];
    quad[2] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
    quad[3] = i + 2 < n ? alphabet[v & 63] : '=';
    buf_put(b, quad, 4);
  }
  buf_put(b, "\"", 1);
}
