package statuspage_test

import (
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"

	"github.com/zsm-dev/zsm/internal/status"
	"github.com/zsm-dev/zsm/internal/statuspage"
)

func ExampleHandler() {
	h := statuspage.Handler(func(ctx context.Context) ([]status.Site, error) {
		return []status.Site{{
			Site: "blog", Mode: "handoff", State: "running", Generation: 2, Breaker: "closed",
			Workers:  []status.Worker{{Pid: 4242, State: "ready", Served: 10, RSS: 25 << 20, Held: 1, Busy: 1}},
			Accepted: 11, Served: 10, Active: 1,
			Listeners: []status.Listener{{Addr: "127.0.0.1:8080", Queue: 0, Backlog: 4096}},
			QueueWait: status.Histogram{Bounds: []float64{0.001, 0.01}, Counts: []uint64{9, 1, 1}, Sum: 1.25},
		}}, nil
	})
	srv := httptest.NewServer(h) // or http.ListenAndServe(addr, h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
	// Output:
	// # HELP zsm_connections_accepted_total Connections the broker accepted.
	// # TYPE zsm_connections_accepted_total counter
	// zsm_connections_accepted_total{site="blog"} 11
	// # HELP zsm_connections_served_total Connections workers finished.
	// # TYPE zsm_connections_served_total counter
	// zsm_connections_served_total{site="blog"} 10
	// # HELP zsm_connections_shed_total Connections refused: queue full, no worker ready, or breaker open.
	// # TYPE zsm_connections_shed_total counter
	// zsm_connections_shed_total{site="blog"} 0
	// # HELP zsm_connections_failed_total Connections lost because their worker died holding them.
	// # TYPE zsm_connections_failed_total counter
	// zsm_connections_failed_total{site="blog"} 0
	// # HELP zsm_worker_restarts_total Workers that exited unexpectedly.
	// # TYPE zsm_worker_restarts_total counter
	// zsm_worker_restarts_total{site="blog"} 0
	// # HELP zsm_log_dropped_total Broker events a log, journal or bus sink dropped rather than stall serving.
	// # TYPE zsm_log_dropped_total counter
	// zsm_log_dropped_total{site="blog"} 0
	// # HELP zsm_connections_active Connections held by workers now.
	// # TYPE zsm_connections_active gauge
	// zsm_connections_active{site="blog"} 1
	// # HELP zsm_connections_queued Connections waiting in the broker for a worker.
	// # TYPE zsm_connections_queued gauge
	// zsm_connections_queued{site="blog"} 0
	// # HELP zsm_workers Workers by state (starting, ready, draining).
	// # TYPE zsm_workers gauge
	// zsm_workers{site="blog",state="starting"} 0
	// zsm_workers{site="blog",state="ready"} 1
	// zsm_workers{site="blog",state="draining"} 0
	// # HELP zsm_generation The site's generation, bumped by every reload.
	// # TYPE zsm_generation gauge
	// zsm_generation{site="blog"} 2
	// # HELP zsm_up 1 if the site is running, 0 otherwise (cold, starting, failing, stopping, idle, socket-failed, ...); state is the site's state.
	// # TYPE zsm_up gauge
	// zsm_up{site="blog",state="running"} 1
	// # HELP zsm_worker_resident_memory_bytes Resident memory of each worker, in bytes.
	// # TYPE zsm_worker_resident_memory_bytes gauge
	// zsm_worker_resident_memory_bytes{site="blog",pid="4242"} 26214400
	// # HELP zsm_workers_busy Workers with a connection in a request now (without per-request reports: holding a connection).
	// # TYPE zsm_workers_busy gauge
	// zsm_workers_busy{site="blog"} 1
	// # HELP zsm_worker_connections_held Connections each worker holds now (handoff, proxy).
	// # TYPE zsm_worker_connections_held gauge
	// zsm_worker_connections_held{site="blog",pid="4242"} 1
	// # HELP zsm_worker_connections_busy Of the connections each worker holds, those in a request now (as the worker reports it, else all).
	// # TYPE zsm_worker_connections_busy gauge
	// zsm_worker_connections_busy{site="blog",pid="4242"} 1
	// # HELP zsm_listen_queue Connections waiting in the kernel's accept queue of each listening socket.
	// # TYPE zsm_listen_queue gauge
	// zsm_listen_queue{site="blog",listen="127.0.0.1:8080"} 0
	// # HELP zsm_listen_backlog The most connections the kernel's accept queue of each listening socket holds.
	// # TYPE zsm_listen_backlog gauge
	// zsm_listen_backlog{site="blog",listen="127.0.0.1:8080"} 4096
	// # HELP zsm_queue_wait_seconds How long connections waited in the broker, from accept to being given to a worker (handoff, proxy).
	// # TYPE zsm_queue_wait_seconds histogram
	// zsm_queue_wait_seconds_bucket{site="blog",le="0.001"} 9
	// zsm_queue_wait_seconds_bucket{site="blog",le="0.01"} 10
	// zsm_queue_wait_seconds_bucket{site="blog",le="+Inf"} 11
	// zsm_queue_wait_seconds_sum{site="blog"} 1.25
	// zsm_queue_wait_seconds_count{site="blog"} 11
	// # HELP zsm_handoff_latency_seconds From accept until the connection reached its worker: fd sent on its channel (handoff), backend connection up (proxy).
	// # TYPE zsm_handoff_latency_seconds histogram
}
