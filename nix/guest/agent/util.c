/* Small helpers shared by every subcommand: exact file I/O, clocks, logging, buffers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *data = malloc(cap + 1);
  if (!data) {
    close(fd);
    return NULL;
  }
  for (;;) {
    if (n == cap) {
      cap *= 2;
      char *grown = realloc(data, cap + 1);
      if (!grown) {
        free(data);
        close(fd);
        return NULL;
      }
      data = grown;
    }
    ssize_t r = read(fd, data + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      free(data);
      close(fd);
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  data[n] = 0;
  if (len) *len = n;
  return data;
}

int write_file(const char *path, const char *data, size_t len, int mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return -1;
  size_t off = 0;
  while (off < len) {
    ssize_t w = write(fd, data + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      close(fd);
      return -1;
    }
    off += (size_t)w;
  }
  return close(fd);
}

long read_long_file(const char *path, long fallback) {
  char *s = read_file(path, NULL);
  if (!s) return fallback;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  int bad = errno != 0 || end == s;
  free(s);
  return bad ? fallback : v;
}

int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t wall_time_s(void) { return (int64_t)time(NULL); }

void format_rfc3339(int64_t secs, char out[32]) {
  time_t t = (time_t)secs;
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void logmsg(const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  /* One write per line so lines from several processes on the console do not interleave. */
  char out[1100];
  int n = snprintf(out, sizeof out, "[mvm-agent] %s\n", line);
  if (n > 0) (void)!write(2, out, (size_t)(n < (int)sizeof out ? n : (int)sizeof out - 1));
}

/* Names of services, checks and users become path components: keep them boring. */
int valid_name(const char *s) {
  if (!s || !*s || strlen(s) > 64 || s[0] == '.') return 0;
  for (const char *p = s; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_' || c == '.'))
      return 0;
  }
  return 1;
}

void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
void set_cloexec(int fd) { fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC); }

void buf_init(buf_t *b) {
  b->data = NULL;
  b->len = b->cap = 0;
}
void buf_free(buf_t *b) {
  free(b->data);
  buf_init(b);
}
void buf_put(buf_t *b, const void *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) abort(); /* out of memory in a tiny agent: nothing sensible left to do */
    b->data = grown;
    b->cap = cap;
  }
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = 0;
}
void buf_puts(buf_t *b, const char *s) { buf_put(b, s, strlen(s)); }
void buf_printf(buf_t *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof tmp) {
    buf_put(b, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) abort();
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  buf_put(b, big, (size_t)n);
  free(big);
}

/* JSON string literal. Bytes that are not valid UTF-8 are replaced by U+FFFD so the host's parser
 * never rejects a reply because a health check printed binary junk. */
void buf_json_string(buf_t *b, const char *s, size_t n) {
  buf_put(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c == '"' || c == '\\') {
      char esc[2] = {'\\', (char)c};
      buf_put(b, esc, 2);
      i++;
    } else if (c < 0x20) {
      if (c == '\n') buf_puts(b, "\\n");
      else if (c == '\t') buf_puts(b, "\\t");
      else if (c == '\r') buf_puts(b, "\\r");
      else buf_printf(b, "\\u%04x", c);
      i++;
    } else if (c < 0x80) {
      buf_put(b, &p[i], 1);
      i++;
    } else {
      size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
      int ok = need != 0 && i + need <= n && c != 0xC0 && c != 0xC1 && c < 0xF5;
      for (size_t k = 1; ok && k < need; k++)
        if ((p[i + k] & 0xC0) != 0x80) ok = 0;
      if (ok) {
        buf_put(b, &p[i], need);
        i += need;
      } else {
        buf_puts(b, "\xEF\xBF\xBD");
        i++;
      }
    }
  }
  buf_put(b, "\"", 1);
}

void buf_consume(buf_t *b, size_t n) {
  if (n >= b->len) {
    b->len = 0;
  } else {
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
  }
  if (b->data) b->data[b->len] = 0;
}
