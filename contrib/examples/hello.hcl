# The bundled example: a Go app built on the activation package, in handoff
# mode. `make demo` builds bin/hello and runs this site.
site "hello" {
  listen   = ["127.0.0.1:8080", "unix:hello.sock"]
  command  = ["../../bin/hello"]
  protocol = "http"

  pool {
    min_idle = 1
    max      = 4
  }
}
