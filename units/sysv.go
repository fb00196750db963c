package units

// Generators for hosts without systemd: inittab lines (sysvinit's inittab(5)),
// rc scripts (LSB init scripts, "Init Script Actions" and "Comment
// Conventions for Init Scripts" in the LSB Core specification,
// https://refspecs.linuxfoundation.org/LSB_5.0.0/LSB-Core-generic/LSB-Core-generic/iniscrptact.html)
// and crontab lines (crontab(5)). On such a host the broker binds its own
// sockets ("zsm serve" without LISTEN_FDS), writes a pid file, logs to syslog,
// and keeps its runtime files in /tmp/zsm-UID, since every command these
// generate runs it with XDG_RUNTIME_DIR unset.

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/zsm-dev/zsm/internal/config"
)

// SysvOptions are what Inittab, RC and Crontab need beyond the configuration.
type SysvOptions struct {
	// ZSM is the absolute path of the zsm binary.
	ZSM string
	// Config is the absolute path of the configuration file the broker
	// reads. RC needs it; Inittab and Crontab use f.Path when it is empty.
	Config string
	// User is the account the broker runs as (Inittab, RC) and UID its
	// uid: uid 0 runs the broker directly, any other through runuser
	// (inittab) or su (rc). A crontab runs the broker as the crontab's
	// owner, whose uid UID must be; Crontab does not use User.
	User string
	UID  int
	// Runlevels are the sysvinit runlevels of the inittab lines: digits
	// and S, DefaultRunlevels when empty.
	Runlevels string
	// PidfileDir is the absolute directory of the pid files;
	// DefaultPidfileDir(UID) when empty.
	PidfileDir string
	// Log is where the brokers log (zsm serve --log): "syslog" when empty,
	// "syslog:SOCKET", or an absolute file path.
	Log string
	// Site, when set, limits Inittab and Crontab to that one site. Inittab
	// derives the ids from every site of the file all the same, so a
	// site's id does not depend on Site.
	Site string
}

// DefaultRunlevels are the runlevels of a generated inittab line: the
// multi-user ones, as in the LSB header's Default-Start.
const DefaultRunlevels = "2345"

// DefaultPidfileDir is where pid files go unless SysvOptions.PidfileDir
// says otherwise: /tmp/zsm-UID, the broker's runtime directory when
// XDG_RUNTIME_DIR is unset. The broker creates it, mode 0700.
func DefaultPidfileDir(uid int) string { return "/tmp/zsm-" + strconv.Itoa(uid) }

// PidFile returns the pid file of site's broker, DIR/SITE.pid, that every
// generated inittab line, rc script and crontab passes to
// "zsm serve --pidfile".
func (o SysvOptions) PidFile(site string) string {
	dir := o.PidfileDir
	if dir == "" {
		dir = DefaultPidfileDir(o.UID)
	}
	return path.Join(dir, site+".pid")
}

// RCName is the file name of site's rc script, and the name it Provides in
// its LSB header: zsm-SITE.
func RCName(site string) string { return "zsm-" + site }

// Limits of the files generated here.
const (
	// maxInittabProcess is the longest process field sysvinit takes:
	// "process field too long" beyond 127 characters (read_inittab in
	// init.c, CHILD.process[128] in init.h, documented in inittab(5);
	// sysvinit 3.14 raised it, https://github.com/slicer69/sysvinit/issues/32,
	// but Debian 12 and Devuan 5 ship 3.06). init skips a longer line,
	// with a message on the console only.
	maxInittabProcess = 127
	// maxInittabLine: init reads inittab with fgets into 256 bytes, so a
	// longer line, comment or not, is read as two.
	maxInittabLine = 254
	// maxInittabRunlevels is the longest runlevels field init takes.
	maxInittabRunlevels = 11
	// maxCronCommand: Vixie cron, Debian's, reads a command into
	// MAX_COMMAND (1000) bytes with its NUL.
	maxCronCommand = 999
	// rcStopMargin is how much longer than the site's worker stop timeout
	// an rc script waits for the broker to drain and exit before it sends
	// SIGKILL.
	rcStopMargin = 5 * time.Second
	// idSpace is how many inittab ids there are: "z" and three base-36
	// digits.
	idSpace = 36 * 36 * 36
)

// unsetRuntimeDir starts every shell command line generated here that may
// inherit an XDG_RUNTIME_DIR: an admin's root shell carries /run/user/0
// through su, and a PAM session (pam_systemd, pam_elogind) opened by su or
// cron may set one. Unset, the broker keeps its runtime files (relative
// unix sockets, control socket) in /tmp/zsm-UID, where every way of
// starting it agrees.
const unsetRuntimeDir = "unset XDG_RUNTIME_DIR; exec "

// brokerArgv is the broker's command line for site: foreground (inittab),
// or with flags such as --daemon.
func brokerArgv(o SysvOptions, cfg, site, pidfile string, flags ...string) []string {
	argv := []string{o.ZSM, "serve", "--site", site, "--config", cfg, "--pidfile", pidfile}
	argv = append(argv, flags...)
	return append(argv, "--log", o.logDest())
}

// logDest is the broker's --log.
func (o SysvOptions) logDest() string {
	if o.Log == "" {
		return "syslog"
	}
	return o.Log
}

// logSays says where the brokers log, for comments.
func (o SysvOptions) logSays() string {
	switch d := o.logDest(); {
	case d == "syslog":
		return "syslog"
	case strings.HasPrefix(d, "syslog:"):
		return "syslog at " + strings.TrimPrefix(d, "syslog:")
	default:
		return d + " (reopened on SIGUSR1)"
	}
}

// checkLog validates Log.
func (o SysvOptions) checkLog() error {
	d := o.logDest()
	if d == "syslog" {
		return nil
	}
	p, isSyslog := strings.CutPrefix(d, "syslog:")
	if err := checkAbsPath(p); err != nil {
		if isSyslog {
			return fmt.Errorf("log: syslog socket %q: %w", p, err)
		}
		return fmt.Errorf("log %q: not syslog, syslog:SOCKET or an absolute file path: %w", d, err)
	}
	return nil
}

// configPath returns the config path the generator what writes for f,
// after checking the options.
func (o SysvOptions) configPath(what string, f *config.File, user bool) (string, error) {
	if f == nil {
		return "", fmt.Errorf("units: %s: no config", what)
	}
	cfg := o.Config
	if cfg == "" {
		cfg = f.Path
	}
	if err := o.check(cfg, user); err != nil {
		return "", fmt.Errorf("units: %s: %w", what, err)
	}
	return cfg, nil
}

// check validates the options every generator uses, with cfg the config
// path in effect; user says whether User must be set.
func (o SysvOptions) check(cfg string, user bool) error {
	if err := checkAbsPath(o.ZSM); err != nil {
		return fmt.Errorf("zsm binary %q: %w", o.ZSM, err)
	}
	if strings.HasSuffix(o.ZSM, "/") {
		return fmt.Errorf("zsm binary %q: names a directory", o.ZSM)
	}
	if err := checkAbsPath(cfg); err != nil {
		return fmt.Errorf("config path %q: %w", cfg, err)
	}
	if o.PidfileDir != "" {
		if err := checkAbsPath(o.PidfileDir); err != nil {
			return fmt.Errorf("pid file directory %q: %w", o.PidfileDir, err)
		}
	}
	if o.UID < 0 {
		return fmt.Errorf("negative uid %d", o.UID)
	}
	if err := o.checkLog(); err != nil {
		return err
	}
	if !user {
		return nil
	}
	if o.User == "" {
		return errors.New("no user to run the broker as")
	}
	if err := checkLine(o.User); err != nil {
		return fmt.Errorf("user %q: %w", o.User, err)
	}
	if strings.HasPrefix(o.User, "-") {
		// su and runuser would read it as an option.
		return fmt.Errorf("user %q: starts with '-'", o.User)
	}
	return nil
}

// selectSites checks f's sites and returns them sorted by name, only
// o.Site's when that is set.
func selectSites(f *config.File, only string) ([]*config.Site, error) {
	sites := slices.Clone(f.Sites)
	seen := siteNames{}
	for _, s := range sites {
		if err := seen.add(s); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(sites, func(a, b *config.Site) int { return strings.Compare(a.Name, b.Name) })
	if only == "" {
		return sites, nil
	}
	if !seen[only] {
		return nil, fmt.Errorf("%s has no site %q", f.Path, only)
	}
	return []*config.Site{f.Site(only)}, nil
}

// Inittab renders one /etc/inittab line per site of f (only opt.Site's when
// set), sorted by site name, behind comment lines naming f:
//
//	zk3q:2345:respawn:runuser -u ann -- /usr/bin/zsm serve --site blog --config /home/ann/sites.hcl --pidfile /tmp/zsm-1000/blog.pid --log syslog
//
// init runs the broker in the foreground and respawns it when it exits. A
// broker of uid 0 runs directly; any other goes through runuser(1), which
// unlike su needs no shell (service accounts have none) and fits the
// process field, limited to 127 characters: a longer one is an error.
// runuser opens a PAM session that sets no XDG_RUNTIME_DIR (its PAM stack
// is pam_rootok, pam_keyinit, pam_limits and pam_unix), and init gives its
// children a fixed environment without one.
//
// Each line's id, four characters unique in the file, comes from the site
// name (see inittabIDs), so regenerating gives the same ids.
func Inittab(f *config.File, opt SysvOptions) ([]byte, error) {
	cfg, err := opt.configPath("inittab", f, true)
	if err != nil {
		return nil, err
	}
	levels, err := runlevels(opt.Runlevels)
	if err != nil {
		return nil, fmt.Errorf("units: inittab: %w", err)
	}
	all, err := selectSites(f, "")
	if err != nil {
		return nil, fmt.Errorf("units: inittab: %w", err)
	}
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.Name
	}
	ids := inittabIDs(names)
	sites := all
	if opt.Site != "" {
		i := slices.IndexFunc(all, func(s *config.Site) bool { return s.Name == opt.Site })
		if i < 0 {
			return nil, fmt.Errorf("units: inittab: %s has no site %q", f.Path, opt.Site)
		}
		sites = all[i : i+1]
	}

	var b bytes.Buffer
	fmt.Fprintf(&b, "# Generated by zsmgen inittab from %s. Do not edit: run zsmgen inittab again.\n", strconv.Quote(cfg))
	b.WriteString("# Add to /etc/inittab, then run: telinit q\n")
	fmt.Fprintf(&b, "# init starts each broker in runlevels %s as user %s and respawns it; it logs to %s.\n", levels, opt.User, opt.logSays())
	for _, s := range sites {
		pidfile := opt.PidFile(s.Name)
		if opt.PidfileDir == "" {
			// inittab's process field is short: a relative pid file is
			// in the broker's runtime directory, /tmp/zsm-UID under init.
			pidfile = s.Name + ".pid"
		}
		argv := brokerArgv(opt, cfg, s.Name, pidfile)
		process := shJoin(argv)
		if opt.UID != 0 {
			process = "runuser -u " + shQuote(opt.User) + " -- " + process
		}
		if len(process) > maxInittabProcess {
			return nil, fmt.Errorf("units: inittab: site %q: the command is %d characters, and sysvinit takes at most %d in an inittab process field (inittab(5)): "+
				"use shorter paths (--zsm, the config file) or an rc script (zsmgen rc)", s.Name, len(process), maxInittabProcess)
		}
		fmt.Fprintf(&b, "# site %s: reload with kill -HUP, pid in %s\n", s.Name, opt.PidFile(s.Name))
		fmt.Fprintf(&b, "%s:%s:respawn:%s\n", ids[s.Name], levels, process)
	}
	for _, line := range strings.SplitAfter(b.String(), "\n") {
		if n := len(strings.TrimSuffix(line, "\n")); n > maxInittabLine {
			return nil, fmt.Errorf("units: inittab: a line is %d bytes, and init reads at most %d: %q", n, maxInittabLine, line)
		}
	}
	return b.Bytes(), nil
}

// runlevels validates an inittab runlevels field: runlevels 1-5, 7-9 and S
// (s is read as S), each once. 0 (halt) and 6 (reboot) are refused: init
// would respawn the broker while the machine goes down.
func runlevels(s string) (string, error) {
	if s == "" {
		return DefaultRunlevels, nil
	}
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 's' {
			c = 'S'
		}
		switch {
		case c == '0' || c == '6':
			return "", fmt.Errorf("runlevels %q: runlevel %c halts or reboots the machine: leave it out", s, c)
		case c != 'S' && (c < '1' || c > '9'):
			return "", fmt.Errorf("runlevels %q: want digits 1-9 and S, such as %s", s, DefaultRunlevels)
		case bytes.IndexByte(out, c) >= 0:
			return "", fmt.Errorf("runlevels %q: %c twice", s, c)
		}
		out = append(out, c)
	}
	if len(out) > maxInittabRunlevels {
		return "", fmt.Errorf("runlevels %q: longer than %d", s, maxInittabRunlevels)
	}
	return string(out), nil
}

// inittabIDs gives each name an inittab id: "z" and three base-36 digits
// of the name's FNV-1a hash. Ids must be unique in /etc/inittab (init
// skips a line with a duplicate id) and hold at most four characters. A
// name whose id is taken takes the next free one; names are served in
// sorted order, so the ids depend only on the set of names, and a site
// keeps its id unless a site sorted before it collides with it. The "z"
// keeps them apart from the usual ids (1-6, id, si, ~~, l0-l6, ca, pf, T0).
func inittabIDs(names []string) map[string]string {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	ids := make(map[string]string, len(sorted))
	used := make(map[uint32]bool, len(sorted))
	for _, name := range sorted {
		h := fnv.New32a()
		h.Write([]byte(name))
		n := h.Sum32() % idSpace
		for used[n] {
			n = (n + 1) % idSpace
		}
		used[n] = true
		id := strconv.FormatUint(uint64(n), 36)
		ids[name] = "z" + strings.Repeat("0", 3-len(id)) + id
	}
	return ids
}

// RC renders site's rc script, named RCName(site.Name): a POSIX sh LSB
// init script taking start, stop, restart, reload, force-reload and
// status, with the LSB exit codes.
//
// start runs "zsm serve --daemon --log syslog --pidfile PIDFILE" as
// opt.User (directly when the script runs with that uid, through su when
// it runs as root), which returns once the broker is up or has failed.
// stop sends SIGTERM and waits for the broker to drain its workers: the
// site's stop timeout and 5 seconds, then SIGKILL to the broker's process
// group. reload sends SIGHUP. A broker is running when the pid file names
// a live process (a zsm, where /proc says so).
func RC(site *config.Site, opt SysvOptions) ([]byte, error) {
	if site == nil {
		return nil, errors.New("units: rc: nil site")
	}
	if err := config.CheckName(site.Name); err != nil {
		return nil, fmt.Errorf("units: rc: %w", err) // names the site
	}
	if strings.HasSuffix(site.Name, ".sh") {
		// Debian's /etc/init.d/rc sources scripts named *.sh instead of
		// running them.
		return nil, fmt.Errorf("units: rc: site %q: an rc script named %s would be sourced by /etc/init.d/rc, not run", site.Name, RCName(site.Name))
	}
	if opt.Config == "" {
		return nil, fmt.Errorf("units: rc: site %q: no config path", site.Name)
	}
	if err := opt.check(opt.Config, true); err != nil {
		return nil, fmt.Errorf("units: rc: site %q: %w", site.Name, err)
	}
	if site.Timeouts.Stop < 0 {
		return nil, fmt.Errorf("units: rc: site %q: negative stop timeout %v", site.Name, site.Timeouts.Stop)
	}
	stop := stopTimeout(site.Timeouts.Stop, rcStopMargin) * 10
	start := unsetRuntimeDir + shJoin(brokerArgv(opt, opt.Config, site.Name, opt.PidFile(site.Name), "--daemon"))
	var b bytes.Buffer
	err := rcTemplate.Execute(&b, map[string]any{
		"Name":     RCName(site.Name),
		"Site":     site.Name,
		"Header":   rcHeader(opt.Config),
		"ZSM":      opt.ZSM,
		"User":     opt.User,
		"UID":      opt.UID,
		"PidFile":  opt.PidFile(site.Name),
		"LogSays":  opt.logSays(),
		"StopWait": stop,
		"Start":    start,
	})
	if err != nil {
		return nil, fmt.Errorf("units: rc: site %q: %w", site.Name, err)
	}
	return b.Bytes(), nil
}

// rcHeaderPrefix starts the line that marks a file as an rc script zsmgen
// wrote, which "zsmgen rc" may overwrite.
const rcHeaderPrefix = "# Generated by zsmgen rc from "

func rcHeader(configPath string) string {
	return rcHeaderPrefix + strconv.Quote(configPath) + `. Do not edit: run "zsmgen rc" again.`
}

// IsGeneratedRC reports whether content is an rc script zsmgen wrote: one
// of its first lines carries zsmgen's header.
func IsGeneratedRC(content []byte) bool {
	for i, line := range bytes.SplitN(content, []byte("\n"), 20) {
		if i < 19 && bytes.HasPrefix(line, []byte(rcHeaderPrefix)) {
			return true
		}
	}
	return false
}

// shAssign returns the sh assignment name=value. A value in single quotes
// holding "$" or "`" comes with a directive that tells shellcheck it is
// meant literally.
func shAssign(name, value string) string {
	q := shQuote(value)
	if strings.HasPrefix(q, "'") && strings.ContainsAny(value, "$`") {
		return "# shellcheck disable=SC2016 # a literal value\n" + name + "=" + q
	}
	return name + "=" + q
}

// The rc script. It is checked with sh -n,
// shellcheck -s sh and checkbashisms by the tests, and run against fake
// pid files.
var rcTemplate = template.Must(template.New("rc").Funcs(template.FuncMap{"assign": shAssign}).Parse(`#!/bin/sh
### BEGIN INIT INFO
# Provides:          {{.Name}}
# Required-Start:    $local_fs $network $remote_fs $syslog
# Required-Stop:     $local_fs $network $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:      0 1 6
# Short-Description: zsm broker of site {{.Site}}
# Description:       The zsm broker of site {{.Site}}: binds the site's
#                    sockets and runs its app server's workers.
### END INIT INFO
{{.Header}}
#
# usage: {{.Name}} {start|stop|restart|reload|force-reload|status}
# Exit codes are the LSB ones. The broker logs to {{.LogSays}}.

NAME={{.Name}}
{{assign "ZSM" .ZSM}}
{{assign "RUN_AS" .User}}
RUN_AS_UID={{.UID}}
{{assign "PIDFILE" .PidFile}}
# How long stop waits for the broker to drain its workers before it kills
# it, in tenths of a second: the site's stop timeout and 5 seconds.
STOP_WAIT={{.StopWait}}
# The broker's command line, run by sh -c: it returns once the broker is up
# or has failed.
START=$(cat <<'EOF'
{{.Start}}
EOF
)

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

# alive reports whether process $1 exists and, where /proc shows command
# lines, is a zsm: a pid file that outlived its broker may name a pid the
# kernel has since given to another process.
alive() {
	kill -s 0 "$1" 2>/dev/null || [ -d "/proc/$1" ] || return 1
	[ -r /proc/self/cmdline ] || return 0
	case $(tr '\000' ' ' <"/proc/$1/cmdline" 2>/dev/null) in
	*zsm*) return 0 ;;
	esac
	return 1
}

# read_pid sets pid from the pid file and returns the LSB status: 0 the
# broker runs, 1 the pid file names no live broker, 3 there is no pid file,
# 4 the pid file cannot be read (unreadable=1) or holds no pid.
read_pid() {
	pid=
	unreadable=
	if [ ! -e "$PIDFILE" ]; then
		if [ -d "${PIDFILE%/*}" ] && [ ! -x "${PIDFILE%/*}" ]; then
			unreadable=1
			return 4
		fi
		return 3
	fi
	if ! pid=$(cat "$PIDFILE" 2>/dev/null); then
		unreadable=1
		return 4
	fi
	case $pid in
	'' | 0* | *[!0-9]*) return 4 ;;
	esac
	alive "$pid" || return 1
}

# remove_pidfile removes the pid file if it still holds $1: a broker
# started since has written its own.
remove_pidfile() {
	if [ "$(cat "$PIDFILE" 2>/dev/null)" = "$1" ]; then
		rm -f "$PIDFILE"
	fi
}

# nap sleeps a tenth of a second where sleep takes fractions, else a
# second, and adds the tenths slept to waited.
nap() {
	if sleep 0.1 2>/dev/null; then
		waited=$((waited + 1))
	else
		sleep 1
		waited=$((waited + 10))
	fi
}

cannot_read() {
	printf '%s: cannot read %s\n' "$NAME" "$PIDFILE" >&2
}

do_start() {
	if read_pid; then
		echo "$NAME is already running (pid $pid)"
		return 0
	fi
	if [ ! -x "$ZSM" ]; then
		printf '%s: %s is not installed\n' "$NAME" "$ZSM" >&2
		return 5
	fi
	uid=$(id -u)
	if [ "$uid" = "$RUN_AS_UID" ]; then
		/bin/sh -c "$START" || return 1
	elif [ "$uid" = 0 ]; then
		su -s /bin/sh -c "$START" "$RUN_AS" || return 1
	else
		printf '%s: run this as root or as %s\n' "$NAME" "$RUN_AS" >&2
		return 4
	fi
	if read_pid; then
		echo "Started $NAME (pid $pid)"
	else
		echo "Started $NAME"
	fi
}

do_stop() {
	read_pid
	st=$?
	if [ -n "$unreadable" ]; then
		cannot_read
		return 4
	fi
	if [ "$st" -ne 0 ]; then
		[ "$st" -eq 3 ] || remove_pidfile "$pid"
		echo "$NAME is not running"
		return 0
	fi
	echo "Stopping $NAME (pid $pid)"
	if ! kill -s TERM "$pid" 2>/dev/null && alive "$pid"; then
		printf '%s: cannot signal pid %s\n' "$NAME" "$pid" >&2
		return 4
	fi
	waited=0
	while alive "$pid"; do
		if [ "$waited" -ge "$STOP_WAIT" ]; then
			echo "$NAME did not stop within $((STOP_WAIT / 10)) seconds: killing it" >&2
			# After --daemon the broker leads its own process group.
			kill -s KILL -- "-$pid" 2>/dev/null
			kill -s KILL "$pid" 2>/dev/null
			waited=0
			while alive "$pid" && [ "$waited" -lt 50 ]; do
				nap
			done
			break
		fi
		nap
	done
	if alive "$pid"; then
		echo "$NAME (pid $pid) is still running" >&2
		return 1
	fi
	remove_pidfile "$pid"
	echo "Stopped $NAME"
}

do_reload() {
	read_pid
	st=$?
	if [ -n "$unreadable" ]; then
		cannot_read
		return 4
	fi
	if [ "$st" -ne 0 ]; then
		echo "$NAME is not running" >&2
		return 7
	fi
	kill -s HUP "$pid" || return 1
	echo "Reloading $NAME (pid $pid)"
}

do_status() {
	read_pid
	st=$?
	case $st in
	0) echo "$NAME is running (pid $pid)" ;;
	1) printf '%s is not running, but %s names pid %s\n' "$NAME" "$PIDFILE" "$pid" ;;
	3) echo "$NAME is not running" ;;
	*)
		if [ -n "$unreadable" ]; then
			cannot_read
		else
			printf '%s: %s holds no pid\n' "$NAME" "$PIDFILE" >&2
		fi
		;;
	esac
	return "$st"
}

case $1 in
start) do_start ;;
stop) do_stop ;;
restart) do_stop && do_start ;;
reload | force-reload) do_reload ;;
status) do_status ;;
*)
	echo "usage: $0 {start|stop|restart|reload|force-reload|status}" >&2
	exit 2
	;;
esac
`))

// Crontab renders crontab lines that keep the brokers of f's sites (only
// opt.Site's when set) running for the crontab's owner, whose uid must be
// opt.UID: per site, an @reboot line and a line every minute, both running
// "zsm serve --daemon --if-stopped --log syslog --pidfile PIDFILE". The
// broker holds a lock on its pid file, so one started while another runs
// exits quietly; the every-minute line brings back a broker that stopped.
//
// Every line carries a tag naming the config file (and opt.Site when set),
// `# zsmgen "/home/ann/sites.hcl"`: comments start with it, commands end
// with it, as a shell comment. The install command in the header drops the lines with
// that tag from the current crontab and appends the new ones, so running
// it again replaces them and keeps everything else. cron turns "%" into a
// newline in a command, and not every cron takes "\%" back, so a value
// holding "%" is an error.
func Crontab(f *config.File, opt SysvOptions) ([]byte, error) {
	cfg, err := opt.configPath("crontab", f, false)
	if err != nil {
		return nil, err
	}
	sites, err := selectSites(f, opt.Site)
	if err != nil {
		return nil, fmt.Errorf("units: crontab: %w", err)
	}
	tag := "# zsmgen " + strconv.Quote(cfg)
	regen := []string{"zsmgen", "crontab", "--zsm", opt.ZSM}
	if opt.PidfileDir != "" {
		regen = append(regen, "--pidfile-dir", opt.PidfileDir)
	}
	if d := opt.logDest(); d != "syslog" {
		regen = append(regen, "--log", d)
	}
	if opt.Site != "" {
		tag += " " + strconv.Quote(opt.Site)
		regen = append(regen, "--site", opt.Site)
	}
	regen = append(regen, cfg)
	install := "{ crontab -l 2>/dev/null | grep -vF " + shQuote(tag) + "; " + shJoin(regen) + "; } | crontab -"

	var b bytes.Buffer
	comment := func(s string) { b.WriteString(tag + ": " + s + "\n") }
	comment("generated by zsmgen crontab; do not edit. Install or update with:")
	comment("  " + install)
	comment("@reboot starts each broker; the line every minute starts it again if it has stopped")
	comment("(--if-stopped: it exits quietly while one runs). XDG_RUNTIME_DIR is unset, whatever")
	comment("cron's PAM session sets, so the broker's runtime files go to " + DefaultPidfileDir(opt.UID) + ".")
	for _, s := range sites {
		cmd := unsetRuntimeDir + shJoin(brokerArgv(opt, cfg, s.Name, opt.PidFile(s.Name), "--daemon", "--if-stopped")) + " " + tag
		if strings.Contains(cmd, "%") {
			return nil, fmt.Errorf("units: crontab: site %q: %q holds a %%, which cron turns into a newline", s.Name, cmd)
		}
		if len(cmd) > maxCronCommand {
			return nil, fmt.Errorf("units: crontab: site %q: the command is %d characters, and cron reads at most %d", s.Name, len(cmd), maxCronCommand)
		}
		fmt.Fprintf(&b, "@reboot %s\n", cmd)
		fmt.Fprintf(&b, "* * * * * %s\n", cmd)
	}
	return b.Bytes(), nil
}
