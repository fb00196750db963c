site "blog" {
  listen   = ["127.0.0.1:8080", "unix:blog.sock"]
  command  = ["./blog-server", "--config", "prod.toml"]
  mode     = "handoff"
  protocol = "http"

  environment = {
    APP_ENV     = "prod"
    LONGER_NAME = "2"
  }
  pool {
    min_idle     = 1
    max          = 8
    max_requests = 1000
  }
  timeouts { start = "30s" }
  listen_more = [
    "a",

    "b",
  ]
}
site "shop" {
  listen  = []
  command = ["./shop"]
}
