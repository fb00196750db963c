package units

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// File is one generated unit file.
type File struct {
	// Path is relative to the unit directory and uses "/": "zsm@.service",
	// "zsm@blog.socket.d/zsmgen.conf".
	Path    string
	Content []byte
}

// Options are what Generate needs beyond the configuration.
type Options struct {
	// ZSM is the absolute path of the zsm binary the units run.
	ZSM string
}

// Unit file names. The templates are shared by every site of every config
// file; each site gets one drop-in per template, named DropIn.
const (
	SocketTemplate  = "zsm@.socket"
	ServiceTemplate = "zsm@.service"
	DropIn          = "zsmgen.conf"
)

// Settings of the generated units that are not taken from the configuration.
const (
	// backlog is the listen(2) backlog of every socket. Connections wait in
	// this queue while the broker and the app start lazily; the kernel caps
	// it at net.core.somaxconn (4096 by default since Linux 5.4).
	backlog = 4096
	// restartDelay is the pause before systemd restarts a failed broker,
	// and the brake on a crash loop: the units set no start limit (see
	// serviceTemplate), so a broker that keeps crashing is restarted once
	// a second, forever, at the cost of a few milliseconds of CPU and a few
	// journal lines each time, and serves again by itself once the cause
	// is gone. Connections that arrive meanwhile wait in the socket's
	// queue: a single crash delays them by this much. systemd 252 has no
	// growing delay (RestartSteps= and RestartMaxDelaySec= are 254+).
	restartDelay = time.Second
	// triggerLimitInterval and triggerLimitBurst bound how often a
	// connection may wake the socket while no broker runs: 500 times a
	// second. A socket with Accept=no is woken at most once per broker
	// that started and went away, and each of those is a process started,
	// made ready (READY=1) and stopped: a cold start with exit_when_idle
	// takes about 200 ms here, a restart after a crash RestartSec=, so no
	// rate of activations comes near the limit (systemd's default, 20 in
	// 2 s, is within reach of a site scaling to zero). The limit remains
	// for the one loop that starts no process: a start job that ends at
	// once without the service changing state (a failing Condition= in a
	// drop-in of the user's) makes systemd 252 re-trigger the socket about
	// 4,000 times a second, busying the manager; the limit fails the socket
	// after an eighth of a second of that.
	triggerLimitInterval = time.Second
	triggerLimitBurst    = 500
	// fdStoreMax is how many fds the broker may keep in systemd's fd store
	// across its own restarts (FDSTORE=1).
	fdStoreMax = 16
	// stopMargin is how much longer than a site's worker stop timeout
	// systemd gives the broker to drain its workers and exit, before it
	// sends SIGKILL to everything left.
	stopMargin = 15 * time.Second
)

// Generate renders the units for every site of f: the template pair
// zsm@.socket and zsm@.service, and per site zsm@NAME.socket.d/zsmgen.conf
// and zsm@NAME.service.d/zsmgen.conf. The result is sorted by path and
// depends only on its arguments.
//
// f is expected to be validated by the config parser; Generate still
// refuses what would give broken units (a site name config.CheckName
// refuses, a duplicate one, a site without listen addresses, a value no
// escaping can carry) with an error naming the site and the value.
func Generate(f *config.File, opt Options) ([]File, error) {
	if f == nil {
		return nil, errors.New("units: generate: no config")
	}
	if !filepath.IsAbs(f.Path) {
		return nil, fmt.Errorf("units: generate: config path %q is not absolute", f.Path)
	}
	header := sourceHeader(f.Path)
	exec, err := execCommand(opt.ZSM)
	if err != nil {
		return nil, fmt.Errorf("units: generate: zsm binary %q: %w", opt.ZSM, err)
	}

	files := []File{
		{Path: SocketTemplate, Content: socketTemplate()},
		{Path: ServiceTemplate, Content: serviceTemplate(exec)},
	}
	seen := siteNames{}
	for _, s := range f.Sites {
		if err := seen.add(s); err != nil {
			return nil, fmt.Errorf("units: generate: %w", err)
		}
		sock, err := socketDropIn(header, s)
		if err != nil {
			return nil, fmt.Errorf("units: generate: site %q: %w", s.Name, err)
		}
		svc, err := serviceDropIn(header, f.Path, s)
		if err != nil {
			return nil, fmt.Errorf("units: generate: site %q: %w", s.Name, err)
		}
		files = append(files,
			File{Path: "zsm@" + s.Name + ".socket.d/" + DropIn, Content: sock},
			File{Path: "zsm@" + s.Name + ".service.d/" + DropIn, Content: svc},
		)
	}
	slices.SortFunc(files, func(a, b File) int { return strings.Compare(a.Path, b.Path) })
	return files, nil
}

// unitWriter builds one unit file.
type unitWriter struct {
	b bytes.Buffer
}

func (w *unitWriter) comment(line string) {
	w.b.WriteString("# " + line + "\n")
}

func (w *unitWriter) section(name string) {
	if w.b.Len() > 0 {
		w.b.WriteByte('\n')
	}
	w.b.WriteString("[" + name + "]\n")
}

// set writes key=value; value must be escaped for the setting already.
func (w *unitWriter) set(key, value string) {
	w.b.WriteString(key + "=" + value + "\n")
}

func socketTemplate() []byte {
	var w unitWriter
	w.comment(templateHeader)
	w.comment("The listen addresses of site NAME are in zsm@NAME.socket.d/" + DropIn + ".")
	w.comment("Enable a site with: systemctl --user enable --now zsm@NAME.socket")
	w.section("Unit")
	w.set("Description", "zsm sockets of site %i")
	w.set("Documentation", docURL)
	// Nothing starts a socket in a loop (sockets have no Restart=), so
	// the default start limit (5 in 10 s) could only turn a quick run of
	// restarts by a person or a script, or by the service's Requires= as
	// it restarts, into a socket left failed.
	w.comment("No start limit: nothing restarts a socket in a loop, and one that hit a limit would stay failed.")
	w.set("StartLimitIntervalSec", "0")
	w.section("Socket")
	// Every fd of the site gets the site's name; the broker matches fds to
	// listen addresses by their bound address (getsockname).
	w.set("FileDescriptorName", "%i")
	w.set("Backlog", strconv.Itoa(backlog))
	// A port alone listens on every interface, IPv4 and IPv6 alike,
	// whatever net.ipv6.bindv6only says.
	w.set("BindIPv6Only", "both")
	w.set("SocketMode", "0600")
	w.set("DirectoryMode", "0700")
	// A socket that hits its trigger limit is failed until someone
	// restarts it: the limit is set far above any rate of broker starts
	// (see triggerLimitBurst).
	w.comment(fmt.Sprintf("At most %d activations in %s, far above any rate of broker starts: only a service that", triggerLimitBurst, seconds(triggerLimitInterval)))
	w.comment("cannot start at all (a failing Condition=, say) could reach it, spinning the manager.")
	w.set("TriggerLimitIntervalSec", seconds(triggerLimitInterval))
	w.set("TriggerLimitBurst", strconv.Itoa(triggerLimitBurst))
	w.section("Install")
	w.set("WantedBy", "sockets.target")
	return w.b.Bytes()
}

func serviceTemplate(exec string) []byte {
	var w unitWriter
	w.comment(templateHeader)
	w.comment("The config path, stop timeout and limits of site NAME are in zsm@NAME.service.d/" + DropIn + ".")
	w.comment("This unit is started by zsm@NAME.socket; it has no [Install] section.")
	w.section("Unit")
	w.set("Description", "zsm broker of site %i")
	w.set("Documentation", docURL)
	w.set("Requires", "zsm@%i.socket")
	w.set("After", "zsm@%i.socket")
	// Every start counts against the start limit, socket activations
	// included, and a service that hits it takes its socket down with it
	// (service-start-limit-hit) until someone runs reset-failed: with the
	// default (5 in 10 s), scale to zero died at the sixth cold start in
	// a row. Without one, what paces starts is the reason for each: a
	// waiting connection (bounded by the socket's trigger limit) or a
	// failure (one restart per RestartSec=).
	w.comment("No start limit: a crash loop is paced by RestartSec=, cold starts by connections;")
	w.comment("hitting a limit would take the socket down with the service (service-start-limit-hit).")
	w.set("StartLimitIntervalSec", "0")
	w.section("Service")
	w.set("Type", "notify")
	// Workers get NOTIFY_SOCKET pointing at the broker: only the broker
	// talks to systemd.
	w.set("NotifyAccess", "main")
	w.set("ExecStart", exec+" serve --site %i")
	w.set("ExecReload", exec+" reload --wait --site %i")
	// SIGTERM to the broker alone, which drains its workers; SIGKILL to
	// everything left when TimeoutStopSec= runs out.
	w.set("KillMode", "mixed")
	// The broker's own loop pings at half of this (sd_watchdog_enabled(3));
	// a wedged broker is restarted, the socket unit keeping the sockets.
	w.set("WatchdogSec", "30s")
	// A broker that crashed, was killed, missed its watchdog or exited
	// non-zero is started again RestartSec= later, whether or not a
	// connection waits: while the restart is pending, the socket counts
	// the service as starting and queues connections for it rather than
	// start it sooner. A clean exit (idle under exit_when_idle, or after
	// SIGTERM) is not restarted: the next connection starts the broker.
	// No exit status is exempt (there was RestartPreventExitStatus=78,
	// EX_CONFIG): a broker that exits at once with an exempt status is
	// started again by the very next connection, unpaced, and without a
	// start limit nothing would slow that loop; restarted, it is paced
	// and serves again by itself once the cause is fixed.
	w.comment("Every failure is restarted " + seconds(restartDelay) + " later, never sooner, with no limit on how often;")
	w.comment("a clean exit (idle, SIGTERM) is not: the next connection starts the broker.")
	w.set("Restart", "on-failure")
	w.set("RestartSec", seconds(restartDelay))
	w.set("FileDescriptorStoreMax", strconv.Itoa(fdStoreMax))
	// The kernel OOM killer taking a worker is the broker's to handle; the
	// default (stop) would stop the broker and every other worker with it.
	w.set("OOMPolicy", "continue")
	// Hardening that a user manager can apply without PrivateUsers= (no
	// mount namespaces, no capabilities); see systemd.exec(5).
	w.set("NoNewPrivileges", "yes")
	w.set("LockPersonality", "yes")
	w.set("RestrictRealtime", "yes")
	w.set("RestrictSUIDSGID", "yes")
	w.set("SystemCallArchitectures", "native")
	w.set("UMask", "0077")
	return w.b.Bytes()
}

const docURL = "https://github.com/zsm-dev/zsm"

// seconds formats d, a whole number of seconds, as a systemd time span.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10) + "s"
}

func socketDropIn(header string, s *config.Site) ([]byte, error) {
	if len(s.Listen) == 0 {
		return nil, errors.New("no listen address")
	}
	var w unitWriter
	w.comment(header)
	w.section("Socket")
	for _, a := range s.Listen {
		v, err := listenStream(a)
		if err != nil {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		w.set("ListenStream", v)
	}
	return w.b.Bytes(), nil
}

// listenStream returns a's ListenStream= value: "127.0.0.1:8080",
// "[::1]:8080", "[fe80::1]:8080%%eth0" (systemd wants the zone after the
// port), "8080" for every interface, "%t/PATH" for a unix path relative to
// $XDG_RUNTIME_DIR, an absolute unix path as is.
func listenStream(a config.Address) (string, error) {
	switch a.Net {
	case config.NetTCP:
		if a.Port < 1 || a.Port > 65535 {
			return "", fmt.Errorf("port %d out of range", a.Port)
		}
		port := strconv.Itoa(a.Port)
		host, zone, _ := strings.Cut(a.Host, "%")
		switch {
		case host == "" && zone == "":
			return port, nil
		case strings.Contains(host, ":"):
			v := "[" + host + "]:" + port
			if zone != "" {
				v += "%" + zone
			}
			return rawValue(v)
		case zone != "":
			return "", errors.New("an interface zone needs an IPv6 address")
		default:
			return rawValue(host + ":" + port)
		}
	case config.NetUnix:
		p := a.Path
		switch {
		case p == "":
			return "", errors.New("empty socket path")
		case strings.HasPrefix(p, "/"):
			if len(p) > config.MaxSocketPath {
				return "", fmt.Errorf("socket path longer than %d bytes", config.MaxSocketPath)
			}
			return rawValue(p)
		default:
			v, err := rawValue(p)
			if err != nil {
				return "", err
			}
			return "%t/" + v, nil
		}
	default:
		return "", fmt.Errorf("unknown network %q", a.Net)
	}
}

func serviceDropIn(header, configPath string, s *config.Site) ([]byte, error) {
	env, err := envAssignment("ZSM_CONFIG", configPath)
	if err != nil {
		return nil, fmt.Errorf("config path %q: %w", configPath, err)
	}
	if s.Timeouts.Stop < 0 {
		return nil, fmt.Errorf("negative stop timeout %v", s.Timeouts.Stop)
	}
	var w unitWriter
	w.comment(header)
	w.section("Service")
	w.set("Environment", env)
	stop := s.Timeouts.Stop
	if s.Mode == config.Proxy {
		stop += s.Timeouts.Drain // instances drain before their stop signal
	}
	w.set("TimeoutStopSec", strconv.FormatInt(stopTimeout(stop, stopMargin), 10)+"s")
	switch l := s.Limits; {
	case l.Memory < 0:
		return nil, fmt.Errorf("negative memory limit %d", l.Memory)
	case l.CPUPercent < 0:
		return nil, fmt.Errorf("negative CPU limit %d%%", l.CPUPercent)
	}
	if s.Limits.Memory > 0 {
		w.set("MemoryMax", s.Limits.Memory.String())
	}
	if s.Limits.CPUPercent > 0 {
		// CPUQuota= expands no specifiers: "%" is written once.
		w.set("CPUQuota", strconv.Itoa(s.Limits.CPUPercent)+"%")
	}
	return w.b.Bytes(), nil
}

// stopTimeout returns how long the broker's stop may take, in whole
// seconds: the worker stop timeout rounded up, plus margin (whole seconds)
// for the broker to drain and exit.
func stopTimeout(stop, margin time.Duration) int64 {
	return int64((stop+time.Second-1)/time.Second) + int64(margin/time.Second)
}

// siteNames checks sites one by one: each must be there, with a valid name
// not seen before.
type siteNames map[string]bool

func (seen siteNames) add(s *config.Site) error {
	if s == nil {
		return errors.New("nil site")
	}
	// A valid name is a unit instance as written (config.CheckName): %i
	// in the templates is the name, and no escaping is needed.
	if err := config.CheckName(s.Name); err != nil {
		return err // names the site
	}
	if seen[s.Name] {
		return fmt.Errorf("site %q: defined twice", s.Name)
	}
	seen[s.Name] = true
	return nil
}
