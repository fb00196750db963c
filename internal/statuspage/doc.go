// Package statuspage serves the web status surface of zsm: a page in the
// spirit of Apache's mod_status, the same data as JSON, and Prometheus
// metrics, for one site (a site's own page) or for every site on the host
// (`zsm status --serve ADDR`). Its input is what each site exposes on the
// bus: a []status.Site, read afresh on every request.
//
// Handler serves, for GET and HEAD only (anything else gets 405):
//
//	/               HTML, refreshing itself every 5 seconds (a meta refresh, no script)
//	/?json          JSON
//	/status.json    JSON, the same
//	/metrics        Prometheus text format 0.0.4
//
// HandlerWithHistory adds graphs of the last 15 minutes to each running
// site on the page, drawn server-side as inline SVG sparklines: requests a
// second (connections a second when no worker reports requests; a counter
// that went back, a new broker, counts from 0), busy workers, and
// connections waiting (Queued plus the listeners' Queue). History keeps
// one sample every HistoryInterval (10 s), 90 of them, for each site its
// source returns; History.Run takes them. `zsm status --serve` and a
// site's own page both use it.
//
// Other paths get 404. When the source fails, every path answers 503 with
// the error's message as plain text. Sites are listed sorted by name, each
// site's workers in the order the source gave them. Responses carry
// Cache-Control: no-store. Links on the page are relative, so the handler
// may be mounted under a directory, e.g. mux.Handle("/status/",
// http.StripPrefix("/status", h)).
//
// # JSON
//
// The body is an array with one object per site, whose field names are the
// D-Bus property names of interface dev.zsm.Site1 (docs/dbus.md) and the
// same as `zsm status --json` prints; they change only with the interface
// version:
//
//	Site        string   the site's name
//	Mode        string   handoff, listen or proxy ("" without a broker)
//	State       string   cold, starting, running, failing, stopping; without a
//	                     broker: idle, socket-failed, socket-inactive
//	Generation  number   bumped by every reload
//	Workers     array    one object per worker, never null:
//	  Pid       number   process id
//	  State     string   starting, ready, draining
//	  Served    number   connections this worker finished
//	  Started   number   start time, Unix microseconds
//	  RSS       number   resident memory, bytes (0: unknown)
//	  Held      number   connections it holds now (handoff, proxy)
//	  Busy      number   of those, connections in a request now, as the
//	                     worker reports it (PROTOCOL.md: ACTIVE), else Held
//	  Requests  number   requests it reported finished (0: it reports none)
//	Accepted    number   connections the broker accepted
//	Served      number   connections workers finished
//	Requests    number   requests workers reported finished (0: none report)
//	RequestsPerSec number  of those, a second over the last 10 s
//	Active      number   connections held by workers now
//	Queued      number   connections waiting for a worker
//	Shed        number   connections refused (queue full, no worker, breaker open)
//	Failed      number   connections lost with a worker that died
//	Restarts    number   workers that exited unexpectedly
//	Breaker     string   closed, open, half-open
//	LastError   string   the last error, in words; "" when none
//	LogDropped  number   broker events a log sink dropped rather than stall serving
//	Version     string   the zsm version of the site's broker (zsm --version)
//	Events      array    the site's last events, oldest first (null when none):
//	  Time      number   Unix microseconds
//	  Kind      string   the event's kind: worker-started, worker-crashed, ...
//	  Level     string   INFO, WARN or ERROR
//	  Message   string   what happened, with its fields
//	Listen      array    the socket unit's addresses, as systemd says them;
//	                     left out when not known (no systemd)
//	Listeners   array    the broker's listening sockets (left out without a broker):
//	  Addr      string   as the configuration writes it: "127.0.0.1:8080", "unix:blog.sock"
//	  Queue     number   connections waiting in the kernel's accept queue
//	  Backlog   number   the most that may wait; 0: not known (a unix socket on
//	                     a kernel without unix_diag)
//	QueueWait   object   how long connections waited in the broker, from accept
//	                     until it gave them to a worker (the first time);
//	                     left out in listen mode and without a broker:
//	  Bounds    array    upper bounds of the buckets, seconds, ascending
//	  Counts    array    per bucket, not cumulative; one more than Bounds: the
//	                     last counts what is above every bound
//	  Sum       number   of every duration counted, seconds
//	HandoffLatency object  from accept until the connection reached its worker:
//	                     its fd sent on the worker's channel (handoff), its
//	                     backend connection up (proxy); as QueueWait
//
// An empty host is []. `zsm status --serve` lists, beside the sites whose
// broker runs, every site whose socket unit systemd's user manager has
// started, failed or enabled: "idle" (systemd listens; the next connection
// starts the broker), "socket-failed" (nothing listens; LastError says
// why: systemd's Result, and the journal's line when readable),
// "socket-inactive" (enabled, not started). Such sites have no mode,
// workers or counters; the page shows their addresses and the reason.
//
// # Metrics
//
// /metrics is written in the Prometheus text exposition format, version
// 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format),
// Content-Type "text/plain; version=0.0.4; charset=utf-8". Every series
// carries a site label; label values are escaped as the format says
// (backslash, double quote, newline).
//
//	zsm_connections_accepted_total     counter  Accepted
//	zsm_connections_served_total       counter  Served
//	zsm_connections_shed_total         counter  Shed
//	zsm_connections_failed_total       counter  Failed
//	zsm_worker_restarts_total          counter  Restarts
//	zsm_log_dropped_total              counter  LogDropped
//	zsm_connections_active             gauge    Active
//	zsm_connections_queued             gauge    Queued
//	zsm_workers{state}                 gauge    workers by state: starting, ready and
//	                                            draining always (0 when none), then
//	                                            any other state seen
//	zsm_generation                     gauge    Generation
//	zsm_up{state}                      gauge    1 when the site is running, else 0;
//	                                            state is the site's State
//	zsm_worker_resident_memory_bytes{pid}  gauge  RSS per worker whose RSS is known
//	zsm_workers_busy                   gauge    workers with Busy > 0
//	zsm_worker_connections_held{pid}   gauge    Held per worker
//	zsm_worker_connections_busy{pid}   gauge    Busy per worker
//	zsm_listen_queue{listen}           gauge    Queue per listening socket whose queue is known
//	zsm_listen_backlog{listen}         gauge    Backlog, the same sockets
//	zsm_queue_wait_seconds             histogram  QueueWait: _bucket{le}, _sum, _count
//	zsm_handoff_latency_seconds        histogram  HandoffLatency, the same
//
// The histograms' buckets are fixed: 100 µs, 250 µs, 500 µs, 1, 2.5, 5, 10,
// 25, 50, 100, 250 and 500 ms, 1, 2.5, 5, 10 and 30 s. A site in listen
// mode, or without a broker, has no histogram series.
//
// A cold or idle site is healthy but not up: alert on
// zsm_up{state=~"failing|socket-failed"}, not on zsm_up == 0. The counters restart from zero when a site's broker
// restarts, which Prometheus' rate() handles.
package statuspage
