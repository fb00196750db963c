package broker

import (
	"context"
	"time"

	"github.com/zsm-dev/zsm/internal/sockets"
	"github.com/zsm-dev/zsm/internal/status"
)

// Latency histograms, and the listening sockets' accept queues, for the
// status surfaces. The histograms are counted on the pool's goroutine, a
// few instructions per connection and no lock; Status copies them there.

// latencyBounds are the upper bounds of the latency histograms' buckets,
// in seconds: from 100 µs (a handoff to an idle worker) to 30 s (a cold
// start that waits for a slow app).
var latencyBounds = [...]float64{
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
}

// latencyLimits are latencyBounds as durations.
var latencyLimits = func() (l [len(latencyBounds)]time.Duration) {
	for i, b := range latencyBounds {
		l[i] = time.Duration(b * float64(time.Second))
	}
	return l
}()

// histogram counts durations in the buckets of latencyBounds, and one
// above them. A nil histogram counts nothing.
type histogram struct {
	counts [len(latencyBounds) + 1]uint64
	sum    time.Duration
}

// observe counts d.
func (h *histogram) observe(d time.Duration) {
	if h == nil {
		return
	}
	i := 0
	for i < len(latencyLimits) && d > latencyLimits[i] {
		i++
	}
	h.counts[i]++
	h.sum += d
}

// status returns h for the status surfaces.
func (h *histogram) status() status.Histogram {
	return status.Histogram{
		Bounds: latencyBounds[:],
		Counts: append([]uint64(nil), h.counts[:]...),
		Sum:    h.sum.Seconds(),
	}
}

// latencies are the pool's latency histograms (status.Site's QueueWait
// and HandoffLatency).
type latencies struct {
	// queueWait: from accept until the pool gave the connection to a
	// worker, the first time (a proxied connection whose backend fails is
	// given again, and not counted again).
	queueWait histogram
	// handoff: from accept until the connection reached its worker: the
	// sendmsg on the worker's channel returned (handoff), or the broker
	// saw its backend connection up (proxy). The worker's read of it is
	// not observable.
	handoff histogram
}

// addMetrics adds to out the pool's latency histograms, in the modes
// where the broker accepts, and the listening sockets' accept queues.
func (b *Broker) addMetrics(ctx context.Context, out *status.Site) error {
	out.Listeners = listeners(b.cfg.Sockets)
	return b.inspect(ctx, func(p *pool) {
		if p.traits.accepts {
			out.QueueWait = p.latency.queueWait.status()
			out.HandoffLatency = p.latency.handoff.status()
		}
	})
}

// listeners reads the accept queue of each socket; one that does not
// answer is listed with Backlog 0, unknown. The caller's files keep their
// mode (no Fd call).
func listeners(socks []Socket) []status.Listener {
	var out []status.Listener
	for _, s := range socks {
		l := status.Listener{Addr: s.Addr.String()}
		if rc, err := s.File.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				if q, bl, err := sockets.AcceptQueue(int(fd)); err == nil {
					l.Queue, l.Backlog = q, bl
				}
			})
		}
		out = append(out, l)
	}
	return out
}
