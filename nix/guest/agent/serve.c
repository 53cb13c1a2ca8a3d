/* The agent's event loop: one thread, poll(2) over the host channels, the health checks' output
 * pipes and a self-pipe for signals. Channels:
 *   - virtio-serial port "org.mvm.agent" (QEMU). The port stays open across host disconnects; the
 *     kernel reports POLLHUP while no host is attached and SIGIO when one attaches, so a host that
 *     reconnects (e.g. to a restored VM) is served again without restarting the agent.
 *   - vsock port 52 (Firecracker), one connection per client.
 *   - a unix socket (--listen-unix), used to test the agent outside a VM. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "conn.h"

#define MAX_DEFERRED 32
/* The signal pipe, two listeners, every connection, every check and three pipes per process. */
#define MAX_POLL (3 + MAX_CONNS + MVM_MAX_CHECKS + 3 * MVM_MAX_PROCS)

static int sigpipe_fds[2];
static int serial_idx = -1;
static int64_t next_serial_probe;
const char *listen_unix;

static struct {
  int conn;
  unsigned gen;
  double id;
} deferred[MAX_DEFERRED];
static int n_deferred;

static void on_signal(int sig) {
  int saved = errno;
  unsigned char c = (unsigned char)sig;
  (void)!write(sigpipe_fds[1], &c, 1);
  errno = saved;
}

/* The peer is gone: its streams end (file transfers) or detach (processes keep running). */
static void reset_peer(conn_t *c) {
  c->in.len = c->out.len = 0;
  c->skip = 0;
  c->gen++;
  procs_conn_lost((int)(c - conns));
  filestreams_conn_lost((int)(c - conns));
}

/* /sys/class/virtio-ports/vportNpM/name holds the port name QEMU gave it. */
static int open_serial(void) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int fd = -1;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char path[300];
    snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
    char *name = read_file(path, NULL);
    if (!name) continue;
    name[strcspn(name, "\n")] = 0;
    int match = strcmp(name, MVM_SERIAL_NAME) == 0;
    free(name);
    if (!match) continue;
    snprintf(path, sizeof path, "/dev/%s", e->d_name);
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) logmsg("cannot open %s: %s", path, strerror(errno));
    break;
  }
  closedir(d);
  if (fd >= 0) {
    fcntl(fd, F_SETOWN, getpid());
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC);
  }
  return fd;
}

static int open_vsock(void) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_vm addr = {0};
  addr.svm_family = AF_VSOCK;
  addr.svm_port = MVM_VSOCK_PORT;
  addr.svm_cid = VMADDR_CID_ANY;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int open_unix(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
  unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) {
    logmsg("cannot listen on %s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

static void close_conn(int i) {
  close(conns[i].fd);
  conns[i].fd = -1;
  reset_peer(&conns[i]);
}

static void flush_conn(int i) {
  conn_t *c = &conns[i];
  while (c->out.len > 0) {
    ssize_t w = write(c->fd, c->out.data, c->out.len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) {
      /* The host went away: what it did not read is lost with it. */
      if (c->kind == C_SERIAL) reset_peer(c), c->active = 0;
      else close_conn(i);
      return;
    }
    buf_consume(&c->out, (size_t)w);
  }
}

static void process_frames(int i) {
  conn_t *c = &conns[i];
  for (;;) {
    if (c->skip) {
      size_t n = c->skip < c->in.len ? c->skip : c->in.len;
      buf_consume(&c->in, n);
      c->skip -= n;
      if (c->skip) return;
    }
    if (c->in.len < 4) return;
    const unsigned char *p = (const unsigned char *)c->in.data;
    size_t n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
    if (n == 0 || n > MVM_MAX_FRAME) {
      buf_t reply;
      buf_init(&reply);
      char msg[128];
      snprintf(msg, sizeof msg, "frame of %zu bytes is outside 1..%d", n, MVM_MAX_FRAME);
      reply_error(&reply, 0, 0, "frame_too_large", msg);
      queue_frame(c, &reply);
      buf_free(&reply);
      buf_consume(&c->in, 4);
      c->skip = n;
      continue;
    }
    if (c->in.len < 4 + n) return;
    buf_t reply;
    buf_init(&reply);
    int defer = 0;
    double id = 0;
    handle_request(c->in.data + 4, n, &reply, &defer, &id, (origin_t){i, c->gen});
    buf_consume(&c->in, 4 + n);
    if (defer) {
      if (n_deferred < MAX_DEFERRED) {
        deferred[n_deferred].conn = i;
        deferred[n_deferred].gen = c->gen;
        deferred[n_deferred].id = id;
        n_deferred++;
      } else {
        reply_error(&reply, id, 1, "busy", "too many fresh health requests waiting");
        queue_frame(c, &reply);
      }
    } else if (reply.len) { /* stream frames (ack, stdin, data...) have no reply of their own */
      queue_frame(c, &reply);
    }
    buf_free(&reply);
  }
}

static void read_conn(int i) {
  conn_t *c = &conns[i];
  static char tmp[64 * 1024];
  for (;;) {
    ssize_t r = read(c->fd, tmp, sizeof tmp);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) break;
    if (r <= 0) {
      if (c->kind == C_SERIAL) {
        reset_peer(c);
        c->active = 0;
      } else {
        close_conn(i);
      }
      return;
    }
    if (c->skip) {
      size_t drop = c->skip < (size_t)r ? c->skip : (size_t)r;
      c->skip -= drop;
      buf_put(&c->in, tmp + drop, (size_t)r - drop);
    } else {
      buf_put(&c->in, tmp, (size_t)r);
    }
    /* Never hold more than one maximal frame plus header per peer. */
    if (c->in.len > MVM_MAX_FRAME + 8) process_frames(i);
  }
  process_frames(i);
}

static void answer_deferred(void) {
  if (n_deferred == 0 || checks_any_running()) return;
  for (int k = 0; k < n_deferred; k++) {
    conn_t *c = &conns[deferred[k].conn];
    if (c->fd < 0 || c->gen != deferred[k].gen) continue;
    buf_t reply;
    buf_init(&reply);
    reply_health(&reply, deferred[k].id);
    queue_frame(c, &reply);
    buf_free(&reply);
    flush_conn(deferred[k].conn);
  }
  n_deferred = 0;
}

/* Every child is a health check run or a process started by exec; nothing else is waited for. */
static void reap_children(void) {
  for (;;) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (!checks_child_exited(pid, status)) procs_child_exited(pid, status);
  }
}

/* While no host is attached the serial port polls as POLLHUP forever, so it is left out of poll()
 * and probed on SIGIO or every 100 ms instead. */
static void probe_serial(int64_t now) {
  if (serial_idx < 0 || conns[serial_idx].active) return;
  struct pollfd p = {conns[serial_idx].fd, POLLIN, 0};
  if (poll(&p, 1, 0) >= 0 && !(p.revents & POLLHUP)) {
    reset_peer(&conns[serial_idx]);
    conns[serial_idx].active = 1;
  }
  next_serial_probe = now + 100;
}

int cmd_serve(void) {
  for (int i = 0; i < MAX_CONNS; i++) {
    conns[i].fd = -1;
    buf_init(&conns[i].in);
    buf_init(&conns[i].out);
  }
  if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) < 0) return 1;
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGIO, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  agent_started_ms = now_ms();
  char path[512];
  snprintf(path, sizeof path, "%s/checks", cfg_dir);
  int n = checks_load(path);
  logmsg("started: %d health check(s)", n);

  int listeners[2] = {-1, -1};
  if (listen_unix) {
    listeners[0] = open_unix(listen_unix);
    if (listeners[0] < 0) return 1;
  } else {
    listeners[1] = open_vsock();
    int sfd = open_serial();
    if (sfd >= 0) serial_idx = add_conn(sfd, C_SERIAL);
    if (sfd < 0 && listeners[1] < 0) logmsg("no virtio-serial port %s and no vsock: waiting", MVM_SERIAL_NAME);
  }
  int64_t next_open_retry = now_ms() + 1000;

  for (;;) {
    int64_t now = now_ms();
    checks_tick(now);
    if (serial_idx >= 0 && !conns[serial_idx].active && now >= next_serial_probe) probe_serial(now);
    if (!listen_unix && serial_idx < 0 && now >= next_open_retry) {
      int sfd = open_serial();
      if (sfd >= 0) serial_idx = add_conn(sfd, C_SERIAL);
      if (listeners[1] < 0) listeners[1] = open_vsock();
      next_open_retry = now + 1000;
    }

    struct pollfd fds[MAX_POLL];
    int nf = 0;
    fds[nf++] = (struct pollfd){sigpipe_fds[0], POLLIN, 0};
    for (int k = 0; k < 2; k++)
      if (listeners[k] >= 0) fds[nf++] = (struct pollfd){listeners[k], POLLIN, 0};
    int conn_base = nf;
    int conn_of[MAX_CONNS];
    for (int i = 0; i < MAX_CONNS; i++) {
      if (conns[i].fd < 0 || !conns[i].active) continue;
      conn_of[nf - conn_base] = i;
      /* A host that does not read its replies is not given more requests to answer. */
      short ev = (short)((conns[i].out.len < MVM_OUT_LIMIT ? POLLIN : 0) | (conns[i].out.len ? POLLOUT : 0));
      fds[nf++] = (struct pollfd){conns[i].fd, ev, 0};
    }
    int conn_end = nf;
    checks_collect_fds(fds, &nf, MAX_POLL);
    int checks_end = nf;
    procs_collect_fds(fds, &nf, MAX_POLL);

    int64_t deadline = checks_next_deadline(now);
    if (serial_idx >= 0 && !conns[serial_idx].active && next_serial_probe < deadline) deadline = next_serial_probe;
    if (!listen_unix && serial_idx < 0 && next_open_retry < deadline) deadline = next_open_retry;
    int64_t procs_deadline = procs_next_deadline(now);
    if (procs_deadline < deadline) deadline = procs_deadline;
    int timeout = deadline <= now ? 0 : (int)(deadline - now);
    if (filestreams_pump()) timeout = 0; /* file reads still have window: keep streaming */
    if (timeout > 1000) timeout = 1000;
    if (poll(fds, (nfds_t)nf, timeout) < 0 && errno != EINTR) {
      logmsg("poll: %s", strerror(errno));
      sleep(1);
      continue;
    }
    now = now_ms();

    if (fds[0].revents) {
      unsigned char sigs[64];
      ssize_t r;
      int term = 0;
      while ((r = read(sigpipe_fds[0], sigs, sizeof sigs)) > 0)
        for (ssize_t k = 0; k < r; k++) {
          if (sigs[k] == SIGIO) next_serial_probe = 0;
          if (sigs[k] == SIGTERM || sigs[k] == SIGINT) term = 1;
        }
      if (term) {
        logmsg("stopping");
        if (listen_unix) unlink(listen_unix);
        return 0;
      }
    }
    for (int k = 1; k < conn_base; k++) {
      if (!(fds[k].revents & POLLIN)) continue;
      int cfd = accept4(fds[k].fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (cfd < 0) continue;
      if (add_conn(cfd, C_STREAM) < 0) close(cfd); /* full: the host retries */
    }
    for (int k = conn_base; k < conn_end; k++) {
      int i = conn_of[k - conn_base];
      if (conns[i].fd < 0) continue;
      if (fds[k].revents & POLLIN) read_conn(i);
      if (conns[i].fd >= 0 && (fds[k].revents & (POLLHUP | POLLERR)) && !(fds[k].revents & POLLIN)) {
        if (conns[i].kind == C_SERIAL) {
          reset_peer(&conns[i]);
          conns[i].active = 0;
          next_serial_probe = now + 100;
        } else {
          close_conn(i);
        }
      }
    }
    checks_handle_fds(fds + conn_end, checks_end - conn_end);
    procs_handle_fds(fds + checks_end, nf - checks_end);
    reap_children();
    checks_tick(now);
    procs_tick(now);
    answer_deferred();
    for (int i = 0; i < MAX_CONNS; i++)
      if (conns[i].fd >= 0 && conns[i].active && conns[i].out.len) flush_conn(i);
    if (pending_shutdown) {
      pending_shutdown = 0;
      logmsg("shutdown requested by the host");
      kill(init_pid, SIGTERM);
    }
  }
}
