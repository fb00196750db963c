package event

import (
	"sync"
	"sync/atomic"
	"time"
)

// Queue feeds a sink that may stall from a bounded buffer, on a goroutine
// of its own. Event never blocks: when the buffer is full, the event is
// dropped and counted. Its zero value is not usable; make one with
// NewQueue and end it with Close.
type Queue struct {
	next    Sink
	ch      chan Event
	dropped atomic.Uint64
	quit    chan struct{} // closed by Close
	once    sync.Once
	done    chan struct{} // closed when the goroutine returns
}

// NewQueue starts a queue of up to size events in front of next.
func NewQueue(next Sink, size int) *Queue {
	q := &Queue{
		next: next,
		ch:   make(chan Event, max(size, 1)),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go q.run()
	return q
}

// Event queues e, or drops it when the queue is full.
func (q *Queue) Event(e Event) {
	select {
	case q.ch <- e:
	default:
		q.dropped.Add(1)
	}
}

// Dropped counts the events dropped so far.
func (q *Queue) Dropped() uint64 { return q.dropped.Load() }

func (q *Queue) run() {
	defer close(q.done)
	for {
		select {
		case e := <-q.ch:
			q.next.Event(e)
		case <-q.quit:
			for {
				select {
				case e := <-q.ch:
					q.next.Event(e)
				default:
					return
				}
			}
		}
	}
}

// Close stops the queue once the events in it are delivered, waiting at
// most timeout for that: a sink that stalls keeps the goroutine, not the
// caller. Events that come after Close may be dropped. Close may be
// called more than once.
func (q *Queue) Close(timeout time.Duration) {
	q.once.Do(func() { close(q.quit) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-q.done:
	case <-t.C:
	}
}
