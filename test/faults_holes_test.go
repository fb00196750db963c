package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/test/systemdtest"
)

// Smaller holes: a channel closed before READY=1, a pid file that is a
// symbolic link, a status page on every interface without public = true,
// and a handoff worker that ignores the end of its channel.
func faultHoles(t *testing.T, rep *reliability) {
	t.Run("channel-closed-before-ready", func(t *testing.T) {
		r := rep.row(t, "a handoff worker closes its channel before READY=1 and lives on; `timeouts.start = 20s`",
			"1 request on a cold site",
			"A 503 at once, saying the app closed its channel before it was ready, instead of a wait of timeouts.start.")
		channelClosed(t, r)
	})
	t.Run("pidfile-symlink", func(t *testing.T) {
		r := rep.row(t, "`zsm serve --pidfile P` (no systemd) where P is a symbolic link to another file",
			"none: the broker must not start",
			"Nothing listens: the broker refuses to start, saying the pid file is a symbolic link; the link's target is left as it was.")
		pidfileSymlink(t, r)
	})
	t.Run("status-not-public", func(t *testing.T) {
		r := rep.row(t, "a status page on `\":PORT\"` (every interface) without `public = true`",
			"1 request to the site, 1 to the status page",
			"The site serves (200); the status page is not served at all (connection refused), and the journal says why.")
		statusNotPublic(t, r)
	})
	t.Run("ignores-end-of-channel", func(t *testing.T) {
		r := rep.row(t, "a handoff worker ignores the end of its channel and SIGTERM; `timeouts.stop = 1s`",
			"`systemctl --user stop`",
			"Nothing reaches a client: the worker gets SIGTERM after timeouts.stop and SIGKILL 5 s later, and the stop ends.")
		ignoresEOF(t, r)
	})
}

// channelClosed: the site's worker closes the channel and sleeps on.
func channelClosed(t *testing.T, r *row) {
	dir := t.TempDir()
	mark := uniqueName(t, "closer")
	script := filepath.Join(dir, "worker.sh")
	writeScript(t, script, "#!/bin/sh\neval \"exec $ZSM_CHANNEL_FD>&-\"\nsleep 60\n")
	addr := loopback(t)
	faultSite(t, "closer", commandSite(addr, strconv.Quote(script)+", "+strconv.Quote(mark), "  timeouts {\n    start = \"20s\"\n    stop  = \"2s\"\n  }\n"))
	endMarked(t, mark)
	tl := newTally()
	o := askNew(addr, 30*time.Second)
	tl.add(o)
	r.fill(tl)
	r.recovery = fmt.Sprintf("answered after %s", o.took.Round(time.Millisecond))
	t.Logf("%s: %s %q after %s", r.name, o.kind, o.reason, o.took)
	switch {
	case o.kind != saw503:
		r.errorf(t, "the client got %s %q; want a 503", o.kind, o.reason)
	case !strings.Contains(o.reason, "closed its channel"):
		r.errorf(t, "the 503 says %q; want it to say the worker closed its channel", o.reason)
	}
	if o.took > 5*time.Second {
		r.errorf(t, "the client waited %s; want the 503 at once, not after timeouts.start", o.took)
	}
}

// pidfileSymlink: a self-bound broker given a pid file that is a symbolic
// link refuses to start and leaves the link's target alone.
func pidfileSymlink(t *testing.T, r *row) {
	s := newSelfBoundSite(t, "handoff")
	dir := t.TempDir()
	target, link := filepath.Join(dir, "precious"), filepath.Join(dir, "zsm.pid")
	writeFile(t, target, "precious\n")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	run := s.serve(t, "--pidfile", link)
	code := run.wait(t, 30*time.Second)
	out := strings.TrimSpace(run.output.String())
	last := out[strings.LastIndex(out, "\n")+1:]
	r.recovery = fmt.Sprintf("exit status %d: %s", code, shortReason(last))
	t.Logf("zsm serve --pidfile LINK: exit status %d:\n%s", code, out)
	if code == 0 || !strings.Contains(out, "symbolic link") {
		r.errorf(t, "zsm serve with a symlinked pid file: exit status %d, %q; want a failure naming the symbolic link", code, last)
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "precious\n" {
		r.errorf(t, "the link's target now holds %q (%v)", b, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		r.errorf(t, "the pid file's link is gone or replaced: %v %v", fi, err)
	}
	if o := askNew(s.tcp, 5*time.Second); o.kind != sawRefused {
		r.errorf(t, "the site's address answered (%s) though the broker refused to start", o.kind)
	}
}

// statusNotPublic: a site whose status page is on every interface
// without public = true runs without it.
func statusNotPublic(t *testing.T, r *row) {
	addr, port := loopback(t), freePort(t)
	name, _ := faultSite(t, "page", helloSite(t, addr, fmt.Sprintf("  status {\n    listen = \":%d\"\n  }\n", port)))
	svc := "zsm@" + name + ".service"
	tl := newTally()
	tl.add(askNew(addr, clientLimit))
	r.fill(tl)
	r.expectAnswered(t, tl)
	page := askNew(fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	r.recovery = "status page: " + page.kind
	if page.kind != sawRefused {
		r.errorf(t, "the status page on :%d answered (%s); without public = true it must not be served", port, page.kind)
	}
	var said string
	systemdtest.Eventually(t, 10*time.Second, "the journal to say why the page is not served", func() bool {
		for _, m := range journalMessages(t, "--user-unit="+svc) {
			if strings.Contains(m, "status page not served") && strings.Contains(m, "public = true") {
				said = m
				return true
			}
		}
		return false
	})
	t.Logf("journal: %s", said)
	r.recovery += "; journal: " + shortReason(said)
}

// ignoresPy is a handoff worker that says READY=1, never reads its
// channel again, and notes each SIGTERM (with the time) in a file
// instead of dying of it.
const ignoresPy = `import os, signal, socket, sys, time
def term(signum, frame):
    with open(sys.argv[1], "a") as f:
        f.write("%.6f\n" % time.time())
signal.signal(signal.SIGTERM, term)
ch = socket.socket(fileno=int(os.environ["ZSM_CHANNEL_FD"]))
ch.send(b"READY=1\n")
while True:
    signal.pause()
`

// ignoresEOF: the stop of a site whose worker ignores the end of its
// channel: SIGTERM after timeouts.stop, SIGKILL 5 seconds later.
func ignoresEOF(t *testing.T, r *row) {
	dir := t.TempDir()
	mark := uniqueName(t, "deaf")
	py, log := filepath.Join(dir, "deaf.py"), filepath.Join(dir, "term.log")
	writeFile(t, py, ignoresPy)
	addr := loopback(t)
	name, _ := faultSite(t, "deaf", commandSite(addr, `"python3", `+strconv.Quote(py)+", "+strconv.Quote(log)+", "+strconv.Quote(mark),
		"  eager    = true\n  pool {\n    min_idle = 1\n    max      = 1\n  }\n  timeouts {\n    stop = \"1s\"\n  }\n"))
	endMarked(t, mark)
	svc := "zsm@" + name + ".service"
	systemdtest.Systemctl(t, "start", svc)
	worker := lookupProcess(t, settled(t, name, 1)[0])
	at := time.Now()
	systemdtest.Systemctl(t, "stop", "--no-block", svc)
	var term time.Duration
	systemdtest.Eventually(t, 15*time.Second, "the worker's SIGTERM", func() bool {
		b, err := os.ReadFile(log)
		line, _, _ := strings.Cut(string(b), "\n")
		sec, perr := strconv.ParseFloat(line, 64)
		if err != nil || perr != nil {
			return false
		}
		term = time.Unix(0, int64(sec*1e9)).Sub(at)
		return true
	})
	systemdtest.Eventually(t, 20*time.Second, "the worker to be killed", func() bool { return !worker.alive() })
	killed := time.Since(at)
	r.recovery = fmt.Sprintf("SIGTERM %s after the end of its channel, SIGKILL %s after that",
		term.Round(10*time.Millisecond), (killed - term).Round(10*time.Millisecond))
	t.Logf("%s: %s", r.name, r.recovery)
	if term < 900*time.Millisecond || term > 3*time.Second {
		r.errorf(t, "SIGTERM came %s after the stop; want it after timeouts.stop (1s)", term)
	}
	if d := killed - term; d < 4500*time.Millisecond || d > 8*time.Second {
		r.errorf(t, "SIGKILL came %s after SIGTERM; want 5s", d)
	}
	systemdtest.Eventually(t, 15*time.Second, svc+" to stop", func() bool { return unitState(t, svc) != "deactivating" })
}
