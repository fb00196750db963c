# A worker in another language: contrib/workers/python/hello_worker.py speaks
# the zsm worker protocol (activation/PROTOCOL.md) with Python's standard
# library. In handoff mode the broker accepts each connection and passes its
# fd to an idle worker over a private channel; the worker answers the client
# directly, so no byte goes through the broker.
#
#   bin/zsmgen check contrib/examples/python-handoff.hcl
#   bin/zsmgen units contrib/examples/python-handoff.hcl
#   systemctl --user daemon-reload
#   systemctl --user enable --now zsm@hello-py.socket
#   curl http://127.0.0.1:8081/          # "hello from python"
site "hello-py" {
  listen = ["127.0.0.1:8081", "unix:hello-py.sock"] # unix paths are relative to $XDG_RUNTIME_DIR
  mode   = "handoff"
  # Run without a shell; python3 is found on $PATH. The script's path is
  # relative to the working directory, which defaults to this file's directory.
  command  = ["python3", "../workers/python/hello_worker.py"]
  protocol = "http" # a connection no worker could take gets a 503, not a reset

  # How many connections each worker serves at once (HELLO_SLOTS, default 4).
  environment = { HELLO_SLOTS = "8" }

  pool {
    min_idle = 1 # one warm spare once the site has started
    max      = 4
  }
}
