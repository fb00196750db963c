package statuspage

import (
	"context"
	"time"

	"github.com/zsm-dev/zsm/internal/status"
)

// testNow is the clock of every test page.
var testNow = time.Date(2026, time.March, 14, 15, 9, 26, 0, time.UTC)

// startedAgo is a worker's Started d before testNow.
func startedAgo(d time.Duration) uint64 { return uint64(testNow.Add(-d).UnixMicro()) }

// coldSite has no worker: the next connection starts one.
func coldSite() status.Site {
	return status.Site{
		Site: "wiki", Mode: "listen", State: "cold", Generation: 1,
		Accepted: 12, Served: 12, Breaker: "closed",
	}
}

// runningSite has two workers, one ready and one starting.
func runningSite() status.Site {
	return status.Site{
		Site: "blog", Mode: "handoff", State: "running", Generation: 3,
		Workers: []status.Worker{
			{Pid: 41237, State: "ready", Served: 18291, Started: startedAgo(2*time.Hour + 13*time.Minute + 5*time.Second), RSS: 50_541_773, Held: 3, Busy: 2},
			{Pid: 41290, State: "starting", Served: 0, Started: startedAgo(3 * time.Second), RSS: 6_397_952},
		},
		Accepted: 18342, Served: 18330, Active: 3, Queued: 0, Shed: 7, Failed: 2, Restarts: 1,
		Breaker: "closed", LogDropped: 4, Version: "v1.2.0 (go1.26.8)", Requests: 60836, RequestsPerSec: 812.5,
		Listeners: []status.Listener{
			{Addr: "127.0.0.1:8080", Queue: 5, Backlog: 4096},
			{Addr: "unix:blog.sock", Queue: 0, Backlog: 0}, // not known
		},
		QueueWait:      testHistogram(0.0004, 18340, 2),
		HandoffLatency: testHistogram(0.0002, 18342, 0),
		Events: []status.Event{
			{Time: startedAgo(5 * time.Second), Kind: "worker-crashed", Level: "WARN",
				Message: `worker exited unexpectedly pid=41236 worker=1 generation=3 status="killed by SIGKILL" served=39 lost=1`},
			{Time: startedAgo(3 * time.Second), Kind: "worker-started", Level: "INFO",
				Message: "worker started pid=41290 worker=2 generation=3 command=./blog <b>"},
		},
	}
}

// failingSite has its breaker open, and a last error that tries to inject
// markup.
func failingSite() status.Site {
	return status.Site{
		Site: "api", Mode: "proxy", State: "failing", Generation: 7,
		Accepted: 120, Served: 76, Shed: 41, Failed: 3, Restarts: 5,
		Breaker: "open",
		LastError: `worker "/srv/api/bin/app --port 8080" exited with status 1 before it was ready, 5 times in 30s; breaker open for 60s: ` +
			`stderr: panic: bad config value <script>alert("pwned")</script> & more`,
	}
}

// host is every site on a test host, out of order.
func host() []status.Site { return []status.Site{runningSite(), coldSite(), failingSite()} }

// fixed returns a source that returns sites.
func fixed(sites ...status.Site) func(context.Context) ([]status.Site, error) {
	return func(context.Context) ([]status.Site, error) { return sites, nil }
}

// idleSite has no broker: systemd listens on its sockets (zsm status
// learns it from the socket unit).
func idleSite() status.Site {
	return status.Site{Site: "docs", State: status.StateIdle, Listen: []string{"127.0.0.1:8081", "/run/user/1000/docs.sock"}}
}

// socketFailedSite has no broker and a socket unit systemd could not start.
func socketFailedSite() status.Site {
	return status.Site{
		Site: "shop", State: status.StateSocketFailed, Listen: []string{"127.0.0.1:8082"},
		LastError: "socket failed: resources: Failed to create listening socket (127.0.0.1:8082): Address already in use",
	}
}

// testHistogram is a histogram of n durations, the slow ones (over 1 s)
// among them, of sum sum, with the bounds the broker uses.
func testHistogram(sum float64, n, slow uint64) status.Histogram {
	h := status.Histogram{
		Bounds: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		Sum:    sum * float64(n),
	}
	h.Counts = make([]uint64, len(h.Bounds)+1)
	h.Counts[1], h.Counts[2], h.Counts[len(h.Bounds)-1] = n-n/4-slow, n/4, slow
	return h
}

// busyHistory is 15 minutes of samples of runningSite, one every 10 s up
// to testNow: traffic that rises to a peak with a queue at its top, and a
// broker restart (counters from 0) eight minutes ago.
func busyHistory() *History {
	h := NewHistory()
	var served uint64 = 5000
	for i := range historySamples {
		s := runningSite()
		at := testNow.Add(-time.Duration(historySamples-1-i) * HistoryInterval)
		load := 1 + uint64(i%30)    // requests a second, a sawtooth
		if i == historySamples-48 { // the broker restarted
			served = 0
		}
		served += load * 10
		s.Served, s.Requests, s.Queued = served, 0, 0
		for j := range s.Workers {
			s.Workers[j].Busy = uint32(min(load/8, 2) >> j)
		}
		if load > 25 {
			s.Queued = uint32(load - 25)
		}
		s.Listeners = []status.Listener{{Addr: "127.0.0.1:8080", Queue: uint32(load / 10), Backlog: 4096}}
		h.Record([]status.Site{s}, at)
	}
	return h
}
