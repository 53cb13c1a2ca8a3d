# mvmctl serve on every KVM node of a Nomad cluster: a system job (one allocation per eligible
# node) run with raw_exec, since the daemon starts VMMs that need /dev/kvm and the host's network.
# Nodes advertise KVM with a client meta value (client { meta { kvm = "true" } }) or are found by
# their CPU's virtualization flag; raw_exec must be enabled on them (plugin "raw_exec" { config {
# enabled = true } }). Templates are pulled by digest from the shared registry before the daemon
# starts, so every node serves the same bits. Callers find the daemons through the Nomad service.
job "mvmd" {
  type        = "system"
  datacenters = ["dc1"]

  constraint {
    attribute = "${meta.kvm}"
    value     = "true"
  }
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "mvmd" {
    network {
      port "api" {
        static = 7878
      }
    }

    service {
      name     = "mvmd"
      port     = "api"
      provider = "nomad"
      check {
        type     = "http"
        path     = "/v1/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "pull" {
      lifecycle {
        hook = "prestart"
      }
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/mvmctl"
        args    = ["template", "pull", "web", "--registry", "oci://registry.internal:5000/templates@sha256:REPLACE_WITH_DIGEST"]
      }
      env {
        MVM_DATA_DIR = "/var/lib/mvm"
      }
      template {
        data        = "MVM_OCI_USERNAME={{ with nomadVar \"nomad/jobs/mvmd\" }}{{ .oci_username }}{{ end }}\nMVM_OCI_PASSWORD={{ with nomadVar \"nomad/jobs/mvmd\" }}{{ .oci_password }}{{ end }}\n"
        destination = "secrets/oci.env"
        env         = true
      }
    }

    task "serve" {
      driver = "raw_exec"
      config {
        command = "/usr/local/bin/mvmctl"
        args    = ["serve", "--listen", "0.0.0.0:${NOMAD_PORT_api}", "--api-key-file", "${NOMAD_SECRETS_DIR}/api.key"]
      }
      env {
        MVM_DATA_DIR = "/var/lib/mvm"
      }
      template {
        data        = "{{ with nomadVar \"nomad/jobs/mvmd\" }}{{ .api_key }}{{ end }}\n"
        destination = "secrets/api.key"
        perms       = "600"
      }
      # The daemon stops on SIGTERM and leaves VMs running for its next start to pick up.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"
      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
