package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/zsm-dev/zsm/internal/shim"
	"github.com/zsm-dev/zsm/internal/version"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: zsm COMMAND [ARGS]

commands:
  serve --site NAME [--config FILE]   run one site's broker; without systemd:
        [--pidfile FILE [--if-stopped]]   a pid file, and exit 0 if one runs
        [--daemon] [--log DEST]           detach once up; log to syslog,
                                          syslog:SOCKET, stderr or a file
  reload --site NAME [--wait]         reload a running site's configuration and
                                      workers without refusing a connection;
                                      --wait waits for the outcome
  status [--json] [SITE]              every site of yours on this host (with
                                      systemd, idle and failed ones too), or
                                      one in detail
  status --serve ADDR                 a web page of every site (HTML, ?json,
                                      /metrics), at 127.0.0.1:PORT or unix:PATH
  drain SITE                          stop a site's workers gracefully
  version                             print zsm's version (also --version)
`

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

// run is the command line: its exit status. Commands print their own
// output and errors; run prints usage, the version and what a command
// returned.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:])
	case "reload":
		err = reload(args[1:])
	case "status":
		err = statusCmd(args[1:], stdout)
	case "drain":
		err = drain(args[1:])
	case shim.Command:
		err = shim.Main(args[1:], nil)
	case "version", "--version":
		fmt.Fprintln(stdout, "zsm", version.Read())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "zsm: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		fmt.Fprintln(stderr, "zsm:", err)
		return ee.code
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintln(stderr, "zsm:", err)
		return 1
	}
}
