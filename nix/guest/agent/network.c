/* post_restore's optional "network": a restored guest still has the snapshot VM's address, so the
 * host tells it the one that goes with its own TAP. Every field is validated strictly here and
 * handed to `ip` as its own argv element: nothing from the request is ever parsed by a shell. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"

const char *ip_bin = "ip"; /* looked up on PATH; tests point it at a recorder (--ip-bin) */

/* Dotted-quad IPv4, four decimal octets 0-255 without leading zeros. */
static int parse_ipv4(const char *s, size_t n, uint32_t *out) {
  uint32_t v = 0;
  size_t i = 0;
  for (int octet = 0; octet < 4; octet++) {
    if (octet) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
    size_t start = i;
    unsigned part = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9' && i - start < 3) part = part * 10 + (unsigned)(s[i++] - '0');
    size_t digits = i - start;
    if (digits == 0 || part > 255 || (digits > 1 && s[start] == '0')) return 0;
    v = (v << 8) | part;
  }
  if (i != n) return 0;
  *out = v;
  return 1;
}

/* Interface names: 1-15 bytes (IFNAMSIZ - 1) of [A-Za-z0-9_.-], starting with a letter or digit. */
static int valid_iface(const char *s, size_t n) {
  if (n < 1 || n > 15 || strlen(s) != n) return 0;
  if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9'))) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
          c == '-'))
      return 0;
  }
  return 1;
}

const char *network_parse(const jval_t *net, network_req_t *out) {
  if (net->type != J_OBJ) return "network must be an object";
  for (size_t k = 0; k < net->count; k++)
    if (strcmp(net->keys[k], "iface") && strcmp(net->keys[k], "address") && strcmp(net->keys[k], "gateway"))
      return "network accepts only iface, address and gateway";
  const jval_t *iface = json_get(net, "iface");
  const jval_t *addr = json_get(net, "address");
  const jval_t *gw = json_get(net, "gateway");
  if (!iface || iface->type != J_STR || !valid_iface(iface->str, iface->str_len))
    return "network.iface must be 1-15 of [A-Za-z0-9_.-], starting with a letter or digit";
  if (!addr || addr->type != J_STR || addr->str_len > 18 || strlen(addr->str) != addr->str_len)
    return "network.address must be an IPv4 address with a prefix length, like 10.0.0.2/30";
  const char *slash = strchr(addr->str, '/');
  uint32_t ip = 0;
  if (!slash || !parse_ipv4(addr->str, (size_t)(slash - addr->str), &ip))
    return "network.address must be an IPv4 address with a prefix length, like 10.0.0.2/30";
  const char *p = slash + 1;
  size_t plen_digits = strlen(p);
  int prefix = 0;
  int ok = plen_digits >= 1 && plen_digits <= 2 && !(plen_digits == 2 && p[0] == '0');
  for (size_t i = 0; ok && i < plen_digits; i++) {
    ok = p[i] >= '0' && p[i] <= '9';
    prefix = prefix * 10 + (p[i] - '0');
  }
  if (!ok || prefix < 1 || prefix > 32) return "network.address prefix length must be 1 to 32";
  out->has_gateway = 0;
  if (gw && gw->type != J_NULL) {
    uint32_t g = 0;
    if (gw->type != J_STR || strlen(gw->str) != gw->str_len || !parse_ipv4(gw->str, gw->str_len, &g))
      return "network.gateway must be an IPv4 address";
    uint32_t mask = prefix == 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
    if (prefix == 32 || (g & mask) != (ip & mask) || g == ip)
      return "network.gateway must be another address in network.address's subnet";
    snprintf(out->gateway, sizeof out->gateway, "%s", gw->str);
    out->has_gateway = 1;
  }
  snprintf(out->iface, sizeof out->iface, "%s", iface->str);
  snprintf(out->address, sizeof out->address, "%s", addr->str);
  return NULL;
}

/* Runs `ip ARGS...`; 0 on exit status 0. Waits for this child only, so the health checks' reaper
 * (waitpid(-1) from the main loop) never sees it. */
static int run_ip(char *const argv[], char *err, size_t errlen) {
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    execvp(ip_bin, argv);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      snprintf(err, errlen, "waitpid: %s", strerror(errno));
      return -1;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
  char what[64];
  if (WIFEXITED(status)) snprintf(what, sizeof what, "exit code %d", WEXITSTATUS(status));
  else snprintf(what, sizeof what, "signal %d", WTERMSIG(status));
  snprintf(err, errlen, "ip %s %s failed: %s", argv[1], argv[2], what);
  return -1;
}

int network_apply(const network_req_t *n, char *err, size_t errlen) {
  /* argv[0] is ip_bin so a recorder sees the same argv the real ip would. */
  char *flush[] = {(char *)ip_bin, "addr", "flush", "dev", (char *)n->iface, NULL};
  char *add[] = {(char *)ip_bin, "addr", "add", (char *)n->address, "dev", (char *)n->iface, NULL};
  char *route[] = {(char *)ip_bin, "route", "replace", "default", "via", (char *)n->gateway,
                   "dev",          (char *)n->iface, NULL};
  if (run_ip(flush, err, errlen) < 0) return -1;
  if (run_ip(add, err, errlen) < 0) return -1;
  if (n->has_gateway && run_ip(route, err, errlen) < 0) return -1;
  return 0;
}
