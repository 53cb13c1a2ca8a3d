/* Where the agent finds its configuration and keeps its run-time state, and which process is init.
 * The defaults are the guest's own; the command line replaces them (tests run the agent on the host
 * against a temporary configuration). */
#include "agent.h"

const char *cfg_dir = MVM_CONFIG_DIR;
const char *run_dir = MVM_RUN_DIR;
pid_t init_pid = 1;
