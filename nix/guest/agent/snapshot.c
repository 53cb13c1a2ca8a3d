/* "prepare_snapshot": the host sends it just before it pauses the VM to save a snapshot. The kernel
 * boots with init_on_free=1, so every page it frees is zeroed, and zero pages become holes in the
 * saved memory file. Freeing what the guest does not need before the pause therefore shrinks the
 * snapshot on disk and what each restore maps: written-back and then dropped clean caches (page
 * cache, dentries, inodes), and a compaction pass that moves scattered pages together and frees
 * what they leave behind. Nothing a service holds is touched: mapped pages stay, dirty data is
 * written first. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"

/* MemFree from /proc/meminfo in KiB, or -1. */
static long mem_free_kib(void) {
  char *text = read_file("/proc/meminfo", NULL);
  if (!text) return -1;
  long kib = -1;
  const char *p = strstr(text, "MemFree:");
  if (p) sscanf(p + 8, "%ld", &kib);
  free(text);
  return kib;
}

/* Writes `value` to a /proc/sys knob: 1 when done, 0 when the kernel has no such knob, -1 on error. */
static int poke(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  ssize_t n = strlen(value);
  ssize_t w;
  do w = write(fd, value, (size_t)n);
  while (w < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  errno = err;
  return w == n ? 1 : -1;
}

int snapshot_request(const jval_t *req, const char *type, double id, buf_t *reply) {
  (void)req;
  if (strcmp(type, "prepare_snapshot") != 0) return 0;
  /* An agent run on a host for tests (a config dir of its own) must not drop the host's caches. */
  if (strcmp(cfg_dir, MVM_CONFIG_DIR) != 0) {
    reply_error(reply, id, 1, "unsupported", "prepare_snapshot runs only inside a guest");
    return 1;
  }
  long before = mem_free_kib();
  int64_t t0 = now_ms();
  sync();
  int dropped = poke("/proc/sys/vm/drop_caches", "3\n");
  int compacted = poke("/proc/sys/vm/compact_memory", "1\n");
  if (dropped < 0) {
    char msg[128];
    snprintf(msg, sizeof msg, "cannot drop caches: %s", strerror(errno));
    reply_error(reply, id, 1, "internal", msg);
    return 1;
  }
  long after = mem_free_kib();
  buf_printf(reply,
             "{\"id\":%.0f,\"ok\":true,\"type\":\"prepare_snapshot\",\"dropped_caches\":%s,\"compacted\":%s,"
             "\"mem_free_kib_before\":%ld,\"mem_free_kib_after\":%ld,\"took_ms\":%lld}",
             id, dropped > 0 ? "true" : "false", compacted > 0 ? "true" : "false", before, after,
             (long long)(now_ms() - t0));
  return 1;
}
