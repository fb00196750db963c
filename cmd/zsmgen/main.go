package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/zsm-dev/zsm/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: zsmgen COMMAND [FLAGS] FILE

commands:
  check FILE     validate FILE; print every problem as file:line:col
  units FILE     write systemd user units for FILE's sites
                 [--out DIR] [--dry-run] [--zsm PATH]
  fmt FILE...    rewrite each FILE in the canonical layout; name those changed
                 [--check]: change nothing, name those not formatted, exit 1 if any

without systemd (docs/nosystemd.md):
  inittab FILE   print /etc/inittab lines that run and respawn each broker
                 [--user NAME] [--runlevels 2345] [--zsm PATH] [--pidfile-dir DIR] [--site NAME]
                 [--log syslog|syslog:SOCKET|FILE]
  rc FILE        write an LSB init script per site, zsm-SITE, into --out DIR
                 (or print the one of --site NAME)
                 [--user NAME] [--zsm PATH] [--pidfile-dir DIR] [--site NAME] [--out DIR] [--log DEST]
  crontab FILE   print crontab lines that start each broker at boot and
                 every minute if it has stopped, for your own crontab
                 [--zsm PATH] [--pidfile-dir DIR] [--site NAME] [--log DEST]

  version        print zsmgen's version (also --version)
`

// errReported means the problem was already printed: exit 1 quietly.
var errReported = errors.New("reported")

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "check":
		err = check(args[1:], stdout, stderr)
	case "units":
		err = unitsCmd(args[1:], stdout, stderr)
	case "fmt":
		err = fmtCmd(args[1:], stdout, stderr)
	case "inittab":
		err = inittabCmd(args[1:], stdout, stderr)
	case "rc":
		err = rcCmd(args[1:], stdout, stderr)
	case "crontab":
		err = crontabCmd(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "zsmgen", version.Read())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "zsmgen: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue), errors.Is(err, flag.ErrHelp):
		if ue != "" {
			fmt.Fprintf(stderr, "usage: zsmgen %s\n", string(ue))
		}
		return 2
	case errors.Is(err, errReported):
		return 1
	default:
		fmt.Fprintln(stderr, "zsmgen:", err)
		return 1
	}
}

// usageError is a command-line mistake; it holds the command's synopsis.
type usageError string

func (u usageError) Error() string { return "usage: " + string(u) }
