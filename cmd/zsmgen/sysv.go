package main

// zsmgen inittab, rc and crontab: the generators for hosts without systemd.
// units renders; this file parses flags, finds the user and the zsm
// binary, and writes rc scripts.

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/units"
)

const (
	inittabUsage = "inittab [--user NAME] [--runlevels 2345] [--zsm PATH] [--pidfile-dir DIR] [--site NAME] FILE"
	rcUsage      = "rc [--user NAME] [--zsm PATH] [--pidfile-dir DIR] [--site NAME] [--out DIR] FILE"
	crontabUsage = "crontab [--zsm PATH] [--pidfile-dir DIR] [--site NAME] FILE"
)

// parseFlags parses args, which must leave one argument, FILE. A mistake is
// a usageError (exit 2), after the flag package's own message.
func parseFlags(fset *flag.FlagSet, args []string, usage string) error {
	if err := fset.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError(usage)
	}
	if fset.NArg() != 1 {
		return usageError(usage)
	}
	return nil
}

// sysvFlags are the flags the three commands share.
type sysvFlags struct {
	user, zsm, pidfileDir, site, log string
}

func (s *sysvFlags) register(fset *flag.FlagSet, withUser bool) {
	if withUser {
		fset.StringVar(&s.user, "user", "", "user the broker runs as (default: the owner of FILE)")
	}
	fset.StringVar(&s.zsm, "zsm", "", "path of the zsm binary (default: beside zsmgen, else on $PATH)")
	fset.StringVar(&s.pidfileDir, "pidfile-dir", "", "directory of the pid files (default /tmp/zsm-UID)")
	fset.StringVar(&s.site, "site", "", "only this site (default: every site of FILE)")
	fset.StringVar(&s.log, "log", "syslog", "where the brokers log: syslog, syslog:SOCKET or a file (zsm serve --log)")
}

// options loads FILE and fills in what the units generators need. runAs
// names the account the broker runs as; nil means the owner of FILE.
func (s *sysvFlags) options(path string, stderr io.Writer, runAs *user.User) (*config.File, units.SysvOptions, error) {
	f, err := load(path, stderr)
	if err != nil {
		return nil, units.SysvOptions{}, err
	}
	if s.site != "" && f.Site(s.site) == nil {
		return nil, units.SysvOptions{}, fmt.Errorf("%s has no site %q", f.Path, s.site)
	}
	if runAs == nil {
		if runAs, err = lookupUser(s.user, f.Path); err != nil {
			return nil, units.SysvOptions{}, err
		}
	}
	uid, err := strconv.Atoi(runAs.Uid)
	if err != nil {
		return nil, units.SysvOptions{}, fmt.Errorf("user %s: uid %q is not a number", runAs.Username, runAs.Uid)
	}
	bin, err := zsmPath(s.zsm)
	if err != nil {
		return nil, units.SysvOptions{}, err
	}
	dir := s.pidfileDir
	if dir != "" {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, units.SysvOptions{}, err
		}
	}
	return f, units.SysvOptions{
		ZSM:        bin,
		Config:     f.Path,
		User:       runAs.Username,
		UID:        uid,
		PidfileDir: dir,
		Site:       s.site,
		Log:        s.log,
	}, nil
}

// lookupUser finds the account named by --user (a name, or a uid), or
// without it the owner of the config file.
func lookupUser(name, configPath string) (*user.User, error) {
	if name != "" {
		u, err := user.Lookup(name)
		if err == nil {
			return u, nil
		}
		if _, numErr := strconv.Atoi(name); numErr == nil {
			if u, idErr := user.LookupId(name); idErr == nil {
				return u, nil
			}
		}
		return nil, fmt.Errorf("--user %s: %w", name, err)
	}
	fi, err := os.Stat(configPath)
	if err != nil {
		return nil, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("%s: cannot tell its owner; pass --user", configPath)
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
	if err != nil {
		return nil, fmt.Errorf("%s is owned by uid %d: %w; pass --user", configPath, st.Uid, err)
	}
	return u, nil
}

func inittabCmd(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("inittab", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var sf sysvFlags
	sf.register(fset, true)
	levels := fset.String("runlevels", units.DefaultRunlevels, "runlevels the brokers run in: digits 1-9 and S")
	if err := parseFlags(fset, args, inittabUsage); err != nil {
		return err
	}
	f, opt, err := sf.options(fset.Arg(0), stderr, nil)
	if err != nil {
		return err
	}
	opt.Runlevels = *levels
	out, err := units.Inittab(f, opt)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func crontabCmd(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("crontab", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var sf sysvFlags
	sf.register(fset, false)
	if err := parseFlags(fset, args, crontabUsage); err != nil {
		return err
	}
	// A crontab runs its commands as its owner: whoever installs it.
	me, err := user.Current()
	if err != nil {
		return err
	}
	f, opt, err := sf.options(fset.Arg(0), stderr, me)
	if err != nil {
		return err
	}
	out, err := units.Crontab(f, opt)
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func rcCmd(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("rc", flag.ContinueOnError)
	fset.SetOutput(stderr)
	var sf sysvFlags
	sf.register(fset, true)
	out := fset.String("out", "", "write one script per site, zsm-SITE, into this directory (such as /etc/init.d)")
	if err := parseFlags(fset, args, rcUsage); err != nil {
		return err
	}
	f, opt, err := sf.options(fset.Arg(0), stderr, nil)
	if err != nil {
		return err
	}
	sites := f.Sites
	if sf.site != "" {
		sites = []*config.Site{f.Site(sf.site)}
	}
	if *out == "" {
		if len(sites) != 1 {
			return usageError(rcUsage + "\n" + fmt.Sprintf("%s has %d sites: pass --out DIR to write one script per site, or --site NAME to print one", f.Path, len(sites)))
		}
		script, err := units.RC(sites[0], opt)
		if err != nil {
			return err
		}
		_, err = stdout.Write(script)
		return err
	}

	// Render every script before writing any.
	scripts := make(map[string][]byte, len(sites))
	var names []string
	for _, s := range sites {
		script, err := units.RC(s, opt)
		if err != nil {
			return err
		}
		name := units.RCName(s.Name)
		scripts[name] = script
		names = append(names, name)
	}
	var errs []error
	olds := map[string][]byte{} // the scripts there already
	for _, name := range names {
		old, err := os.ReadFile(filepath.Join(*out, name))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, err)
		case !units.IsGeneratedRC(old):
			errs = append(errs, fmt.Errorf("%s exists and was not generated by zsmgen: remove it or choose another --out", filepath.Join(*out, name)))
		default:
			olds[name] = old
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, name := range names {
		p := filepath.Join(*out, name)
		if old, ok := olds[name]; ok && bytes.Equal(old, scripts[name]) {
			fmt.Fprintf(stdout, "%s is up to date\n", p)
			continue
		}
		if err := writeFile(p, scripts[name], 0o755); err != nil { // init runs it
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	if len(names) == 0 {
		fmt.Fprintf(stdout, "%s has no sites\n", f.Path)
		return nil
	}
	fmt.Fprintf(stdout, "enable at boot: update-rc.d %s defaults (Debian, Devuan), chkconfig --add %s (others); start: %s start\n",
		names[0], names[0], filepath.Join(*out, names[0]))
	return nil
}

// writeFile writes content to p with mode perm through a temporary file
// renamed into place, so that neither systemd nor init sees a file half
// written.
func writeFile(p string, content []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(p), ".zsmgen-*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(content)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr, os.Chmod(tmp.Name(), perm)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
