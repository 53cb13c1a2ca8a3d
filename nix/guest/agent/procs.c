/* Processes started by the host ("exec"). Each runs in its own session (so a signal or a timeout
 * reaches everything it started), as a chosen user, with its output streamed back as frames on the
 * request's id. Output is read only while the host has granted window ("ack") and the connection's
 * queue is short, so a process that writes faster than the host reads blocks on its pipe instead of
 * growing the agent's memory. When its host goes away the process keeps running; the agent keeps
 * the last MVM_BACKLOG bytes of each output until a host attaches again ("attach"). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "agent.h"

#define MVM_BACKLOG (64 * 1024)
#define MAX_ARGS 1024
#define MAX_ENV 1024
#define MAX_STDIN_BUF (256 * 1024)
#define MAX_TIMEOUT_MS (7LL * 24 * 3600 * 1000)
#define SUMMARY_MAX 256

extern char **environ;

enum { OUT_STDOUT, OUT_STDERR };

typedef struct {
  int used;
  pid_t pid;
  int64_t started_ms, deadline_ms;
  int out[2]; /* stdout, stderr read ends; with a pty, out[0] is the master and out[1] is -1 */
  int in_fd;  /* stdin write end (a dup of the master with a pty), -1 once closed */
  int pty;
  buf_t in;   /* stdin bytes not yet taken by the process */
  int in_close;
  buf_t backlog[2];
  int attached;
  origin_t owner;
  double id;
  size_t unacked;
  int exited, status, timed_out;
  uid_t uid;
  char summary[SUMMARY_MAX + 1];
} proc_t;

static proc_t procs[MVM_MAX_PROCS];

static void send_frame(proc_t *p, buf_t *b) {
  if (p->attached && conn_send(p->owner, b) < 0) p->attached = 0;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void release(proc_t *p) {
  close_fd(&p->out[0]);
  close_fd(&p->out[1]);
  close_fd(&p->in_fd);
  buf_free(&p->in);
  buf_free(&p->backlog[0]);
  buf_free(&p->backlog[1]);
  p->used = 0;
}

static proc_t *find_pid(pid_t pid) {
  for (int i = 0; i < MVM_MAX_PROCS; i++)
    if (procs[i].used && procs[i].pid == pid) return &procs[i];
  return NULL;
}

static proc_t *find_stream(origin_t from, double id) {
  for (int i = 0; i < MVM_MAX_PROCS; i++) {
    proc_t *p = &procs[i];
    if (p->used && p->attached && p->owner.conn == from.conn && p->owner.gen == from.gen && p->id == id) return p;
  }
  return NULL;
}

/* A free slot; failing that, the oldest finished process nobody attached to gives its slot up. */
static proc_t *new_slot(void) {
  proc_t *oldest = NULL;
  for (int i = 0; i < MVM_MAX_PROCS; i++) {
    if (!procs[i].used) return &procs[i];
    if (procs[i].exited && !procs[i].attached && procs[i].out[0] < 0 && procs[i].out[1] < 0 &&
        (!oldest || procs[i].started_ms < oldest->started_ms))
      oldest = &procs[i];
  }
  if (oldest) release(oldest);
  return oldest;
}

/* User: a name from /etc/passwd, "UID" or "UID:GID". Home and shell come from passwd when known. */
static int resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *home, size_t home_cap, char *name,
                        size_t name_cap) {
  char *end;
  int numeric = spec[0] >= '0' && spec[0] <= '9';
  long want_uid = -1;
  long want_gid = -1;
  if (numeric) {
    errno = 0;
    want_uid = strtol(spec, &end, 10);
    if (errno || want_uid < 0 || want_uid > 65535 || (*end && *end != ':')) return -1;
    if (*end == ':') {
      want_gid = strtol(end + 1, &end, 10);
      if (errno || want_gid < 0 || want_gid > 65535 || *end) return -1;
    }
  }
  snprintf(home, home_cap, "/");
  snprintf(name, name_cap, "%s", spec);
  char *text = read_file("/etc/passwd", NULL);
  int found = 0;
  for (char *line = text, *next; line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    else next = line + strlen(line);
    char *f[7] = {0};
    char *s = line;
    int nf = 0;
    while (nf < 7) {
      f[nf++] = s;
      char *colon = strchr(s, ':');
      if (!colon) break;
      *colon = 0;
      s = colon + 1;
    }
    if (nf < 6) continue;
    long u = strtol(f[2], NULL, 10);
    if (numeric ? u != want_uid : strcmp(f[0], spec) != 0) continue;
    *uid = (uid_t)u;
    *gid = (gid_t)strtol(f[3], NULL, 10);
    snprintf(home, home_cap, "%s", f[5][0] ? f[5] : "/");
    snprintf(name, name_cap, "%s", f[0]);
    found = 1;
    break;
  }
  free(text);
  if (!found && !numeric) return -1;
  if (!found) *uid = (uid_t)want_uid, *gid = (gid_t)(want_gid >= 0 ? want_gid : want_uid);
  if (want_gid >= 0) *gid = (gid_t)want_gid;
  return 0;
}

static const struct {
  const char *name;
  int sig;
} signal_names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                    {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
                    {"STOP", SIGSTOP}, {"WINCH", SIGWINCH}, {"ALRM", SIGALRM}, {"PIPE", SIGPIPE}};

static int parse_signal(const jval_t *v) {
  if (v && v->type == J_NUM && v->num >= 1 && v->num <= 64 && v->num == (double)(int)v->num) return (int)v->num;
  if (!v || v->type != J_STR) return -1;
  const char *s = strncmp(v->str, "SIG", 3) == 0 ? v->str + 3 : v->str;
  for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
    if (strcmp(s, signal_names[i].name) == 0) return signal_names[i].sig;
  return -1;
}

static int valid_env_key(const char *k) {
  if (!*k || strlen(k) > 256) return 0;
  for (const char *p = k; *p; p++)
    if (*p == '=') return 0;
  return 1;
}

static int set_winsize(int fd, const jval_t *pty) {
  const jval_t *rows = json_get(pty, "rows");
  const jval_t *cols = json_get(pty, "cols");
  struct winsize ws = {24, 80, 0, 0};
  if (rows && rows->type == J_NUM && rows->num >= 1 && rows->num <= 1000) ws.ws_row = (unsigned short)rows->num;
  if (cols && cols->type == J_NUM && cols->num >= 1 && cols->num <= 1000) ws.ws_col = (unsigned short)cols->num;
  return ioctl(fd, TIOCSWINSZ, &ws);
}

/* In the child: whatever fails reports its stage and errno through `report`, then exits 127. */
enum { STAGE_TERMINAL = 1, STAGE_USER, STAGE_CWD, STAGE_EXEC };

static void child_fail(int report, int stage, int err) {
  int msg[2] = {stage, err};
  (void)!write(report, msg, sizeof msg);
  _exit(127);
}

static void start_exec(const jval_t *req, double id, origin_t from, buf_t *r) {
  const jval_t *argv = json_get(req, "argv");
  const jval_t *env = json_get(req, "env");
  const jval_t *cwd = json_get(req, "cwd");
  const jval_t *user = json_get(req, "user");
  const jval_t *pty = json_get(req, "pty");
  const jval_t *timeout = json_get(req, "timeout_ms");
  const jval_t *want_stdin = json_get(req, "stdin");
  if (!argv || argv->type != J_ARR || argv->count < 1 || argv->count > MAX_ARGS)
    return reply_error(r, id, 1, "bad_request", "argv must be an array of 1 to 1024 strings");
  for (size_t i = 0; i < argv->count; i++)
    if (argv->items[i]->type != J_STR || strlen(argv->items[i]->str) != argv->items[i]->str_len ||
        (i == 0 && argv->items[i]->str_len == 0))
      return reply_error(r, id, 1, "bad_request", "argv must hold strings without NUL bytes, argv[0] not empty");
  if (env && env->type != J_NULL && (env->type != J_OBJ || env->count > MAX_ENV))
    return reply_error(r, id, 1, "bad_request", "env must be an object of at most 1024 strings");
  for (size_t i = 0; env && env->type == J_OBJ && i < env->count; i++)
    if (!valid_env_key(env->keys[i]) || env->items[i]->type != J_STR ||
        strlen(env->items[i]->str) != env->items[i]->str_len)
      return reply_error(r, id, 1, "bad_request", "env keys must be non-empty without '=', values strings without NUL");
  if (cwd && cwd->type != J_NULL && (cwd->type != J_STR || cwd->str[0] != '/' || strlen(cwd->str) != cwd->str_len ||
                                     cwd->str_len > 4095))
    return reply_error(r, id, 1, "bad_request", "cwd must be an absolute path");
  if (user && user->type != J_NULL && (user->type != J_STR || user->str_len == 0 || user->str_len > 64))
    return reply_error(r, id, 1, "bad_request", "user must be a name, UID or UID:GID");
  if (pty && pty->type != J_NULL && pty->type != J_OBJ)
    return reply_error(r, id, 1, "bad_request", "pty must be an object {rows, cols}");
  int64_t timeout_ms = 0;
  if (timeout && timeout->type != J_NULL) {
    if (timeout->type != J_NUM || timeout->num < 1 || timeout->num > (double)MAX_TIMEOUT_MS)
      return reply_error(r, id, 1, "bad_request", "timeout_ms must be 1 to 604800000");
    timeout_ms = (int64_t)timeout->num;
  }
  int use_pty = pty && pty->type == J_OBJ;
  int keep_stdin = use_pty || (want_stdin && want_stdin->type == J_BOOL && want_stdin->boolean);

  uid_t uid = getuid();
  gid_t gid = getgid();
  char home[512], uname[128];
  snprintf(home, sizeof home, "/");
  snprintf(uname, sizeof uname, "root");
  if (user && user->type == J_STR) {
    if (resolve_user(user->str, &uid, &gid, home, sizeof home, uname, sizeof uname) < 0)
      return reply_error(r, id, 1, "not_found", "no such user in /etc/passwd");
  } else {
    char self[16];
    snprintf(self, sizeof self, "%u", (unsigned)getuid());
    resolve_user(self, &uid, &gid, home, sizeof home, uname, sizeof uname);
    uid = getuid(), gid = getgid();
  }
  proc_t *p = new_slot();
  if (!p) return reply_error(r, id, 1, "busy", "too many processes started by exec are still running (32)");

  /* Environment: a login-like base, then the request's variables. */
  char **envp = calloc(MAX_ENV + 8, sizeof *envp);
  if (!envp) return reply_error(r, id, 1, "internal", "out of memory");
  char path_file[512];
  snprintf(path_file, sizeof path_file, "%s/path", cfg_dir);
  char *path = read_file(path_file, NULL);
  if (path) path[strcspn(path, "\n")] = 0;
  char base[5][600];
  snprintf(base[0], sizeof base[0], "PATH=%s", path && *path ? path : "/run/current-system/sw/bin:/bin:/sbin:/usr/bin:/usr/sbin");
  snprintf(base[1], sizeof base[1], "HOME=%s", home);
  snprintf(base[2], sizeof base[2], "USER=%s", uname);
  snprintf(base[3], sizeof base[3], "LOGNAME=%s", uname);
  snprintf(base[4], sizeof base[4], "TERM=%s", use_pty ? "xterm-256color" : "dumb");
  free(path);
  size_t ne = 0;
  char *owned[MAX_ENV];
  size_t nowned = 0;
  for (int k = 0; k < 5; k++) {
    size_t klen = strcspn(base[k], "=");
    int overridden = 0;
    for (size_t i = 0; env && env->type == J_OBJ && i < env->count; i++)
      if (strlen(env->keys[i]) == klen && strncmp(env->keys[i], base[k], klen) == 0) overridden = 1;
    if (!overridden) envp[ne++] = base[k];
  }
  for (size_t i = 0; env && env->type == J_OBJ && i < env->count; i++) {
    size_t n = strlen(env->keys[i]) + env->items[i]->str_len + 2;
    char *kv = malloc(n);
    if (!kv) break;
    snprintf(kv, n, "%s=%s", env->keys[i], env->items[i]->str);
    envp[ne++] = owned[nowned++] = kv;
  }
  char **args = calloc(argv->count + 1, sizeof *args);
  if (!args) {
    for (size_t i = 0; i < nowned; i++) free(owned[i]);
    free(envp);
    return reply_error(r, id, 1, "internal", "out of memory");
  }
  for (size_t i = 0; i < argv->count; i++) args[i] = argv->items[i]->str;

  int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, report[2] = {-1, -1};
  int master = -1;
  char slave_name[128] = "";
  int setup_err = 0;
  if (pipe2(report, O_CLOEXEC) < 0) setup_err = errno;
  if (!setup_err && use_pty) {
    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 ||
        ptsname_r(master, slave_name, sizeof slave_name) != 0)
      setup_err = errno ? errno : EIO;
    else
      set_winsize(master, pty);
  } else if (!setup_err) {
    if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 || (keep_stdin && pipe2(inp, O_CLOEXEC) < 0))
      setup_err = errno;
  }
  pid_t pid = setup_err ? -1 : fork();
  if (pid == 0) {
    close(report[0]);
    setsid();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++)
      if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
    if (use_pty) {
      int slave = open(slave_name, O_RDWR);
      if (slave < 0) child_fail(report[1], STAGE_TERMINAL, errno);
      ioctl(slave, TIOCSCTTY, 0);
      dup2(slave, 0), dup2(slave, 1), dup2(slave, 2);
      if (slave > 2) close(slave);
    } else {
      if (keep_stdin) dup2(inp[0], 0);
      else {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) dup2(devnull, 0);
      }
      dup2(outp[1], 1);
      dup2(errp[1], 2);
    }
    if (uid != getuid() || gid != getgid()) {
      if (setgroups(1, &gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) child_fail(report[1], STAGE_USER, errno);
    }
    const char *dir = cwd && cwd->type == J_STR ? cwd->str : home;
    if (chdir(dir) < 0) {
      if (cwd && cwd->type == J_STR) child_fail(report[1], STAGE_CWD, errno);
      if (chdir("/") < 0) child_fail(report[1], STAGE_CWD, errno);
    }
    environ = envp;
    execvp(args[0], args);
    child_fail(report[1], STAGE_EXEC, errno);
  }
  if (pid < 0 && !setup_err) setup_err = errno;
  int child_err = 0, stage = 0;
  if (report[1] >= 0) close(report[1]);
  if (pid > 0) {
    /* Blocks until the child has exec'd (the pipe closes) or reported why it could not. */
    int msg[2] = {0, 0};
    ssize_t got;
    do got = read(report[0], msg, sizeof msg);
    while (got < 0 && errno == EINTR);
    if (got == (ssize_t)sizeof msg) stage = msg[0], child_err = msg[1];
  }
  if (report[0] >= 0) close(report[0]);
  close_fd(&outp[1]);
  close_fd(&errp[1]);
  close_fd(&inp[0]);
  for (size_t i = 0; i < nowned; i++) free(owned[i]);
  free(envp);
  if (setup_err || child_err) {
    close_fd(&outp[0]);
    close_fd(&errp[0]);
    close_fd(&inp[1]);
    close_fd(&master);
    if (pid > 0) waitpid(pid, NULL, 0);
    int err = setup_err ? setup_err : child_err;
    free(args);
    const char *what = !child_err              ? "cannot set up the command"
                       : stage == STAGE_USER     ? "cannot switch to user"
                       : stage == STAGE_CWD      ? "cannot change to directory"
                       : stage == STAGE_TERMINAL ? "cannot open the terminal"
                                                 : "cannot start";
    const char *subject = stage == STAGE_USER && user && user->type == J_STR ? user->str
                          : stage == STAGE_CWD && cwd && cwd->type == J_STR ? cwd->str
                          : stage == STAGE_EXEC ? argv->items[0]->str
                                                : NULL;
    reply_errno(r, id, err, what, subject);
    return;
  }
  memset(p, 0, sizeof *p);
  p->used = 1;
  p->pid = pid;
  p->started_ms = now_ms();
  p->deadline_ms = timeout_ms ? p->started_ms + timeout_ms : 0;
  p->pty = use_pty;
  if (use_pty) {
    p->out[0] = master;
    p->out[1] = -1;
    p->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    set_nonblock(master);
  } else {
    p->out[0] = outp[0];
    p->out[1] = errp[0];
    p->in_fd = inp[1];
    set_nonblock(outp[0]);
    set_nonblock(errp[0]);
    if (inp[1] >= 0) set_nonblock(inp[1]);
  }
  buf_init(&p->in);
  buf_init(&p->backlog[0]);
  buf_init(&p->backlog[1]);
  p->attached = 1;
  p->owner = from;
  p->id = id;
  p->uid = uid;
  size_t o = 0;
  for (size_t i = 0; i < argv->count && o < SUMMARY_MAX; i++)
    o += (size_t)snprintf(p->summary + o, SUMMARY_MAX + 1 - o, "%s%s", i ? " " : "", args[i]);
  free(args);
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"exec\",\"pid\":%d,\"pty\":%s,\"more\":true}", id, (int)pid,
             use_pty ? "true" : "false");
}

static void send_exit(proc_t *p) {
  buf_t b;
  buf_init(&b);
  stream_frame_head(&b, p->id, "exit");
  if (WIFEXITED(p->status)) buf_printf(&b, ",\"code\":%d,\"signal\":null", WEXITSTATUS(p->status));
  else buf_printf(&b, ",\"code\":null,\"signal\":%d", WTERMSIG(p->status));
  buf_printf(&b, ",\"timed_out\":%s}", p->timed_out ? "true" : "false");
  send_frame(p, &b);
  buf_free(&b);
}

static void send_output(proc_t *p, int which, const unsigned char *data, size_t n) {
  buf_t b;
  buf_init(&b);
  stream_frame_head(&b, p->id, which == OUT_STDOUT ? "stdout" : "stderr");
  buf_puts(&b, ",\"data\":");
  buf_b64(&b, data, n);
  buf_puts(&b, ",\"more\":true}");
  send_frame(p, &b);
  buf_free(&b);
  p->unacked += n;
}

static int can_send(proc_t *p) { return p->attached && p->unacked < MVM_WINDOW && conn_queued(p->owner) < MVM_OUT_LIMIT; }

/* Reads what one output allows: into frames while attached, into the backlog while not. */
static void pump_output(proc_t *p, int which) {
  static unsigned char tmp[MVM_CHUNK];
  while (p->out[which] >= 0 && (!p->attached || can_send(p))) {
    size_t want = sizeof tmp;
    if (p->attached && MVM_WINDOW - p->unacked < want) want = MVM_WINDOW - p->unacked;
    ssize_t n = read(p->out[which], tmp, want);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      /* After the process has exited, what is left belongs to processes it left behind: not ours. */
      if (p->exited) close_fd(&p->out[which]);
      return;
    }
    if (n <= 0) { /* EOF, or EIO from a pty whose other side has closed */
      close_fd(&p->out[which]);
      return;
    }
    if (p->attached) {
      send_output(p, which, tmp, (size_t)n);
    } else {
      buf_t *bl = &p->backlog[which];
      buf_put(bl, tmp, (size_t)n);
      if (bl->len > MVM_BACKLOG) buf_consume(bl, bl->len - MVM_BACKLOG);
    }
  }
}

static void pump_stdin(proc_t *p) {
  while (p->in_fd >= 0 && p->in.len > 0) {
    ssize_t w = write(p->in_fd, p->in.data, p->in.len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) { /* the process closed its stdin: the rest is dropped */
      p->in.len = 0;
      close_fd(&p->in_fd);
      return;
    }
    buf_consume(&p->in, (size_t)w);
    if (p->attached) {
      buf_t b;
      buf_init(&b);
      stream_frame_head(&b, p->id, "ack");
      buf_printf(&b, ",\"bytes\":%zd,\"more\":true}", w);
      send_frame(p, &b);
      buf_free(&b);
    }
  }
  if (p->in_fd >= 0 && p->in.len == 0 && p->in_close) {
    if (p->pty) {
      (void)!write(p->in_fd, "\x04", 1); /* end of input on a terminal is the EOF character */
      p->in_close = 0;
    } else {
      close_fd(&p->in_fd);
    }
  }
}

static void try_finish(proc_t *p) {
  if (!p->exited || p->out[0] >= 0 || p->out[1] >= 0) return;
  close_fd(&p->in_fd);
  if (p->attached) {
    send_exit(p);
    release(p);
  }
}

int procs_child_exited(pid_t pid, int status) {
  proc_t *p = find_pid(pid);
  if (!p || p->exited) return 0;
  p->exited = 1;
  p->status = status;
  pump_output(p, OUT_STDOUT);
  pump_output(p, OUT_STDERR);
  try_finish(p);
  return 1;
}

void procs_collect_fds(struct pollfd *fds, int *n, int max) {
  for (int i = 0; i < MVM_MAX_PROCS; i++) {
    proc_t *p = &procs[i];
    if (!p->used) continue;
    for (int k = 0; k < 2; k++)
      if (p->out[k] >= 0 && (!p->attached || can_send(p)) && *n < max)
        fds[(*n)++] = (struct pollfd){p->out[k], POLLIN, 0};
    if (p->in_fd >= 0 && p->in.len > 0 && *n < max) fds[(*n)++] = (struct pollfd){p->in_fd, POLLOUT, 0};
  }
}

void procs_handle_fds(struct pollfd *fds, int n) {
  for (int k = 0; k < n; k++) {
    if (!fds[k].revents) continue;
    for (int i = 0; i < MVM_MAX_PROCS; i++) {
      proc_t *p = &procs[i];
      if (!p->used) continue;
      if (p->out[0] == fds[k].fd) pump_output(p, OUT_STDOUT);
      else if (p->out[1] == fds[k].fd) pump_output(p, OUT_STDERR);
      else if (p->in_fd == fds[k].fd) pump_stdin(p);
      else continue;
      break;
    }
  }
}

void procs_tick(int64_t now) {
  for (int i = 0; i < MVM_MAX_PROCS; i++) {
    proc_t *p = &procs[i];
    if (!p->used) continue;
    if (!p->exited && p->deadline_ms && now >= p->deadline_ms && !p->timed_out) {
      p->timed_out = 1;
      kill(-p->pid, SIGKILL);
      kill(p->pid, SIGKILL);
    }
    try_finish(p);
  }
}

int64_t procs_next_deadline(int64_t now) {
  int64_t best = now + 60000;
  for (int i = 0; i < MVM_MAX_PROCS; i++)
    if (procs[i].used && !procs[i].exited && procs[i].deadline_ms && procs[i].deadline_ms < best)
      best = procs[i].deadline_ms;
  return best;
}

void procs_conn_lost(int conn) {
  for (int i = 0; i < MVM_MAX_PROCS; i++)
    if (procs[i].used && procs[i].attached && procs[i].owner.conn == conn) procs[i].attached = 0;
}

static void flush_backlog(proc_t *p) {
  for (int which = 0; which < 2; which++) {
    buf_t *bl = &p->backlog[which];
    for (size_t off = 0; off < bl->len; off += MVM_CHUNK) {
      size_t n = bl->len - off < MVM_CHUNK ? bl->len - off : MVM_CHUNK;
      send_output(p, which, (const unsigned char *)bl->data + off, n);
    }
    buf_free(bl);
  }
}

static void reply_ps(buf_t *r, double id) {
  int64_t now = now_ms();
  buf_printf(r, "{\"id\":%.0f,\"ok\":true,\"type\":\"ps\",\"processes\":[", id);
  int first = 1;
  for (int i = 0; i < MVM_MAX_PROCS; i++) {
    proc_t *p = &procs[i];
    if (!p->used) continue;
    buf_printf(r, "%s{\"pid\":%d,\"command\":", first ? "" : ",", (int)p->pid);
    buf_json_string(r, p->summary, strlen(p->summary));
    buf_printf(r, ",\"uid\":%u,\"running\":%s,\"attached\":%s,\"pty\":%s,\"age_ms\":%lld,\"exit\":", (unsigned)p->uid,
               p->exited ? "false" : "true", p->attached ? "true" : "false", p->pty ? "true" : "false",
               (long long)(now - p->started_ms));
    if (!p->exited) buf_puts(r, "null}");
    else if (WIFEXITED(p->status)) buf_printf(r, "{\"code\":%d,\"signal\":null}}", WEXITSTATUS(p->status));
    else buf_printf(r, "{\"code\":null,\"signal\":%d}}", WTERMSIG(p->status));
    first = 0;
  }
  buf_puts(r, "]}");
}

static proc_t *proc_by_pid_field(const jval_t *req, buf_t *r, double id) {
  const jval_t *pid = json_get(req, "pid");
  if (!pid || pid->type != J_NUM || pid->num < 1 || pid->num > 4194304 || pid->num != (double)(int)pid->num) {
    reply_error(r, id, 1, "bad_request", "pid must be the pid of a process started by exec");
    return NULL;
  }
  proc_t *p = find_pid((pid_t)pid->num);
  if (!p) reply_error(r, id, 1, "not_found", "no process with that pid was started by exec");
  return p;
}

/* Frames that continue an exec stream. Unknown streams are ignored: the process may just have ended. */
static void stream_input(const jval_t *req, const char *type, double id, origin_t from) {
  proc_t *p = find_stream(from, id);
  if (!p) return;
  if (strcmp(type, "ack") == 0) {
    const jval_t *n = json_get(req, "bytes");
    if (n && n->type == J_NUM && n->num > 0) p->unacked = (double)p->unacked > n->num ? p->unacked - (size_t)n->num : 0;
  } else if (strcmp(type, "stdin") == 0) {
    const jval_t *d = json_get(req, "data");
    if (!d || d->type != J_STR || p->in_fd < 0) return;
    size_t room = MAX_STDIN_BUF - p->in.len;
    if (d->str_len / 4 * 3 > room) { /* beyond the window the host was given: the input is cut off */
      p->in.len = 0;
      close_fd(&p->in_fd);
      return;
    }
    unsigned char *raw = malloc(d->str_len / 4 * 3 + 3);
    long n = raw ? b64decode(d->str, d->str_len, raw, d->str_len / 4 * 3 + 3) : -1;
    if (n > 0) buf_put(&p->in, raw, (size_t)n);
    free(raw);
    pump_stdin(p);
  } else if (strcmp(type, "close_stdin") == 0) {
    p->in_close = 1;
    pump_stdin(p);
  } else if (strcmp(type, "resize") == 0) {
    if (p->pty && p->out[0] >= 0) {
      set_winsize(p->out[0], req);
      kill(-p->pid, SIGWINCH);
    }
  } else if (strcmp(type, "detach") == 0) {
    p->attached = 0;
  }
}

int procs_request(const jval_t *req, const char *type, double id, origin_t from, buf_t *reply) {
  if (strcmp(type, "exec") == 0) {
    start_exec(req, id, from, reply);
  } else if (strcmp(type, "ps") == 0) {
    reply_ps(reply, id);
  } else if (strcmp(type, "signal") == 0) {
    int sig = parse_signal(json_get(req, "signal"));
    if (sig < 0) {
      reply_error(reply, id, 1, "bad_request", "signal must be a number 1-64 or a name such as \"TERM\"");
      return 1;
    }
    proc_t *p = proc_by_pid_field(req, reply, id);
    if (!p) return 1;
    if (p->exited) return reply_error(reply, id, 1, "not_found", "that process has already exited"), 1;
    kill(-p->pid, sig);
    buf_printf(reply, "{\"id\":%.0f,\"ok\":true,\"type\":\"signal\",\"pid\":%d,\"signal\":%d}", id, (int)p->pid, sig);
  } else if (strcmp(type, "attach") == 0) {
    proc_t *p = proc_by_pid_field(req, reply, id);
    if (!p) return 1;
    if (p->attached) return reply_error(reply, id, 1, "busy", "another host is attached to that process"), 1;
    p->attached = 1;
    p->owner = from;
    p->id = id;
    p->unacked = 0;
    buf_t b;
    buf_init(&b);
    buf_printf(&b, "{\"id\":%.0f,\"ok\":true,\"type\":\"attach\",\"pid\":%d,\"pty\":%s,\"more\":true}", id, (int)p->pid,
               p->pty ? "true" : "false");
    send_frame(p, &b);
    buf_free(&b);
    flush_backlog(p);
    try_finish(p);
  } else if (strcmp(type, "stdin") == 0 || strcmp(type, "close_stdin") == 0 || strcmp(type, "resize") == 0 ||
             (strcmp(type, "ack") == 0 && find_stream(from, id)) || (strcmp(type, "detach") == 0 && find_stream(from, id))) {
    stream_input(req, type, id, from);
  } else {
    return 0;
  }
  return 1;
}
