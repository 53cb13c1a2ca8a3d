/* Request handlers. Every request is a JSON object {"id": N, "type": "..."}; every reply carries the
 * same id and either "ok": true with the type's fields or "ok": false with {"error": {code, message}}.
 * docs/guest-protocol.md is the reference; keep the two in step. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "agent.h"

int pending_shutdown; /* set by "shutdown"; serve.c signals init once the reply is written */

void reply_health(buf_t *r, double id) {
  int64_t now = now_ms();
  buf_t checks;
  buf_init(&checks);
  int all_healthy;
  checks_report(&checks, now, &all_healthy);
  reply_head(r, id, "health");
  buf_printf(r, ",\"ready\":%s,\"checks\":", all_healthy ? "true" : "false");
  buf_put(r, checks.data, checks.len);
  buf_puts(r, "}");
  buf_free(&checks);
}

static void reply_ping(buf_t *r, double id) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  reply_head(r, id, "pong");
  buf_printf(r, ",\"protocol\":%d,\"agent\":\"mvm-agent %s\",\"uptime_ms\":%lld,\"agent_uptime_ms\":%lld,\"hostname\":",
             MVM_PROTOCOL_VERSION, MVM_AGENT_VERSION, (long long)now_ms(), (long long)(now_ms() - agent_started_ms));
  buf_json_string(r, host, strlen(host));
  buf_puts(r, "}");
}

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* State files written by `mvm-agent supervise` under <run>/services/<name>/. */
static void reply_services(buf_t *r, double id) {
  char path[512];
  snprintf(path, sizeof path, "%s/services", cfg_dir);
  char *names[128];
  int n = 0;
  DIR *d = opendir(path);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) && n < 128)
      if (valid_name(e->d_name) && (names[n] = strdup(e->d_name))) n++;
    closedir(d);
  }
  qsort(names, (size_t)n, sizeof names[0], by_str);
  reply_head(r, id, "services");
  buf_puts(r, ",\"services\":[");
  for (int i = 0; i < n; i++) {
    char f[600];
    snprintf(f, sizeof f, "%s/services/%s/pid", run_dir, names[i]);
    long pid = read_long_file(f, 0);
    snprintf(f, sizeof f, "%s/services/%s/restarts", run_dir, names[i]);
    long restarts = read_long_file(f, 0);
    snprintf(f, sizeof f, "%s/services/%s/last_exit", run_dir, names[i]);
    char *last = read_file(f, NULL);
    int running = pid > 0 && kill((pid_t)pid, 0) == 0;
    if (i) buf_puts(r, ",");
    buf_puts(r, "{\"name\":");
    buf_json_string(r, names[i], strlen(names[i]));
    buf_printf(r, ",\"running\":%s,\"pid\":%ld,\"restarts\":%ld,\"last_exit\":", running ? "true" : "false",
               running ? pid : 0, restarts);
    if (last) {
      size_t l = strlen(last);
      while (l && last[l - 1] == '\n') l--;
      buf_json_string(r, last, l);
    } else {
      buf_puts(r, "null");
    }
    buf_puts(r, "}");
    free(last);
    free(names[i]);
  }
  buf_puts(r, "]}");
}

static int is_suffix_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

static void post_restore(const jval_t *req, buf_t *r, double id) {
  const jval_t *ent = json_get(req, "entropy");
  const jval_t *ident = json_get(req, "identity");
  const jval_t *restart = json_get(req, "restart_services");
  if (restart && restart->type != J_BOOL && restart->type != J_NULL)
    return reply_error(r, id, 1, "bad_request", "restart_services must be a boolean");
  if (!ent || ent->type != J_STR) return reply_error(r, id, 1, "bad_request", "entropy must be a base64 string");
  unsigned char raw[4096];
  long nraw = b64decode(ent->str, ent->str_len, raw, sizeof raw);
  if (nraw < 16) return reply_error(r, id, 1, "bad_request", "entropy must be 16 to 4096 bytes of base64");
  const jval_t *suffix = ident ? json_get(ident, "hostname_suffix") : NULL;
  const jval_t *mid = ident ? json_get(ident, "machine_id") : NULL;
  const jval_t *fullname = ident ? json_get(ident, "hostname") : NULL;
  if (ident && ident->type != J_OBJ) return reply_error(r, id, 1, "bad_request", "identity must be an object");
  /* A whole hostname (the VM's name) takes the place of image hostname + suffix. */
  if (fullname && fullname->type != J_NULL) {
    int ok = fullname->type == J_STR && fullname->str_len >= 1 && fullname->str_len <= 63 &&
             strlen(fullname->str) == fullname->str_len && fullname->str[0] != '-' &&
             fullname->str[fullname->str_len - 1] != '-';
    for (size_t i = 0; ok && i < fullname->str_len; i++) ok = is_suffix_char(fullname->str[i]);
    if (!ok) return reply_error(r, id, 1, "bad_request", "hostname must be 1-63 of [a-z0-9-], not starting or ending with -");
  } else {
    fullname = NULL;
  }
  if (suffix && suffix->type != J_NULL) {
    int ok = suffix->type == J_STR && suffix->str_len >= 1 && suffix->str_len <= 32 &&
             strlen(suffix->str) == suffix->str_len && suffix->str[0] != '-';
    for (size_t i = 0; ok && i < suffix->str_len; i++) ok = is_suffix_char(suffix->str[i]);
    if (!ok) return reply_error(r, id, 1, "bad_request", "hostname_suffix must be 1-32 of [a-z0-9-], not starting with -");
  } else {
    suffix = NULL;
  }
  if (mid && mid->type != J_NULL) {
    int ok = mid->type == J_STR && mid->str_len == 32 && strlen(mid->str) == 32;
    for (size_t i = 0; ok && i < 32; i++)
      ok = (mid->str[i] >= '0' && mid->str[i] <= '9') || (mid->str[i] >= 'a' && mid->str[i] <= 'f');
    if (!ok) return reply_error(r, id, 1, "bad_request", "machine_id must be 32 lowercase hex digits");
  } else {
    mid = NULL;
  }
  const jval_t *netv = json_get(req, "network");
  network_req_t net;
  int has_net = netv && netv->type != J_NULL;
  if (has_net) {
    const char *why = network_parse(netv, &net);
    if (why) return reply_error(r, id, 1, "bad_request", why);
  }
  const jval_t *clockv = json_get(req, "wall_clock_ms");
  int64_t wall_ms = 0, step_ms = 0;
  int has_clock = clockv && clockv->type != J_NULL;
  if (has_clock) {
    const char *why = clock_parse(clockv, &wall_ms);
    if (why) return reply_error(r, id, 1, "bad_request", why);
    /* First, so everything after (services included) sees the current time. */
    char cerr[160];
    if (clock_apply(wall_ms, &step_ms, cerr, sizeof cerr) < 0) return reply_error(r, id, 1, "internal", cerr);
  }

  /* Reseed: every restored copy of a snapshot starts with the same RNG state, so mix in host bytes
   * and credit them, then ask the kernel to reseed its CRNG now rather than at its next interval. */
  int fd = open("/dev/random", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return reply_error(r, id, 1, "internal", "cannot open /dev/random");
  struct {
    struct rand_pool_info info;
    unsigned char data[4096];
  } pool;
  pool.info.entropy_count = (int)(nraw * 8);
  pool.info.buf_size = (int)nraw;
  memcpy(pool.data, raw, (size_t)nraw);
  int rc = ioctl(fd, RNDADDENTROPY, &pool);
  int err = errno;
#ifdef RNDRESEEDCRNG
  if (rc == 0) ioctl(fd, RNDRESEEDCRNG);
#endif
  close(fd);
  if (rc < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "RNDADDENTROPY failed: %s", strerror(err));
    return reply_error(r, id, 1, "internal", msg);
  }

  char path[512], host[128] = "";
  if (fullname) {
    snprintf(host, sizeof host, "%s", fullname->str);
    if (sethostname(host, strlen(host)) < 0) return reply_error(r, id, 1, "internal", "sethostname failed");
    snprintf(path, sizeof path, "%s/hostname", run_dir);
    char line[140];
    int n = snprintf(line, sizeof line, "%s\n", host);
    write_file(path, line, (size_t)n, 0644);
  } else if (suffix) {
    snprintf(path, sizeof path, "%s/hostname", cfg_dir);
    char *base = read_file(path, NULL);
    size_t bl = base ? strcspn(base, "\n") : 0;
    if (bl > 63 - 1 - suffix->str_len) bl = 63 - 1 - suffix->str_len;
    snprintf(host, sizeof host, "%.*s-%s", (int)bl, base ? base : "mvm", suffix->str);
    free(base);
    if (sethostname(host, strlen(host)) < 0) return reply_error(r, id, 1, "internal", "sethostname failed");
    snprintf(path, sizeof path, "%s/hostname", run_dir);
    char line[140];
    int n = snprintf(line, sizeof line, "%s\n", host);
    write_file(path, line, (size_t)n, 0644);
  } else {
    gethostname(host, sizeof host - 1);
  }
  if (mid) {
    snprintf(path, sizeof path, "%s/machine-id", run_dir);
    char line[40];
    int n = snprintf(line, sizeof line, "%s\n", mid->str);
    if (write_file(path, line, (size_t)n, 0444) < 0) return reply_error(r, id, 1, "internal", "cannot write machine-id");
  }
  /* Before the services restart, so they come back on the VM's own address. */
  if (has_net) {
    char why[160];
    if (network_apply(&net, why, sizeof why) < 0) return reply_error(r, id, 1, "network_failed", why);
  }
  /* PID 1 re-reads config and secrets and restarts the services (SIGUSR1), and checks run again at
   * once so a "fresh" health request reflects the restored guest, not the snapshot. */
  /* The host may skip it (restart_services: false) when it attached no new config or secrets: the
   * services then keep the state they had when the snapshot was taken. */
  int signalled = 0;
  if (!restart || restart->type != J_BOOL || restart->boolean) signalled = kill(init_pid, SIGUSR1) == 0;
  checks_run_all_now();
  reply_head(r, id, "post_restore");
  buf_printf(r, ",\"reseeded_bytes\":%ld,\"hostname\":", nraw);
  buf_json_string(r, host, strlen(host));
  buf_puts(r, ",\"machine_id\":");
  if (mid) buf_json_string(r, mid->str, 32);
  else buf_puts(r, "null");
  buf_puts(r, ",\"clock_step_ms\":");
  if (has_clock) buf_printf(r, "%lld", (long long)step_ms);
  else buf_puts(r, "null");
  buf_printf(r, ",\"signalled_init\":%s,\"network\":", signalled ? "true" : "false");
  if (has_net) {
    buf_puts(r, "{\"iface\":");
    buf_json_string(r, net.iface, strlen(net.iface));
    buf_puts(r, ",\"address\":");
    buf_json_string(r, net.address, strlen(net.address));
    buf_puts(r, ",\"gateway\":");
    if (net.has_gateway) buf_json_string(r, net.gateway, strlen(net.gateway));
    else buf_puts(r, "null");
    buf_puts(r, "}}");
  } else {
    buf_puts(r, "null}");
  }
}

/* Returns 0 when a reply was written to `reply`, 1 when the reply is deferred (fresh health). */
int handle_request(const char *body, size_t len, buf_t *reply, int *defer_fresh, double *id_out, origin_t from) {
  const char *err = NULL;
  *defer_fresh = 0;
  jval_t *req = json_parse(body, len, &err);
  if (!req) {
    char msg[160];
    snprintf(msg, sizeof msg, "request is not valid JSON: %s", err);
    reply_error(reply, 0, 0, "bad_json", msg);
    return 0;
  }
  const jval_t *idv = json_get(req, "id");
  const jval_t *type = json_get(req, "type");
  if (req->type != J_OBJ || !idv || idv->type != J_NUM || idv->num < 0 || idv->num > 4294967295.0 ||
      idv->num != (double)(long long)idv->num) {
    reply_error(reply, 0, 0, "bad_request", "request must be an object with an integer \"id\" from 0 to 2^32-1");
    json_free(req);
    return 0;
  }
  double id = idv->num;
  *id_out = id;
  if (!type || type->type != J_STR) {
    reply_error(reply, id, 1, "bad_request", "request needs a string \"type\"");
  } else if (strcmp(type->str, "ping") == 0) {
    reply_ping(reply, id);
  } else if (strcmp(type->str, "health") == 0) {
    const jval_t *fresh = json_get(req, "fresh");
    if (fresh && fresh->type == J_BOOL && fresh->boolean && checks_count() > 0) {
      checks_run_all_now();
      *defer_fresh = 1;
      json_free(req);
      return 1;
    }
    reply_health(reply, id);
  } else if (strcmp(type->str, "services") == 0) {
    reply_services(reply, id);
  } else if (strcmp(type->str, "post_restore") == 0) {
    post_restore(req, reply, id);
  } else if (snapshot_request(req, type->str, id, reply)) {
    /* answered by snapshot.c */
  } else if (procs_request(req, type->str, id, from, reply) || files_request(req, type->str, id, from, reply) ||
             filestreams_request(req, type->str, id, from, reply)) {
    /* exec, processes and files: answered (or streamed) by their own modules */
  } else if (strcmp(type->str, "shutdown") == 0) {
    reply_head(reply, id, "shutdown");
    buf_puts(reply, "}");
    pending_shutdown = 1;
  } else {
    char msg[160];
    snprintf(msg, sizeof msg, "unknown request type \"%.64s\"", type->str);
    reply_error(reply, id, 1, "unknown_type", msg);
  }
  json_free(req);
  return 0;
}
