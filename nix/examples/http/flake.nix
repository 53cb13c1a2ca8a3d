{
  description = "mvm example: busybox httpd on port 8080, health checked over HTTP";

  inputs.mvm.url = "path:/usr/local/share/mvmctl/nix";
  inputs.mvm-kit.url = "path:/root/.mvm/kit/current";
  inputs.mvm-kit.flake = false;

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
