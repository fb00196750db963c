package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/event"
)

// spawn starts one worker; false when it could not be started.
func (p *pool) spawn(now time.Time) bool {
	p.seq++
	w := &worker{seq: p.seq, gen: p.gen, state: wStarting, started: now, slots: 1, maxAge: ageLimit(p.site.Pool.MaxAge)}
	spec, done, err := p.m.spec(p, w)
	if err == nil {
		spec.Stdout, spec.Stderr = p.b.cfg.Stdout, p.b.cfg.Stderr
		w.proc, err = p.b.cfg.Spawner.Spawn(spec)
	}
	if done != nil {
		done(err == nil)
	}
	if err != nil {
		p.emit(event.Event{Kind: event.StartFailed, Level: slog.LevelError, Message: "worker failed to start",
			Err: err.Error(), Attrs: attrs("command", strings.Join(p.site.Command, " "))})
		p.startFailed(w.gen, fmt.Sprintf("cannot start %s (in %s): %v", p.site.Command[0], p.site.Directory, rootCause(err)))
		p.failIfHopeless()
		return false
	}
	w.pid = w.proc.Pid()
	p.workers = append(p.workers, w)
	p.stats.Spawned++
	e := w.about(event.WorkerStarted, slog.LevelInfo, "worker started")
	e.Attrs = attrs("command", p.site.Command[0])
	p.emit(e)
	p.m.started(p, w)
	pr := w.proc
	p.wg.Go(func() {
		st := pr.Wait()
		p.post(func() { p.exited(w, st) })
	})
	return true
}

// rootCause is the innermost error: what the user can act on ("no such
// file or directory"), without the layers that only repeat the command.
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// workerEnv is the environment a worker of site starts from: base (the
// broker's), less what belongs to the broker's own activation, plus the
// site's variables and extra.
func workerEnv(base []string, site *config.Site, extra ...string) []string {
	env := make([]string, 0, len(base)+len(site.Environment)+len(extra))
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "LISTEN_PIDFDID", "NOTIFY_SOCKET",
			"WATCHDOG_USEC", "WATCHDOG_PID", "ZSM_CHANNEL_FD", "ZSM_PROTOCOL", "ZSM_CONFIG", activation.EnvStackSignal:
			continue
		}
		if _, ok := site.Environment[k]; ok {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range site.Environment {
		env = append(env, k+"="+v)
	}
	return append(env, extra...)
}

// env is workerEnv for this pool's site, with its watchdog interval under
// the name the mode uses (when the site watches its workers), and extra.
func (p *pool) env(watchdogVar string, extra ...string) []string {
	if d := p.site.Timeouts.Watchdog; d > 0 {
		extra = append(extra, fmt.Sprintf("%s=%d", watchdogVar, d.Microseconds()))
	}
	if sig := p.site.SlowLogSignal; sig != "" {
		// Workers on the activation package write their stacks on it.
		extra = append(extra, fmt.Sprintf("%s=%d", activation.EnvStackSignal, int(sig.Num())))
	}
	return workerEnv(p.b.cfg.Env, p.site, extra...)
}
