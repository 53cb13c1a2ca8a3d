{
  description = "mvm example: a background worker that writes a heartbeat, health checked by its age";

  # Offline: `mvmctl build` supplies both inputs (--override-input): mvm with the library installed
  # with it, mvm-kit with this machine's guest kit (<data>/kit/<hash>). They name no host path.
  inputs.mvm.url = "github:mvmctl/mvmctl?dir=nix";
  inputs.mvm-kit = { url = "github:mvmctl/mvmctl"; flake = false; };

  outputs = { self, mvm, mvm-kit, ... }:
    let system = "x86_64-linux"; in {
      packages.${system}.default = mvm.lib.${system}.mkGuest {
        kit = mvm-kit;
        name = "worker";
        hostname = "worker";
        services.worker = {
          preStart = "mkdir -p /run/worker && chown mvm:mvm /run/worker";
          command = ''
            while true; do
              date +%s > /run/worker/heartbeat
              echo "[worker] tick $(date)"
              sleep 2
            done
          '';
        };
        healthChecks.worker = {
          # Healthy while the heartbeat is younger than 10 seconds.
          healthCmd = ''
            beat=$(cat /run/worker/heartbeat) || exit 1
            age=$(( $(date +%s) - beat ))
            [ "$age" -lt 10 ] || { echo "heartbeat is ''${age}s old"; exit 1; }
          '';
          healthIntervalSecs = 2;
          healthTimeoutSecs = 2;
          startupGraceSecs = 10;
        };
      };
    };
}
