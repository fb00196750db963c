package status

// Site is one site's state.
type Site struct {
	Site       string
	Mode       string // handoff, listen or proxy
	State      string // cold, starting, running, failing, stopping
	Generation uint32 // bumped by every reload
	Workers    []Worker
	Accepted   uint64 // connections the broker accepted
	Served     uint64 // connections workers finished
	Active     uint32 // connections held by workers now
	Queued     uint32 // connections waiting for a worker
	Shed       uint64 // connections refused: queue full, no worker, breaker open
	Failed     uint64 // connections lost with a worker that died holding them
	Restarts   uint64 // workers that exited unexpectedly
	Breaker    string // closed, open, half-open
	LastError  string
	// Version is the zsm version of the site's broker, as `zsm
	// --version` prints it.
	Version string
	// LogDropped counts the broker's events that a log, journal or bus
	// sink could not take in time and dropped, rather than stall serving.
	LogDropped uint64
	// Events are the site's last events, oldest first.
	Events []Event
}

// Event is one thing that happened to a site, as its log says it.
type Event struct {
	Time    uint64 // Unix microseconds
	Kind    string // worker-started, worker-crashed, ... (the journal's ZSM_EVENT)
	Level   string // INFO, WARN or ERROR
	Message string // what happened, with its fields: "worker exited pid=42 status=..."
}

// Worker is one worker of a site.
type Worker struct {
	Pid     uint32
	State   string // starting, ready, draining
	Served  uint64 // connections it finished
	Started uint64 // start time, Unix microseconds
	RSS     uint64 // resident memory, bytes (0: unknown)
}
