/* Streamed file transfers. "read" sends a regular file (or a range of it) as "data" frames, as far
 * as the host's window allows, one chunk per stream per turn of the event loop so health checks and
 * other requests keep being answered. "write" receives "data" frames into a temporary file next to
 * the target and renames it into place on "end" (atomic unless "atomic": false), so a transfer that
 * is cut off leaves the old file as it was and no partial file behind. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define MAX_FILE_STREAMS 16

enum { FS_READ = 1, FS_WRITE };

typedef struct {
  int kind; /* 0: free */
  int fd;
  origin_t owner;
  double id;
  unsigned long long remaining, done;
  size_t unacked;
  int mode;
  char *tmp_path;   /* write: the temporary file, NULL when writing in place */
  char *final_path; /* write: the target */
} fstream_t;

static fstream_t streams[MAX_FILE_STREAMS];

static fstream_t *find(origin_t from, double id) {
  for (int i = 0; i < MAX_FILE_STREAMS; i++)
    if (streams[i].kind && streams[i].owner.conn == from.conn && streams[i].owner.gen == from.gen && streams[i].id == id)
      return &streams[i];
  return NULL;
}

static fstream_t *new_stream(void) {
  for (int i = 0; i < MAX_FILE_STREAMS; i++)
    if (!streams[i].kind) return &streams[i];
  return NULL;
}

/* Ends a stream; an unfinished write removes its temporary file. */
static void drop(fstream_t *s) {
  if (s->fd >= 0) close(s->fd);
  if (s->tmp_path) unlink(s->tmp_path);
  free(s->tmp_path);
  free(s->final_path);
  memset(s, 0, sizeof *s);
  s->fd = -1;
}

static void start_read(const jval_t *req, double id, origin_t from, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  const jval_t *off = json_get(req, "offset");
  const jval_t *len = json_get(req, "length");
  double offset = 0, length = -1;
  if (off && off->type != J_NULL) {
    if (off->type != J_NUM || off->num < 0 || off->num > 9007199254740991.0 || off->num != (double)(long long)off->num)
      return reply_error(r, id, 1, "bad_request", "offset must be a non-negative integer");
    offset = off->num;
  }
  if (len && len->type != J_NULL) {
    if (len->type != J_NUM || len->num < 0 || len->num > 9007199254740991.0 || len->num != (double)(long long)len->num)
      return reply_error(r, id, 1, "bad_request", "length must be a non-negative integer");
    length = len->num;
  }
  fstream_t *s = new_stream();
  if (!s) return reply_error(r, id, 1, "busy", "too many file transfers at once (16)");
  /* O_NONBLOCK: opening a FIFO or a device must never stall the agent. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return reply_errno(r, id, errno, "cannot read", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    int dir = S_ISDIR(st.st_mode);
    close(fd);
    if (dir) return reply_errno(r, id, EISDIR, "cannot read", path);
    return reply_error(r, id, 1, "not_regular", "only regular files can be read");
  }
  unsigned long long size = (unsigned long long)st.st_size;
  unsigned long long start = (unsigned long long)offset > size ? size : (unsigned long long)offset;
  unsigned long long count = size - start;
  if (length >= 0 && (unsigned long long)length < count) count = (unsigned long long)length;
  if (lseek(fd, (off_t)start, SEEK_SET) < 0) {
    int err = errno;
    close(fd);
    return reply_errno(r, id, err, "cannot seek in", path);
  }
  memset(s, 0, sizeof *s);
  s->kind = FS_READ;
  s->fd = fd;
  s->owner = from;
  s->id = id;
  s->remaining = count;
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"read\",\"size\":%llu,\"offset\":%llu,\"length\":%llu,\"mode\":%u,\"more\":true}",
             id, size, start, count, (unsigned)(st.st_mode & 07777));
}

static void start_write(const jval_t *req, double id, origin_t from, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  const jval_t *m = json_get(req, "mode");
  int mode = 0644;
  if (m && m->type != J_NULL) {
    if (m->type != J_NUM || m->num < 0 || m->num > 07777 || m->num != (double)(int)m->num)
      return reply_error(r, id, 1, "bad_request", "mode must be 0 to 07777");
    mode = (int)m->num;
  }
  const jval_t *atomic = json_get(req, "atomic");
  const jval_t *parents = json_get(req, "parents");
  int in_place = atomic && atomic->type == J_BOOL && !atomic->boolean;
  size_t plen = strlen(path);
  if (path[plen - 1] == '/') return reply_errno(r, id, EISDIR, "cannot write", path);
  fstream_t *s = new_stream();
  if (!s) return reply_error(r, id, 1, "busy", "too many file transfers at once (16)");
  if (parents && parents->type == J_BOOL && parents->boolean && make_parents(path) < 0)
    return reply_errno(r, id, errno, "cannot create parents of", path);
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return reply_errno(r, id, EISDIR, "cannot write", path);
  char *final_path = strdup(path);
  char *tmp_path = NULL;
  int fd;
  if (in_place) {
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_CLOEXEC, mode);
  } else {
    const char *slash = strrchr(path, '/');
    size_t cap = plen + 32;
    tmp_path = malloc(cap);
    if (tmp_path)
      snprintf(tmp_path, cap, "%.*s/.%s.mvm-%d-%u", (int)(slash - path), path, slash + 1, (int)getpid(), (unsigned)id);
    fd = tmp_path && final_path ? open(tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
    if (!tmp_path || !final_path) errno = ENOMEM;
  }
  if (fd < 0) {
    int err = errno;
    free(tmp_path);
    free(final_path);
    return reply_errno(r, id, err == ENAMETOOLONG && !in_place ? ENAMETOOLONG : err, "cannot write", path);
  }
  memset(s, 0, sizeof *s);
  s->kind = FS_WRITE;
  s->fd = fd;
  s->owner = from;
  s->id = id;
  s->mode = mode;
  s->tmp_path = tmp_path;
  s->final_path = final_path;
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"write\",\"window\":%d,\"more\":true}", id, MVM_WINDOW);
}

static void write_data(fstream_t *s, const jval_t *req, buf_t *r) {
  const jval_t *d = json_get(req, "data");
  size_t cap = d && d->type == J_STR ? d->str_len / 4 * 3 : 0;
  unsigned char *raw = cap ? malloc(cap) : NULL;
  long n = raw ? b64decode(d->str, d->str_len, raw, cap) : -1;
  if (n < 0 && cap == 0 && d && d->type == J_STR) n = 0;
  if (n < 0) {
    free(raw);
    reply_error(r, s->id, 1, "bad_request", "data must be base64");
    return drop(s);
  }
  for (long off = 0; off < n;) {
    ssize_t w = write(s->fd, raw + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) {
      int err = errno;
      free(raw);
      reply_errno(r, s->id, err, "cannot write", s->final_path);
      return drop(s);
    }
    off += w;
  }
  free(raw);
  s->done += (unsigned long long)n;
  stream_frame_head(r, s->id, "ack");
  buf_printf(r, ",\"bytes\":%ld,\"more\":true}", n);
}

static void write_end(fstream_t *s, buf_t *r) {
  int err = 0;
  if (fchmod(s->fd, (mode_t)s->mode) < 0 || fsync(s->fd) < 0) err = errno;
  if (close(s->fd) < 0 && !err) err = errno;
  s->fd = -1;
  if (!err && s->tmp_path && rename(s->tmp_path, s->final_path) < 0) err = errno;
  if (err) {
    reply_errno(r, s->id, err, "cannot write", s->final_path);
    return drop(s);
  }
  free(s->tmp_path);
  s->tmp_path = NULL;
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"written\",\"bytes\":%llu}", s->id, s->done);
  drop(s);
}

int filestreams_pump(void) {
  static unsigned char tmp[MVM_CHUNK];
  int more = 0;
  for (int i = 0; i < MAX_FILE_STREAMS; i++) {
    fstream_t *s = &streams[i];
    if (s->kind != FS_READ || s->unacked >= MVM_WINDOW || conn_queued(s->owner) >= MVM_OUT_LIMIT) continue;
    size_t want = sizeof tmp;
    if (want > MVM_WINDOW - s->unacked) want = MVM_WINDOW - s->unacked;
    if (want > s->remaining) want = (size_t)s->remaining;
    ssize_t n = want ? read(s->fd, tmp, want) : 0;
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      more = 1;
      continue;
    }
    buf_t b;
    buf_init(&b);
    if (n < 0) {
      reply_errno(&b, s->id, errno, "cannot read", "file");
    } else if (n == 0) { /* done, or the file shrank while being read */
      buf_printf(&b, "{\"id\":%.0f,\"type\":\"end\",\"bytes\":%llu}", s->id, s->done);
    } else {
      stream_frame_head(&b, s->id, "data");
      buf_puts(&b, ",\"data\":");
      buf_b64(&b, tmp, (size_t)n);
      buf_puts(&b, ",\"more\":true}");
      s->done += (unsigned long long)n;
      s->remaining -= (unsigned long long)n;
      s->unacked += (size_t)n;
    }
    int gone = conn_send(s->owner, &b) < 0;
    buf_free(&b);
    if (gone || n <= 0) drop(s);
    else if (s->unacked < MVM_WINDOW) more = 1;
  }
  return more;
}

void filestreams_conn_lost(int conn) {
  for (int i = 0; i < MAX_FILE_STREAMS; i++)
    if (streams[i].kind && streams[i].owner.conn == conn) drop(&streams[i]);
}

int filestreams_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply) {
  if (strcmp(type, "read") == 0) {
    start_read(req, id, from, reply);
    return 1;
  }
  if (strcmp(type, "write") == 0) {
    start_write(req, id, from, reply);
    return 1;
  }
  int cont = strcmp(type, "data") == 0 || strcmp(type, "end") == 0 || strcmp(type, "ack") == 0 ||
             strcmp(type, "detach") == 0;
  if (!cont) return 0;
  /* Frames of a stream that has ended (or never was) are ignored: the host may not know yet. */
  fstream_t *s = find(from, id);
  if (!s) return 1;
  if (strcmp(type, "detach") == 0) {
    drop(s);
  } else if (strcmp(type, "ack") == 0) {
    const jval_t *n = json_get(req, "bytes");
    if (s->kind == FS_READ && n && n->type == J_NUM && n->num > 0)
      s->unacked = (double)s->unacked > n->num ? s->unacked - (size_t)n->num : 0;
  } else if (s->kind == FS_WRITE && strcmp(type, "data") == 0) {
    write_data(s, req, reply);
  } else if (s->kind == FS_WRITE && strcmp(type, "end") == 0) {
    write_end(s, reply);
  }
  return 1;
}
