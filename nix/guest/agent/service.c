/* Services. `supervise NAME` keeps one service running: preStart (as root) then the command (as the
 * service user) in a restart loop with backoff; SIGHUP restarts it now (PID 1 sends it after a
 * snapshot restore), SIGTERM stops it. `exec-service NAME` turns the current process into the
 * service: the command and every env value are read from their own files and handed to
 * `sh -c` / the environment byte for byte, so quotes, `$`, backslashes and newlines arrive unchanged. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"

typedef struct {
  char name[65];
  uid_t uid;
  gid_t gid;
  char home[256];
  gid_t groups[32];
  int n_groups;
} user_t;

static char *trim_line(char *s) {
  if (s) s[strcspn(s, "\n")] = 0;
  return s;
}

/* Parses /etc/passwd and /etc/group ourselves: a static glibc cannot load NSS modules. */
static int lookup_user(const char *name, user_t *u) {
  char *pw = read_file("/etc/passwd", NULL);
  if (!pw) return -1;
  int found = 0;
  for (char *line = strtok(pw, "\n"); line && !found; line = strtok(NULL, "\n")) {
    char *f[7];
    int n = 0;
    for (char *p = line; n < 7; n++) {
      f[n] = p;
      char *colon = strchr(p, ':');
      if (!colon) {
        n++;
        break;
      }
      *colon = 0;
      p = colon + 1;
    }
    if (n < 6 || strcmp(f[0], name) != 0) continue;
    snprintf(u->name, sizeof u->name, "%s", name);
    u->uid = (uid_t)strtoul(f[2], NULL, 10);
    u->gid = (gid_t)strtoul(f[3], NULL, 10);
    snprintf(u->home, sizeof u->home, "%s", f[5]);
    found = 1;
  }
  free(pw);
  if (!found) return -1;
  u->n_groups = 0;
  u->groups[u->n_groups++] = u->gid;
  char *gr = read_file("/etc/group", NULL);
  if (!gr) return 0;
  for (char *line = strtok(gr, "\n"); line; line = strtok(NULL, "\n")) {
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    char *c3 = c2 ? strchr(c2 + 1, ':') : NULL;
    if (!c3) continue;
    *c3 = 0;
    gid_t gid = (gid_t)strtoul(c2 + 1, NULL, 10);
    for (char *m = strtok_r(c3 + 1, ",", &c1); m; m = strtok_r(NULL, ",", &c1))
      if (strcmp(m, name) == 0 && u->n_groups < 32 && gid != u->gid) u->groups[u->n_groups++] = gid;
  }
  free(gr);
  return 0;
}

static int valid_env_name(const char *s) {
  if (!s || !*s || (*s >= '0' && *s <= '9')) return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_')) return 0;
  return 1;
}

/* Environment: a clean base, the service's own env (one file per variable, exact bytes), then
 * KEY=VALUE lines of /mnt/config/mvm-env.env (written by `mvmctl up -e`), which win. */
static void build_env(const char *dir, const user_t *u) {
  char path[600];
  clearenv();
  snprintf(path, sizeof path, "%s/path", cfg_dir);
  char *p = trim_line(read_file(path, NULL));
  setenv("PATH", p && *p ? p : "/bin:/sbin:/usr/bin:/usr/sbin", 1);
  free(p);
  setenv("HOME", u->home[0] ? u->home : "/", 1);
  setenv("USER", u->name, 1);
  setenv("LOGNAME", u->name, 1);
  setenv("SHELL", "/bin/sh", 1);
  setenv("SSL_CERT_FILE", "/etc/ssl/certs/ca-bundle.crt", 1);
  snprintf(path, sizeof path, "%s/env", dir);
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!valid_env_name(e->d_name)) continue;
      snprintf(path, sizeof path, "%s/env/%s", dir, e->d_name);
      char *v = read_file(path, NULL);
      if (v) setenv(e->d_name, v, 1);
      free(v);
    }
    closedir(d);
  }
  char *overrides = read_file("/mnt/config/mvm-env.env", NULL);
  if (overrides) {
    for (char *line = strtok(overrides, "\n"); line; line = strtok(NULL, "\n")) {
      char *eq = strchr(line, '=');
      if (!eq || line[0] == '#') continue;
      *eq = 0;
      if (valid_env_name(line)) setenv(line, eq + 1, 1);
    }
    free(overrides);
  }
}

static void mkdir_parents(const char *file) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", file);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(tmp, 0755);
    *p = '/';
  }
}

int cmd_exec_service(const char *name, int pre_start) {
  if (!valid_name(name)) {
    logmsg("bad service name");
    return 2;
  }
  char dir[300], path[600];
  snprintf(dir, sizeof dir, "%s/services/%s", cfg_dir, name);
  snprintf(path, sizeof path, "%s/%s", dir, pre_start ? "preStart" : "command");
  char *cmd = read_file(path, NULL);
  if (!cmd) {
    if (pre_start) return 0;
    logmsg("service %s: cannot read %s", name, path);
    return 127;
  }
  snprintf(path, sizeof path, "%s/user", dir);
  char *uname = trim_line(read_file(path, NULL));
  user_t u = {0};
  if (lookup_user(uname && *uname ? uname : "mvm", &u) < 0) {
    logmsg("service %s: user %s does not exist", name, uname ? uname : "mvm");
    return 126;
  }
  free(uname);
  user_t env_user = u;
  build_env(dir, &env_user);

  snprintf(path, sizeof path, "%s/logFile", dir);
  char *log = trim_line(read_file(path, NULL));
  if (log && *log == '/') {
    mkdir_parents(log);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd >= 0) {
      if (fchown(fd, u.uid, u.gid) < 0) { /* root-owned log still works */
      }
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    } else {
      logmsg("service %s: cannot open log %s: %s", name, log, strerror(errno));
    }
  }
  free(log);

  if (!pre_start) {
    setsid(); /* its own process group: the supervisor stops the whole service tree */
    if (u.home[0] && chdir(u.home) == 0) {
    } else if (chdir("/") < 0) {
      return 126;
    }
    if (setgroups((size_t)u.n_groups, u.groups) < 0 || setgid(u.gid) < 0 || setuid(u.uid) < 0) {
      logmsg("service %s: cannot switch to user %s: %s", name, u.name, strerror(errno));
      return 126;
    }
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < 32; s++)
    if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
  execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
  logmsg("service %s: exec /bin/sh: %s", name, strerror(errno));
  return 127;
}

static volatile sig_atomic_t got_term, got_hup;
static void on_sup_signal(int sig) {
  if (sig == SIGHUP) got_hup = 1;
  else got_term = 1;
}

static void write_state(const char *name, const char *file, const char *value) {
  char path[600];
  snprintf(path, sizeof path, "%s/services/%s/%s", run_dir, name, file);
  write_file(path, value, strlen(value), 0644);
}

static pid_t spawn_self(const char *sub, const char *name) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  char *argv[12];
  int n = 0;
  argv[n++] = "mvm-agent";
  argv[n++] = "--config-dir";
  argv[n++] = (char *)cfg_dir;
  argv[n++] = "--run-dir";
  argv[n++] = (char *)run_dir;
  argv[n++] = (char *)sub;
  argv[n++] = (char *)name;
  argv[n] = NULL;
  execv("/proc/self/exe", argv);
  _exit(127);
}

/* Waits for `pid`; on SIGTERM/SIGHUP stops its process group (TERM, then KILL after 5 s). */
static int wait_child(pid_t pid, int *status) {
  int64_t kill_at = 0;
  for (;;) {
    if ((got_term || got_hup) && !kill_at) {
      kill(-pid, SIGTERM);
      kill(pid, SIGTERM);
      kill_at = now_ms() + 5000;
    }
    pid_t r = waitpid(pid, status, kill_at ? WNOHANG : 0);
    if (r == pid) {
      if (kill_at) kill(-pid, SIGKILL); /* stragglers left in the group */
      return 0;
    }
    if (r < 0 && errno != EINTR) return -1;
    if (kill_at) {
      if (now_ms() >= kill_at) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
      }
      struct timespec ts = {0, 20 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
  }
}

static void describe_exit(int status, char *out, size_t cap) {
  if (WIFEXITED(status)) snprintf(out, cap, "exit %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status)) snprintf(out, cap, "signal %d", WTERMSIG(status));
  else snprintf(out, cap, "status %d", status);
}

int cmd_supervise(const char *name) {
  if (!valid_name(name)) return 2;
  struct sigaction sa = {0};
  sa.sa_handler = on_sup_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  char path[600];
  snprintf(path, sizeof path, "%s/services", run_dir);
  mkdir(run_dir, 0755);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/services/%s", run_dir, name);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/services/%s/preStart", cfg_dir, name);
  int has_pre = access(path, R_OK) == 0;

  long restarts = 0, delay_s = 1;
  char num[80], why[64];
  write_state(name, "restarts", "0\n");
  while (!got_term) {
    got_hup = 0;
    int status = 0;
    if (has_pre) {
      pid_t pre = spawn_self("pre-start", name);
      if (pre < 0 || wait_child(pre, &status) < 0 || got_term) break;
      if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && !got_hup) {
        describe_exit(status, why, sizeof why);
        char msg[96];
        snprintf(msg, sizeof msg, "preStart %s\n", why);
        write_state(name, "last_exit", msg);
        logmsg("service %s: preStart failed (%s), retrying in %lds", name, why, delay_s);
        goto backoff;
      }
    }
    {
      int64_t started = now_ms();
      pid_t pid = spawn_self("exec-service", name);
      if (pid < 0) goto backoff;
      snprintf(num, sizeof num, "%d\n", (int)pid);
      write_state(name, "pid", num);
      if (wait_child(pid, &status) < 0) break;
      write_state(name, "pid", "0\n");
      describe_exit(status, why, sizeof why);
      snprintf(num, sizeof num, "%s\n", why);
      write_state(name, "last_exit", num);
      if (got_term) break;
      restarts++;
      snprintf(num, sizeof num, "%ld\n", restarts);
      write_state(name, "restarts", num);
      if (got_hup) {
        logmsg("service %s: restarting (requested)", name);
        delay_s = 1;
        continue;
      }
      if (now_ms() - started > 30000) delay_s = 1;
      logmsg("service %s exited (%s), restarting in %lds", name, why, delay_s);
    }
  backoff:
    for (int64_t until = now_ms() + delay_s * 1000; now_ms() < until && !got_term && !got_hup;) {
      struct timespec ts = {0, 50 * 1000 * 1000};
      nanosleep(&ts, NULL);
    }
    delay_s = delay_s * 2 > 30 ? 30 : delay_s * 2;
  }
  write_state(name, "pid", "0\n");
  return 0;
}
