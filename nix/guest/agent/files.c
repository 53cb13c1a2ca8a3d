/* File requests answered at once: stat, list, mkdir, remove, rename. Paths are absolute guest paths
 * (at most 4095 bytes, no NUL). Nothing here follows a symbolic link except stat with "follow":
 * listing and removing a tree never leave it through a link. Errors carry errno-like codes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define MAX_LIST_DEPTH 32
#define MAX_LIST_ENTRIES 100000
#define MAX_LIST_BYTES (8 * 1024 * 1024)
#define LIST_FRAME_BYTES (128 * 1024)
#define MAX_REMOVE_DEPTH 256

static const char *kind_of(mode_t m) {
  return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

static void put_stat_fields(buf_t *b, const struct stat *st) {
  buf_printf(b, ",\"kind\":\"%s\",\"size\":%lld,\"mode\":%u,\"uid\":%u,\"gid\":%u,\"mtime_ms\":%lld", kind_of(st->st_mode),
             (long long)st->st_size, (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
             (long long)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000);
}

static void put_link_target(buf_t *b, int dirfd, const char *name) {
  char target[4096];
  ssize_t n = readlinkat(dirfd, name, target, sizeof target - 1);
  buf_puts(b, ",\"target\":");
  if (n >= 0) buf_json_string(b, target, (size_t)n);
  else buf_puts(b, "null");
}

static void do_stat(const jval_t *req, double id, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  const jval_t *follow = json_get(req, "follow");
  struct stat st;
  int f = follow && follow->type == J_BOOL && follow->boolean;
  if ((f ? stat(path, &st) : lstat(path, &st)) < 0) return reply_errno(r, id, errno, "cannot stat", path);
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"stat\"", id);
  put_stat_fields(r, &st);
  if (S_ISLNK(st.st_mode)) put_link_target(r, AT_FDCWD, path);
  buf_puts(r, "}");
}

typedef struct {
  double id;
  origin_t to;
  buf_t frame; /* the entries of the frame being filled */
  size_t count, total_bytes;
  int max_depth;
  int error;   /* errno of the first failure that stops the listing, or E2BIG when over a limit */
} lister_t;

static void flush_entries(lister_t *l, int last) {
  buf_t b;
  buf_init(&b);
  if (last) buf_printf(&b, "{\"id\":%.0f,\"ok\":true,\"type\":\"list\",\"count\":%zu,\"entries\":[", l->id, l->count);
  else stream_frame_head(&b, l->id, "entries"), buf_puts(&b, ",\"entries\":[");
  if (l->frame.len) buf_put(&b, l->frame.data, l->frame.len);
  buf_puts(&b, last ? "]}" : "],\"more\":true}");
  if (!last) conn_send(l->to, &b);
  l->frame.len = 0;
  if (last) {
    l->frame = b; /* handed to the caller as the reply */
    return;
  }
  buf_free(&b);
}

/* Walks dirfd (opened O_NOFOLLOW), naming entries relative to the listed directory. */
static void walk(lister_t *l, int dirfd, const char *rel, int depth) {
  DIR *d = fdopendir(dirfd);
  if (!d) {
    close(dirfd);
    return;
  }
  struct dirent *e;
  while (!l->error && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue; /* vanished meanwhile */
    char child[4096];
    int n = snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
    if (n < 0 || (size_t)n >= sizeof child) continue;
    size_t before = l->frame.len;
    if (l->frame.len) buf_puts(&l->frame, ",");
    buf_puts(&l->frame, "{\"path\":");
    buf_json_string(&l->frame, child, (size_t)n);
    put_stat_fields(&l->frame, &st);
    if (S_ISLNK(st.st_mode)) put_link_target(&l->frame, dirfd, e->d_name);
    buf_puts(&l->frame, "}");
    l->total_bytes += l->frame.len - before;
    if (++l->count > MAX_LIST_ENTRIES || l->total_bytes > MAX_LIST_BYTES) {
      l->error = E2BIG;
      break;
    }
    if (l->frame.len >= LIST_FRAME_BYTES) flush_entries(l, 0);
    if (S_ISDIR(st.st_mode) && depth < l->max_depth) {
      int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) walk(l, sub, child, depth + 1);
    }
  }
  closedir(d);
}

static void do_list(const jval_t *req, double id, origin_t from, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  const jval_t *depth = json_get(req, "depth");
  int max_depth = 1;
  if (depth && depth->type != J_NULL) {
    if (depth->type != J_NUM || depth->num < 1 || depth->num > MAX_LIST_DEPTH || depth->num != (double)(int)depth->num)
      return reply_error(r, id, 1, "bad_request", "depth must be 1 to 32");
    max_depth = (int)depth->num;
  }
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return reply_errno(r, id, errno, "cannot list", path);
  lister_t l = {id, from, {0}, 0, 0, max_depth, 0};
  buf_init(&l.frame);
  walk(&l, fd, "", 1);
  if (l.error) {
    buf_free(&l.frame);
    return reply_error(r, id, 1, "too_large",
                       "the listing exceeds 100000 entries or 8 MiB: list a smaller tree or a lower depth");
  }
  flush_entries(&l, 1);
  buf_put(r, l.frame.data, l.frame.len);
  buf_free(&l.frame);
}

static int mode_field(const jval_t *req, int fallback) {
  const jval_t *m = json_get(req, "mode");
  if (!m || m->type == J_NULL) return fallback;
  if (m->type != J_NUM || m->num < 0 || m->num > 07777 || m->num != (double)(int)m->num) return -1;
  return (int)m->num;
}

static int flag(const jval_t *req, const char *key) {
  const jval_t *v = json_get(req, key);
  return v && v->type == J_BOOL && v->boolean;
}

static void do_mkdir(const jval_t *req, double id, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  int mode = mode_field(req, 0755);
  if (mode < 0) return reply_error(r, id, 1, "bad_request", "mode must be 0 to 07777");
  int rc;
  if (flag(req, "parents")) {
    char *copy = strdup(path);
    if (!copy) return reply_errno(r, id, ENOMEM, "cannot create directory", path);
    rc = mkdirs(copy, (mode_t)mode);
    free(copy);
  } else {
    rc = mkdir(path, (mode_t)mode);
  }
  if (rc < 0) return reply_errno(r, id, errno, "cannot create directory", path);
  /* An explicit mode is applied exactly (no umask), also to a directory that already existed. */
  const jval_t *given = json_get(req, "mode");
  if (given && given->type == J_NUM && chmod(path, (mode_t)mode) < 0)
    return reply_errno(r, id, errno, "cannot set the mode of", path);
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"mkdir\"}", id);
}

static int remove_tree(int dirfd, const char *name, int depth) {
  if (depth > MAX_REMOVE_DEPTH) return errno = ELOOP, -1;
  if (unlinkat(dirfd, name, 0) == 0) return 0;
  if (errno != EISDIR && errno != EPERM) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while (rc == 0 && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) rc = remove_tree(fd, e->d_name, depth + 1);
  int err = errno;
  closedir(d);
  if (rc < 0) return errno = err, -1;
  return unlinkat(dirfd, name, AT_REMOVEDIR);
}

static void do_remove(const jval_t *req, double id, buf_t *r) {
  const char *path = req_path(req, "path", r, id);
  if (!path) return;
  if (strcmp(path, "/") == 0) return reply_error(r, id, 1, "permission_denied", "refusing to remove /");
  struct stat st;
  if (lstat(path, &st) < 0) return reply_errno(r, id, errno, "cannot remove", path);
  int rc;
  if (S_ISDIR(st.st_mode) && flag(req, "recursive")) rc = remove_tree(AT_FDCWD, path, 0);
  else if (S_ISDIR(st.st_mode)) rc = rmdir(path);
  else rc = unlink(path);
  if (rc < 0) return reply_errno(r, id, errno, "cannot remove", path);
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"remove\"}", id);
}

static void do_rename(const jval_t *req, double id, buf_t *r) {
  const char *from = req_path(req, "from", r, id);
  if (!from) return;
  const char *to = req_path(req, "to", r, id);
  if (!to) return;
  if (flag(req, "parents") && make_parents(to) < 0) return reply_errno(r, id, errno, "cannot create parents of", to);
  if (rename(from, to) < 0) return reply_errno(r, id, errno, "cannot rename", from);
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"rename\"}", id);
}

int files_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply) {
  if (strcmp(type, "stat") == 0) do_stat(req, id, reply);
  else if (strcmp(type, "list") == 0) do_list(req, id, from, reply);
  else if (strcmp(type, "mkdir") == 0) do_mkdir(req, id, reply);
  else if (strcmp(type, "remove") == 0) do_remove(req, id, reply);
  else if (strcmp(type, "rename") == 0) do_rename(req, id, reply);
  else return 0;
  return 1;
}
