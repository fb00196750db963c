// Command hello is an example zsm worker in Go: an HTTP server that answers
// "hello" and runs the same under zsm handoff, under systemd socket
// activation and standalone (binding -addr), through activation.Listen.
//
// -start-delay makes it sleep before it listens (or, socket-activated,
// before it takes its sockets), to play a slow-starting app in benchmarks.
// GET /bytes/N answers N bytes instead of "hello", to measure larger
// responses; GET /sleep/D answers after D (2s, 150ms), a slow request.
//
// It stops gracefully: on SIGTERM, or when the zsm broker ends its channel,
// it stops accepting, finishes the requests in flight (at most -drain), and
// exits 0.
//
//	site "hello" {
//	  listen  = ["127.0.0.1:8080"]
//	  mode    = "handoff"
//	  command = ["hello"]
//	}
package main
