/* Health checks: each one runs `/bin/sh -c CMD` as root in its own process group, at most once per
 * interval, and is killed when it outlives its timeout. A timeout is unhealthy (the original reported
 * it healthy). Results carry the command's output as detail so the host can say why. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

#define MAX_CHECKS MVM_MAX_CHECKS
#define MAX_OUTPUT 4096
#define MAX_DETAIL 512

struct check {
  char name[65];
  char *cmd;
  long interval_s, timeout_s, grace_s;
  pid_t pid;           /* > 0 while running */
  int out_fd;          /* read end of the child's stdout+stderr */
  int64_t started_ms;  /* when the current run started */
  int64_t next_due_ms; /* when the next run may start */
  int timed_out;
  buf_t output;
  int fresh_needed, fresh_running;
  /* last result */
  int has_result, healthy;
  char detail[MAX_DETAIL + 1];
  int64_t checked_wall_s, checked_ms, duration_ms;
  unsigned long runs;
};

static check_t checks[MAX_CHECKS];
static int n_checks;
int64_t agent_started_ms;

static int by_name(const void *a, const void *b) {
  return strcmp(((const check_t *)a)->name, ((const check_t *)b)->name);
}

int checks_load(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *e;
  while ((e = readdir(d)) && n_checks < MAX_CHECKS) {
    if (!valid_name(e->d_name)) continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s/cmd", dir, e->d_name);
    char *cmd = read_file(path, NULL);
    if (!cmd) {
      logmsg("check %s: no cmd file, skipped", e->d_name);
      continue;
    }
    check_t *c = &checks[n_checks++];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%.64s", e->d_name);
    c->cmd = cmd;
    snprintf(path, sizeof path, "%s/%s/interval", dir, e->d_name);
    c->interval_s = read_long_file(path, 30);
    snprintf(path, sizeof path, "%s/%s/timeout", dir, e->d_name);
    c->timeout_s = read_long_file(path, 10);
    snprintf(path, sizeof path, "%s/%s/grace", dir, e->d_name);
    c->grace_s = read_long_file(path, 0);
    if (c->interval_s < 1) c->interval_s = 1;
    if (c->timeout_s < 1) c->timeout_s = 1;
    if (c->grace_s < 0) c->grace_s = 0;
    c->out_fd = -1;
    buf_init(&c->output);
  }
  closedir(d);
  qsort(checks, (size_t)n_checks, sizeof checks[0], by_name);
  return n_checks;
}

int checks_count(void) { return n_checks; }

static void start_check(check_t *c, int64_t now) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) {
    logmsg("check %s: pipe: %s", c->name, strerror(errno));
    c->next_due_ms = now + 1000;
    return;
  }
  pid_t pid = fork();
  if (pid < 0) {
    logmsg("check %s: fork: %s", c->name, strerror(errno));
    close(fds[0]);
    close(fds[1]);
    c->next_due_ms = now + 1000;
    return;
  }
  if (pid == 0) {
    setsid(); /* its own group, so a timeout kills the whole pipeline */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    execl("/bin/sh", "sh", "-c", c->cmd, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  set_nonblock(fds[0]);
  c->pid = pid;
  c->out_fd = fds[0];
  c->started_ms = now;
  c->timed_out = 0;
  c->output.len = 0;
  if (c->fresh_needed) c->fresh_running = 1;
}

void checks_tick(int64_t now) {
  for (int i = 0; i < n_checks; i++) {
    check_t *c = &checks[i];
    if (c->pid > 0) {
      if (!c->timed_out && now - c->started_ms >= c->timeout_s * 1000) {
        c->timed_out = 1;
        kill(-c->pid, SIGKILL);
        kill(c->pid, SIGKILL);
      }
    } else if (now >= c->next_due_ms || c->fresh_needed) {
      start_check(c, now);
    }
  }
}

int64_t checks_next_deadline(int64_t now) {
  int64_t best = now + 60000;
  for (int i = 0; i < n_checks; i++) {
    check_t *c = &checks[i];
    int64_t t = c->pid > 0 ? (c->timed_out ? now + 100 : c->started_ms + c->timeout_s * 1000) : c->next_due_ms;
    if (c->pid <= 0 && c->fresh_needed) t = now;
    if (t < best) best = t;
  }
  return best;
}

void checks_collect_fds(struct pollfd *fds, int *n, int max) {
  for (int i = 0; i < n_checks && *n < max; i++) {
    if (checks[i].out_fd < 0) continue;
    fds[*n].fd = checks[i].out_fd;
    fds[*n].events = POLLIN;
    fds[*n].revents = 0;
    (*n)++;
  }
}

static void drain(check_t *c) {
  char tmp[1024];
  for (;;) {
    ssize_t r = read(c->out_fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) {
        close(c->out_fd);
        c->out_fd = -1;
      }
      return;
    }
    size_t room = c->output.len < MAX_OUTPUT ? MAX_OUTPUT - c->output.len : 0;
    buf_put(&c->output, tmp, (size_t)r < room ? (size_t)r : room);
  }
}

void checks_handle_fds(struct pollfd *fds, int n) {
  for (int k = 0; k < n; k++) {
    if (!fds[k].revents) continue;
    for (int i = 0; i < n_checks; i++)
      if (checks[i].out_fd == fds[k].fd) drain(&checks[i]);
  }
}

/* The last MAX_DETAIL bytes of the output, trimmed: the end of an error message says the most. */
static void output_tail(check_t *c, char *out, size_t cap) {
  const char *s = c->output.data ? c->output.data : "";
  size_t len = c->output.len;
  while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' || s[len - 1] == '\r')) len--;
  size_t start = len > cap - 1 ? len - (cap - 1) : 0;
  while (start < len && (s[start] == '\n' || s[start] == ' ')) start++;
  memcpy(out, s + start, len - start);
  out[len - start] = 0;
}

static void finish(check_t *c, int status) {
  int64_t now = now_ms();
  if (c->out_fd >= 0) {
    drain(c);
    if (c->out_fd >= 0) close(c->out_fd);
    c->out_fd = -1;
  }
  kill(-c->pid, SIGKILL); /* leftovers of the check's pipeline, if any */
  char tail[MAX_DETAIL - 40];
  output_tail(c, tail, sizeof tail);
  c->healthy = !c->timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (c->timed_out)
    snprintf(c->detail, sizeof c->detail, "timed out after %lds", c->timeout_s);
  else if (c->healthy)
    snprintf(c->detail, sizeof c->detail, "%s", tail[0] ? tail : "ok");
  else if (WIFEXITED(status))
    snprintf(c->detail, sizeof c->detail, "exit code %d%s%s", WEXITSTATUS(status), tail[0] ? ": " : "", tail);
  else
    snprintf(c->detail, sizeof c->detail, "killed by signal %d%s%s", WTERMSIG(status), tail[0] ? ": " : "",
             tail);
  c->has_result = 1;
  c->checked_wall_s = wall_time_s();
  c->checked_ms = now;
  c->duration_ms = now - c->started_ms;
  c->runs++;
  c->pid = 0;
  c->next_due_ms = now + c->interval_s * 1000;
  if (c->fresh_running) c->fresh_needed = c->fresh_running = 0;
}

int checks_child_exited(pid_t pid, int status) {
  for (int i = 0; i < n_checks; i++)
    if (checks[i].pid == pid) {
      finish(&checks[i], status);
      return 1;
    }
  return 0;
}

void checks_run_all_now(void) {
  for (int i = 0; i < n_checks; i++) checks[i].fresh_needed = 1;
}

int checks_any_running(void) {
  for (int i = 0; i < n_checks; i++)
    if (checks[i].fresh_needed) return 1;
  return 0;
}

void checks_report(buf_t *out, int64_t now, int *all_healthy) {
  *all_healthy = 1;
  buf_puts(out, "[");
  for (int i = 0; i < n_checks; i++) {
    check_t *c = &checks[i];
    int in_grace = now - agent_started_ms < c->grace_s * 1000;
    const char *status = c->has_result && c->healthy ? "healthy"
                         : in_grace                  ? "starting"
                         : !c->has_result            ? "pending"
                                                     : "unhealthy";
    if (!(c->has_result && c->healthy)) *all_healthy = 0;
    if (i) buf_puts(out, ",");
    buf_puts(out, "{\"name\":");
    buf_json_string(out, c->name, strlen(c->name));
    buf_printf(out, ",\"healthy\":%s,\"status\":\"%s\",\"detail\":", c->has_result && c->healthy ? "true" : "false",
               status);
    if (c->has_result) buf_json_string(out, c->detail, strlen(c->detail));
    else buf_puts(out, c->pid > 0 ? "\"running first check\"" : "\"not checked yet\"");
    if (c->has_result) {
      char ts[32];
      format_rfc3339(c->checked_wall_s, ts);
      buf_printf(out, ",\"checked_at\":\"%s\",\"age_ms\":%lld,\"duration_ms\":%lld", ts,
                 (long long)(now - c->checked_ms), (long long)c->duration_ms);
    } else {
      buf_puts(out, ",\"checked_at\":null,\"age_ms\":null,\"duration_ms\":null");
    }
    buf_printf(out, ",\"runs\":%lu,\"interval_secs\":%ld,\"timeout_secs\":%ld,\"startup_grace_secs\":%ld}", c->runs,
               c->interval_s, c->timeout_s, c->grace_s);
  }
  buf_puts(out, "]");
}
