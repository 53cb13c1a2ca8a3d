/* The shapes of what the agent sends back: the head of a successful reply, an error reply with its
 * code and message (errno values become the protocol's codes), and the head of a stream frame.
 * docs/guest-protocol.md describes them on the wire. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"

void reply_head(buf_t *r, double id, const char *type) {
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"%s\"", id, type);
}

/* A frame of an open stream: the caller adds its fields, then ",\"more\":true}" or "}". */
void stream_frame_head(buf_t *b, double id, const char *type) {
  buf_printf(b, "{\"id\":%.0f,\"type\":\"%s\"", id, type);
}

void reply_error(buf_t *r, double id, int has_id, const char *code, const char *message) {
  if (has_id) buf_printf(r, "{\"id\":%.0f,\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":", id, code);
  else buf_printf(r, "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"%s\",\"message\":", code);
  buf_json_string(r, message, strlen(message));
  buf_puts(r, "}}");
}

const char *errno_code(int err) {
  switch (err) {
    case ENOENT: return "not_found";
    case EACCES:
    case EPERM: return "permission_denied";
    case EISDIR: return "is_directory";
    case ENOTDIR: return "not_a_directory";
    case EEXIST: return "already_exists";
    case ENOTEMPTY: return "not_empty";
    case ENAMETOOLONG: return "name_too_long";
    case ENOSPC:
    case EDQUOT: return "no_space";
    case EROFS: return "read_only";
    case ELOOP: return "too_many_links";
    case EXDEV: return "cross_device";
    case EBUSY: return "busy";
    case EINVAL: return "invalid_argument";
    case ENOEXEC: return "not_executable";
    default: return "io_error";
  }
}

void reply_errno(buf_t *reply, double id, int err, const char *what, const char *path) {
  char msg[600];
  if (path) snprintf(msg, sizeof msg, "%s %.512s: %s", what, path, strerror(err));
  else snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  reply_error(reply, id, 1, errno_code(err), msg);
}
