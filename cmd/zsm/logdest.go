package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/internal/bounded"
	"github.com/zsm-dev/zsm/internal/event"
	"github.com/zsm-dev/zsm/internal/journal"
	"github.com/zsm-dev/zsm/internal/lines"
	"github.com/zsm-dev/zsm/internal/logfile"
	"github.com/zsm-dev/zsm/internal/syslog"
)

// logDest is where the broker's log and its workers' output go: --log.
type logDest struct {
	kind string // "auto", "journal", "stderr", "syslog" or "file"
	path string // journal, syslog: the socket ("" for the usual one); file: the file
}

const logUsage = `where the log goes: auto (the journal under systemd, syslog with --daemon, else stderr), journal, stderr, syslog, syslog:SOCKET, or a file (a path with a "/"; reopened on SIGUSR1)`

func parseLogDest(v string) (logDest, error) {
	switch v {
	case "", "auto", "journal", "stderr", "syslog":
		if v == "" {
			v = "auto"
		}
		return logDest{kind: v}, nil
	}
	if p, ok := strings.CutPrefix(v, "syslog:"); ok && p != "" {
		return logDest{kind: "syslog", path: p}, nil
	}
	if strings.Contains(v, "/") {
		p, err := filepath.Abs(v)
		return logDest{kind: "file", path: p}, err
	}
	return logDest{}, fmt.Errorf("--log %q: not one of auto, journal, stderr, syslog, syslog:SOCKET or a file path", v)
}

// String is the --log value that selects d.
func (d logDest) String() string {
	switch {
	case d.kind == "file":
		return d.path
	case d.kind == "syslog" && d.path != "":
		return "syslog:" + d.path
	}
	return d.kind
}

// logger is where the broker's events go, and its workers' output.
type logger struct {
	// events is the broker's event sink: a bounded queue in front of the
	// destination, so that a stalled journal, syslog or disk costs events
	// (dropped counts them), never the broker's time.
	events  *event.Queue
	journal string                        // proc.Spawner.Journal: per-worker journal streams
	output  func() (io.Writer, io.Writer) // proc.Spawner.Output; nil means the broker's stdout and stderr
	// lines is the bounded queue in front of the destination of the
	// workers' output (syslog, a file), so that one that stalls costs
	// lines (counted), not the workers' writes; nil when workers write to
	// the journal or the broker's stderr themselves.
	lines  *bounded.Queue[[]byte]
	reopen func() error // on SIGUSR1; nil when there is nothing to reopen
	closer func()       // closes the destination
	note   string       // to say on stderr first: a fallback taken
}

// queueSize bounds the events waiting for a destination that is slow.
const queueSize = 1024

// flushTimeout bounds how long a stopping broker waits for its last events
// to reach a destination.
const flushTimeout = time.Second

// close delivers what is queued, within flushTimeout, and closes the
// destination.
func (l *logger) close() {
	l.events.Close(flushTimeout)
	if l.lines != nil {
		l.lines.Close(flushTimeout)
	}
	l.closer()
}

// dropped counts the events and output lines dropped so far.
func (l *logger) dropped() uint64 {
	n := l.events.Dropped()
	if l.lines != nil {
		n += l.lines.Dropped()
	}
	return n
}

// queueLines sends the workers' output to emit through a bounded queue:
// each call gives a worker a stdout and a stderr of its own, whose lines
// do not mix.
func (l *logger) queueLines(emit func(line []byte)) {
	l.lines = bounded.NewQueue(queueSize, emit)
	l.output = func() (io.Writer, io.Writer) {
		put := func(line []byte) { l.lines.Put(append([]byte(nil), line...)) }
		return lines.NewWriter(put), lines.NewWriter(put)
	}
}

// openLog opens d for site. daemon says that stderr goes nowhere once
// the broker has started.
func openLog(d logDest, site string, daemon bool) (*logger, error) {
	if d.kind == "auto" {
		switch {
		case journal.StderrIsJournal():
			d.kind = "journal"
		case daemon:
			d.kind = "syslog"
		default:
			d.kind = "stderr"
		}
	}
	l := &logger{closer: func() {}}
	var sink event.Sink
	switch d.kind {
	case "journal":
		w, err := journal.Dial(d.path)
		if err != nil {
			l.note = fmt.Sprintf("%v: logging to stderr", err)
			sink = event.Slog(slog.NewTextHandler(os.Stderr, nil))
			break
		}
		sink, l.journal, l.closer = journal.Sink(w.Send), site, func() { w.Close() }
	case "syslog":
		c, err := syslog.Dial(d.path)
		if err != nil {
			if daemon {
				l.note = fmt.Sprintf("%v: the broker's log is lost; give --log FILE", err)
			} else {
				l.note = fmt.Sprintf("%v: logging to stderr", err)
			}
			sink = event.Slog(slog.NewTextHandler(os.Stderr, nil))
			break
		}
		// Broker events as "zsm", the app's lines under the site's name,
		// as in the journal.
		sink = event.Slog(syslog.NewHandler(c, journal.Identifier))
		l.queueLines(func(line []byte) { c.Line(site, line) })
		l.closer = func() { c.Close() }
	case "file":
		f, err := logfile.Open(d.path)
		if err != nil {
			return nil, err
		}
		sink = event.Slog(slog.NewTextHandler(f, nil))
		// Whole lines only, so that two workers' output does not mix.
		l.queueLines(func(line []byte) { f.Write(append(line, '\n')) })
		l.reopen = f.Reopen
		l.closer = func() { f.Close() }
	default:
		sink = event.Slog(slog.NewTextHandler(os.Stderr, nil))
	}
	l.events = event.NewQueue(sink, queueSize)
	return l, nil
}
