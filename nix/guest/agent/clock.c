/* post_restore's optional "wall_clock_ms": a restored guest's clock carries on from the moment the
 * snapshot was taken, so the host sends its own wall clock (milliseconds since the Unix epoch) and
 * the agent steps CLOCK_REALTIME to it before anything else of the restore happens. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent.h"

/* Tests run the agent on a host whose clock is not theirs to set: the time goes to this file. */
const char *clock_file;

/* 2001-09-09 to 2286-11-20: anything outside is a host bug, not a clock worth setting. */
#define CLOCK_MIN_MS 1000000000000.0
#define CLOCK_MAX_MS 9999999999999.0

const char *clock_parse(const jval_t *v, int64_t *out_ms) {
  if (v->type != J_NUM || v->num != (double)(int64_t)v->num || v->num < CLOCK_MIN_MS || v->num > CLOCK_MAX_MS)
    return "wall_clock_ms must be an integer count of milliseconds since 1970 (13 digits)";
  *out_ms = (int64_t)v->num;
  return NULL;
}

static int64_t realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int clock_apply(int64_t wall_ms, int64_t *step_ms, char *err, size_t errlen) {
  *step_ms = wall_ms - realtime_ms();
  if (clock_file) {
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n", (long long)wall_ms);
    if (write_file(clock_file, line, (size_t)n, 0644) < 0) {
      snprintf(err, errlen, "cannot write %s", clock_file);
      return -1;
    }
    return 0;
  }
  struct timespec ts = {.tv_sec = (time_t)(wall_ms / 1000), .tv_nsec = (long)(wall_ms % 1000) * 1000000};
  if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
    snprintf(err, errlen, "clock_settime failed: %s", strerror(errno));
    return -1;
  }
  return 0;
}
