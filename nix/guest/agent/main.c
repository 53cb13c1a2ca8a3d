#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

static int usage(void) {
  fprintf(stderr,
          "usage: mvm-agent [--config-dir DIR] [--run-dir DIR] [--init-pid PID] [--listen-unix PATH]\n"
          "                 [--ip-bin PATH] [--clock-file PATH]\n"
          "                 serve | supervise NAME | exec-service NAME | pre-start NAME | version\n");
  return 2;
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
    if (i + 1 >= argc) return usage();
    if (strcmp(argv[i], "--config-dir") == 0) cfg_dir = argv[i + 1];
    else if (strcmp(argv[i], "--run-dir") == 0) run_dir = argv[i + 1];
    else if (strcmp(argv[i], "--init-pid") == 0) init_pid = (pid_t)atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--listen-unix") == 0) listen_unix = argv[i + 1];
    else if (strcmp(argv[i], "--ip-bin") == 0) ip_bin = argv[i + 1];
    else if (strcmp(argv[i], "--clock-file") == 0) clock_file = argv[i + 1];
    else return usage();
  }
  if (i >= argc) return usage();
  const char *cmd = argv[i];
  const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
  if (strcmp(cmd, "serve") == 0) return cmd_serve();
  if (strcmp(cmd, "version") == 0) {
    printf("mvm-agent %s (protocol %d)\n", MVM_AGENT_VERSION, MVM_PROTOCOL_VERSION);
    return 0;
  }
  if (!arg) return usage();
  if (strcmp(cmd, "supervise") == 0) return cmd_supervise(arg);
  if (strcmp(cmd, "exec-service") == 0) return cmd_exec_service(arg, 0);
  if (strcmp(cmd, "pre-start") == 0) return cmd_exec_service(arg, 1);
  return usage();
}
