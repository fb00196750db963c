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
	// restartDelay is the pause before systemd restarts a failed broker.
	restartDelay = 2 * time.Second
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
	w.set("Restart", "on-failure")
	// 78 (EX_CONFIG): the sockets do not match the configuration. The
	// broker answered the waiting connections; restarting cannot help.
	w.set("RestartPreventExitStatus", "78")
	w.set("RestartSec", strconv.Itoa(int(restartDelay/time.Second))+"s")
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
	w.set("TimeoutStopSec", strconv.FormatInt(stopTimeout(s.Timeouts.Stop, stopMargin), 10)+"s")
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
