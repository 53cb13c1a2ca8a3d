/* mvm-agent: the guest side of mvmctl. One static binary with subcommands:
 *   serve                 answer the host over virtio-serial (org.mvm.agent) and vsock port 52
 *   supervise NAME        keep service NAME running (restart loop with backoff)
 *   exec-service NAME     become service NAME: user, env, log file, then sh -c COMMAND
 *   pre-start NAME        run NAME's preStart as root with the service env
 * Configuration is read from files under /etc/mvm written verbatim by the Nix library, so no value
 * is ever re-parsed by a shell (see docs/guest-protocol.md). */
#ifndef MVM_AGENT_H
#define MVM_AGENT_H

#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#define MVM_AGENT_VERSION "0.1.0"
#define MVM_PROTOCOL_VERSION 1
#define MVM_MAX_FRAME (256 * 1024)
#define MVM_MAX_CHECKS 64
#define MVM_CONFIG_DIR "/etc/mvm"
#define MVM_RUN_DIR "/run/mvm"
#define MVM_VSOCK_PORT 52
#define MVM_SERIAL_NAME "org.mvm.agent"

/* util.c */
char *read_file(const char *path, size_t *len); /* NUL-terminated, exact bytes; NULL if absent */
int write_file(const char *path, const char *data, size_t len, int mode);
long read_long_file(const char *path, long fallback);
int64_t now_ms(void);         /* CLOCK_BOOTTIME in ms: keeps counting across suspend */
int64_t wall_time_s(void);    /* CLOCK_REALTIME seconds */
void format_rfc3339(int64_t secs, char out[32]);
void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int valid_name(const char *s);
void set_nonblock(int fd);
void set_cloexec(int fd);

/* Growable byte buffer used for JSON output and I/O. */
typedef struct {
  char *data;
  size_t len, cap;
} buf_t;
void buf_init(buf_t *b);
void buf_free(buf_t *b);
void buf_put(buf_t *b, const void *p, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_json_string(buf_t *b, const char *s, size_t n);
void buf_consume(buf_t *b, size_t n);

/* json.c: a small strict parser producing a tree. */
typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;
typedef struct jval {
  jtype_t type;
  int boolean;
  double num;
  char *str; /* J_STR: decoded bytes, NUL-terminated; strlen may be shorter if it holds \u0000 */
  size_t str_len;
  struct jval **items; /* J_ARR values / J_OBJ values */
  char **keys;         /* J_OBJ keys */
  size_t count;
} jval_t;
jval_t *json_parse(const char *text, size_t len, const char **err);
void json_free(jval_t *v);
const jval_t *json_get(const jval_t *obj, const char *key);

/* checks.c */
typedef struct check check_t;
int checks_load(const char *dir);
int checks_count(void);
void checks_tick(int64_t now);                 /* start due checks, enforce timeouts */
void checks_collect_fds(struct pollfd *fds, int *n, int max);
void checks_handle_fds(struct pollfd *fds, int n);
int checks_child_exited(pid_t pid, int status); /* 1 when pid was a check */
int64_t checks_next_deadline(int64_t now);
void checks_run_all_now(void);
int checks_any_running(void);
void checks_report(buf_t *out, int64_t now, int *all_healthy);
extern int64_t agent_started_ms;

/* Where a request came from: a connection slot and the peer generation it had, so a reply or a
 * stream frame never reaches a host that attached after the request was made. */
typedef struct {
  int conn;
  unsigned gen;
} origin_t;

/* reply.c: the shapes of replies and errors. */
void reply_head(buf_t *reply, double id, const char *type); /* the caller adds its fields and "}" */
void stream_frame_head(buf_t *b, double id, const char *type); /* a frame of an open stream (below) */
void reply_error(buf_t *reply, double id, int has_id, const char *code, const char *message);
const char *errno_code(int err);
void reply_errno(buf_t *reply, double id, int err, const char *what, const char *path);

/* requests.c: one request in, its reply out (the handlers below answer by type). */
int handle_request(const char *body, size_t len, buf_t *reply, int *defer_fresh, double *id_out, origin_t from);
void reply_health(buf_t *reply, double id);
extern int pending_shutdown; /* the host asked for a shutdown: the event loop signals init */

/* network.c: post_restore's "network" (validated, then applied with `ip`, argv only). */
typedef struct {
  char iface[16];
  char address[19]; /* a.b.c.d/nn */
  char gateway[16];
  int has_gateway;
} network_req_t;
const char *network_parse(const jval_t *net, network_req_t *out); /* NULL when valid, else why not */
int network_apply(const network_req_t *net, char *err, size_t errlen);
extern const char *ip_bin;

/* clock.c: post_restore's "wall_clock_ms" (the host's wall clock, stepped into CLOCK_REALTIME). */
const char *clock_parse(const jval_t *v, int64_t *out_ms); /* NULL when valid, else why not */
int clock_apply(int64_t wall_ms, int64_t *step_ms, char *err, size_t errlen);
extern const char *clock_file;

/* service.c */
int cmd_exec_service(const char *name, int pre_start);
int cmd_supervise(const char *name);

/* conn.c: frames queued for a connection by the streams (exec output, file reads). */
#define MVM_OUT_LIMIT (512 * 1024) /* queued bytes above which a connection is not fed more */
int conn_send(origin_t to, buf_t *body); /* -1 when that peer is gone */
size_t conn_queued(origin_t to);

/* serve.c: the event loop. */
int cmd_serve(void);
extern const char *listen_unix;

/* base64.c */
long b64decode(const char *s, size_t n, unsigned char *out, size_t cap);
void buf_b64(buf_t *b, const unsigned char *p, size_t n); /* appends a JSON string of base64 */

/* Streams (exec, attach, file read/write) share one shape on the wire: frames carry the id of the
 * request that opened them, every frame but the last has "more": true, and the host grants output
 * with "ack" frames (a window of MVM_WINDOW bytes per stream). */
#define MVM_CHUNK (48 * 1024)
#define MVM_WINDOW (256 * 1024)

/* paths.c: paths named by requests. */
const char *req_path(const jval_t *req, const char *key, buf_t *reply, double id); /* NULL: refused in reply */
int mkdirs(char *path, mode_t mode); /* mkdir -p; a directory already there is fine */
int make_parents(const char *path); /* mkdir -p of the directory holding path */

/* procs.c: processes started by "exec". */
int procs_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply);
int procs_child_exited(pid_t pid, int status);
void procs_collect_fds(struct pollfd *fds, int *n, int max);
void procs_handle_fds(struct pollfd *fds, int n);
void procs_tick(int64_t now);
int64_t procs_next_deadline(int64_t now);
void procs_conn_lost(int conn);
#define MVM_MAX_PROCS 32

/* files.c and filestream.c: guest file requests. */
int files_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply);
int filestreams_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply);
int filestreams_pump(void); /* sends what the windows allow; 1 when more could be sent at once */
void filestreams_conn_lost(int conn);

/* snapshot.c: "prepare_snapshot" (free what a snapshot need not hold). */
int snapshot_request(const jval_t *req, const char *type, double id, buf_t *reply);

/* config.c: set from the command line (tests run the agent on the host against a temp config). */
extern const char *cfg_dir;
extern const char *run_dir;
extern pid_t init_pid;
#endif
