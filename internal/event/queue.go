package event

import (
	"time"

	"github.com/zsm-dev/zsm/internal/bounded"
)

// Queue feeds a sink that may stall from a bounded buffer, on a goroutine
// of its own (bounded.Queue). Event never blocks: when the buffer is full,
// the event is dropped and counted. Make one with NewQueue and end it with
// Close.
type Queue struct {
	q *bounded.Queue[Event]
}

// NewQueue starts a queue of up to size events in front of next.
func NewQueue(next Sink, size int) *Queue {
	return &Queue{q: bounded.NewQueue(size, next.Event)}
}

// Event queues e, or drops it when the queue is full.
func (q *Queue) Event(e Event) { q.q.Put(e) }

// Dropped counts the events dropped so far.
func (q *Queue) Dropped() uint64 { return q.q.Dropped() }

// Close stops the queue once the events in it are delivered, waiting at
// most timeout for that. Events that come after Close may be dropped.
func (q *Queue) Close(timeout time.Duration) { q.q.Close(timeout) }
