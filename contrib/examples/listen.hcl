# An app that already supports systemd socket activation, in listen mode: each
# worker gets the site's listening sockets through LISTEN_FDS (with
# LISTEN_FDNAMES and a LISTEN_PID that is its own) and accepts from the kernel
# queue itself, exactly as if systemd had started it. The Go hello worker does
# that through the activation package; gunicorn, uvicorn or any go-systemd app
# would run unchanged. `make build` builds bin/hello.
#
#   bin/zsmgen units contrib/examples/listen.hcl
#   systemctl --user daemon-reload
#   systemctl --user enable --now zsm@hello-listen.socket
#   curl http://127.0.0.1:8082/          # "hello"
site "hello-listen" {
  listen   = ["127.0.0.1:8082", "unix:hello-listen.sock"]
  mode     = "listen"
  command  = ["../../bin/hello"] # relative to this file's directory
  protocol = "http"

  pool {
    # Every worker accepts from the same sockets, so the broker runs this
    # many from the first connection on; a recycled worker is replaced
    # while the other keeps serving.
    max          = 2
    max_requests = 10000 # recycle a worker after this many connections
  }

  timeouts {
    start = "10s" # a worker must accept (or say READY=1) within this
    stop  = "20s" # SIGTERM, then SIGKILL after this
  }
}
