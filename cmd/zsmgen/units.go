package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/zsm-dev/zsm/internal/config"
	"github.com/zsm-dev/zsm/internal/linger"
	"github.com/zsm-dev/zsm/internal/snapshot"
	"github.com/zsm-dev/zsm/units"
)

func unitsCmd(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("units", flag.ContinueOnError)
	fset.SetOutput(stderr)
	out := fset.String("out", "", "unit directory (default $XDG_CONFIG_HOME/systemd/user)")
	dry := fset.Bool("dry-run", false, "print what would be written and removed; change nothing")
	zsm := fset.String("zsm", "", "path of the zsm binary the units run (default: beside zsmgen, else on $PATH)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		return usageError("units [--out DIR] [--dry-run] [--zsm PATH] FILE")
	}
	f, digest, err := loadDigest(fset.Arg(0), stderr)
	if err != nil {
		return err
	}
	dir := *out
	if dir == "" {
		if dir, err = defaultUnitDir(); err != nil {
			return err
		}
	}
	bin, err := zsmPath(*zsm)
	if err != nil {
		return err
	}
	desired, err := units.Generate(f, units.Options{ZSM: bin})
	if err != nil {
		return err
	}
	existing, err := readExisting(dir)
	if err != nil {
		return err
	}
	changes, err := units.Plan(desired, existing, f.Path)
	if err != nil {
		return err
	}
	if *dry {
		for _, w := range changes.Write {
			fmt.Fprintf(stdout, "would write %s:\n%s\n", filepath.Join(dir, w.Path), w.Content)
		}
		for _, r := range changes.Remove {
			fmt.Fprintf(stdout, "would remove %s\n", filepath.Join(dir, r))
		}
		if changes.Empty() {
			fmt.Fprintf(stdout, "%s is up to date\n", dir)
		}
		return nil
	}
	if err := apply(dir, changes); err != nil {
		return err
	}
	keepCopies(f, digest, stderr)
	for _, w := range changes.Write {
		fmt.Fprintf(stdout, "wrote %s\n", filepath.Join(dir, w.Path))
	}
	for _, r := range changes.Remove {
		fmt.Fprintf(stdout, "removed %s\n", filepath.Join(dir, r))
	}
	for _, site := range removedSites(changes.Remove) {
		fmt.Fprintf(stdout, "site %s left %s: run systemctl --user disable --now zsm@%s.socket\n", site, f.Path, site)
	}
	if changes.Empty() {
		fmt.Fprintf(stdout, "%s is up to date\n", dir)
	} else {
		fmt.Fprintln(stdout, "now run: systemctl --user daemon-reload")
	}
	if *out == "" {
		// Units in the user's own directory run in the user's manager,
		// which logind stops at logout unless the user lingers.
		linger.Warn(stderr, "zsmgen")
	}
	return nil
}

// keepCopies saves each site as decoded (package snapshot), where its
// broker looks first: while the file stays as it is, a broker's cold start
// then reads its own site's copy instead of decoding the whole file. A
// copy that cannot be saved costs only that.
func keepCopies(f *config.File, digest string, stderr io.Writer) {
	dir := snapshot.Dir(os.Getenv("XDG_RUNTIME_DIR"))
	if !filepath.IsAbs(dir) {
		return // neither a home nor a runtime directory: the brokers decode
	}
	for _, s := range f.Sites {
		if err := snapshot.Save(dir, f.Path, digest, s); err != nil {
			fmt.Fprintf(stderr, "zsmgen: cannot keep a copy of site %s in %s (its broker will decode %s instead): %v\n", s.Name, dir, f.Path, err)
		}
	}
}

func defaultUnitDir() (string, error) {
	base := os.Getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the unit directory: %w (use --out)", err)
		}
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "systemd", "user"), nil
}

// zsmPath finds the zsm binary: the flag, else beside this zsmgen, else
// on $PATH. Units need an absolute path.
func zsmPath(flagValue string) (string, error) {
	if flagValue != "" {
		return filepath.Abs(flagValue)
	}
	self, _ := os.Executable()
	return findZSM(self)
}

// findZSM returns the zsm beside self, the running zsmgen (so /usr/bin/zsm
// for the packaged /usr/bin/zsmgen, and a clone's bin/zsm for its
// bin/zsmgen), else the one on $PATH.
func findZSM(self string) (string, error) {
	if self != "" {
		p := filepath.Join(filepath.Dir(self), "zsm")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("zsm")
	if err != nil {
		return "", errors.New("cannot find the zsm binary beside zsmgen or on $PATH; pass --zsm PATH")
	}
	return filepath.Abs(p)
}

// readExisting returns the unit-dir files zsmgen may own: zsm@* units and
// the files in zsm@*.d drop-in directories.
func readExisting(dir string) (map[string][]byte, error) {
	existing := map[string][]byte{}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return existing, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, "zsm@") {
			continue
		}
		if e.IsDir() && strings.HasSuffix(name, ".d") {
			sub, err := os.ReadDir(filepath.Join(dir, name))
			if err != nil {
				return nil, err
			}
			for _, s := range sub {
				if s.Type().IsRegular() {
					if err := readInto(existing, dir, name+"/"+s.Name()); err != nil {
						return nil, err
					}
				}
			}
		} else if e.Type().IsRegular() {
			if err := readInto(existing, dir, name); err != nil {
				return nil, err
			}
		}
	}
	return existing, nil
}

func readInto(m map[string][]byte, dir, rel string) error {
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
	if err != nil {
		return err
	}
	m[rel] = b
	return nil
}

// apply writes and removes files; each write goes to a temporary file
// renamed into place, so a unit is never seen half written.
func apply(dir string, c units.Changes) error {
	for _, w := range c.Write {
		p := filepath.Join(dir, filepath.FromSlash(w.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := writeFile(p, w.Content, 0o644); err != nil {
			return err
		}
	}
	for _, r := range c.Remove {
		p := filepath.Join(dir, filepath.FromSlash(r))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// Remove the drop-in directory once empty; a directory still
		// holding someone else's files stays.
		os.Remove(filepath.Dir(p))
	}
	return nil
}

// removedSites names the sites whose drop-ins were removed.
func removedSites(removed []string) []string {
	seen := map[string]bool{}
	var sites []string
	for _, r := range removed {
		d, _, _ := strings.Cut(r, "/")
		name, ok := strings.CutPrefix(d, "zsm@")
		name, ok2 := strings.CutSuffix(name, ".socket.d")
		if ok && ok2 && !seen[name] {
			seen[name] = true
			sites = append(sites, name)
		}
	}
	return sites
}
