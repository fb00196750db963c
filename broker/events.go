package broker

// Events name the kinds of things the broker logs: every record it writes
// carries one as its "event" attribute (slog.String("event", ...)), which
// the journal adapter turns into ZSM_EVENT= and a MESSAGE_ID= of its own,
// so that `journalctl ZSM_EVENT=worker-crashed` finds them all.
const (
	EventReady           = "broker-ready"
	EventFirstConnection = "first-connection"
	EventWorkerStarted   = "worker-started"
	EventWorkerReady     = "worker-ready"
	EventWorkerExited    = "worker-exited"  // an exit the broker asked for
	EventWorkerCrashed   = "worker-crashed" // an exit it did not
	EventStartFailed     = "start-failed"   // cannot start, died before ready, not ready in time
	EventWorkerStopping  = "worker-stopping"
	EventWorkerKilled    = "worker-killed" // SIGKILL after the stop timeout
	EventProtocolError   = "protocol-error"
	EventRefused         = "connection-refused"
	EventBreakerOpen     = "breaker-open"
	EventBreakerClosed   = "breaker-closed"
	EventReloading       = "reloading"
	EventReloaded        = "reloaded"
	EventReloadFailed    = "reload-failed"
	EventRecycling       = "recycling"
	EventIdle            = "idle"
	EventStopping        = "stopping"
	EventStored          = "connections-stored"
	EventAcceptFailed    = "accept-failed"
	EventNotice          = "notice" // anything else worth a line
)

// Events lists every event, for adapters that map them.
var Events = []string{
	EventReady, EventFirstConnection, EventWorkerStarted, EventWorkerReady, EventWorkerExited,
	EventWorkerCrashed, EventStartFailed, EventWorkerStopping, EventWorkerKilled, EventProtocolError,
	EventRefused, EventBreakerOpen, EventBreakerClosed, EventReloading, EventReloaded, EventReloadFailed,
	EventRecycling, EventIdle, EventStopping, EventStored, EventAcceptFailed, EventNotice,
}
