/* Paths named by requests: an absolute guest path taken from a request field (refused with a reply
 * when it is not one), and directories created on the way to a path. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent.h"

const char *req_path(const jval_t *req, const char *key, buf_t *reply, double id) {
  const jval_t *v = json_get(req, key);
  if (!v || v->type != J_STR || v->str_len == 0 || v->str_len > 4095 || strlen(v->str) != v->str_len ||
      v->str[0] != '/') {
    char msg[128];
    snprintf(msg, sizeof msg, "%s must be an absolute path of at most 4095 bytes without NUL", key);
    reply_error(reply, id, 1, "invalid_path", msg);
    return NULL;
  }
  return v->str;
}

int mkdirs(char *path, mode_t mode) {
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    int rc = mkdir(path, mode);
    int err = errno;
    *p = '/';
    if (rc < 0 && err != EEXIST) return errno = err, -1;
  }
  if (mkdir(path, mode) < 0) {
    struct stat st;
    if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    return -1;
  }
  return 0;
}

int make_parents(const char *path) {
  char *copy = strdup(path);
  if (!copy) return errno = ENOMEM, -1;
  char *slash = strrchr(copy, '/');
  int rc = 0;
  if (slash && slash != copy) {
    *slash = 0;
    rc = mkdirs(copy, 0755);
  }
  free(copy);
  return rc;
}
