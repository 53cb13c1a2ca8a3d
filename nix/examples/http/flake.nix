{
  description = "mvm example: busybox httpd on port 8080, health checked over HTTP";

  # Offline: `mvmctl build` supplies both inputs (--override-input): mvm with the library installed
  # with it, mvm-kit with this machine's guest kit (<data>/kit/<hash>). They name no host path.
  inputs.mvm.url = "github:mvmctl/mvmctl?dir=nix";
  inputs.mvm-kit = { url = "github:mvmctl/mvmctl"; flake = false; };

  outputs = { self, mvm, mvm-kit, ... }:
    let system = "x86_64-linux"; in {
      packages.${system}.default = mvm.lib.${system}.mkGuest {
        kit = mvm-kit;
        name = "http";
        hostname = "http";
        services.web = {
          preStart = ''
            mkdir -p /srv/www
            echo '<h1>hello from mvm</h1>' > /srv/www/index.html
          '';
          command = "exec httpd -f -p 8080 -h /srv/www";
        };
        healthChecks.web = {
          healthCmd = "wget -q -O /dev/null http://127.0.0.1:8080/";
          healthIntervalSecs = 2;
          healthTimeoutSecs = 3;
          startupGraceSecs = 10;
        };
      };
    };
}
