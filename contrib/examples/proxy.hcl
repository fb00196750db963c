# An unmodified server that binds its own port, in proxy mode: the broker
# starts one instance per backend port (replacing {port} in the command),
# accepts the connections on the site's sockets and forwards each to a live
# instance, splicing the bytes. Here: Python's built-in file server, showing
# this directory.
#
#   bin/zsmgen units contrib/examples/proxy.hcl
#   systemctl --user daemon-reload
#   systemctl --user enable --now zsm@files.socket
#   curl http://127.0.0.1:8083/          # a directory listing
site "files" {
  listen   = ["127.0.0.1:8083"]
  mode     = "proxy"
  command  = ["python3", "-m", "http.server", "--bind", "127.0.0.1", "{port}"]
  protocol = "http"

  # One instance on each port: the broker runs them all from the first
  # connection on, and forwards to the live ones. An instance is ready when
  # it listens on its port itself. Each is given at most as many connections
  # at once as its listen backlog (http.server's is 5; maxconn sets another
  # limit); a burst waits in the broker's queue instead of overflowing it.
  # With a spare port (ports = "9081-9083", instances = 2) a reload starts
  # each new instance before an old one stops.
  backend {
    address = "127.0.0.1:{port}"
    ports   = "9081-9082"
  }

  pool {
    idle_stop = "5m" # stop the instances after five minutes without a connection
  }
}
