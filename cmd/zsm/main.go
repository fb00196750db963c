package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/zsm-dev/zsm/internal/shim"
)

func main() {
	os.Exit(run(os.Args[1:]))
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
`

// errUsage marks a command-line mistake: exit status 2.
var errUsage = errors.New("usage")

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(args[1:])
	case "reload":
		err = reload(args[1:])
	case "status":
		err = statusCmd(args[1:], os.Stdout)
	case "drain":
		err = drain(args[1:])
	case shim.Command:
		err = shim.Main(args[1:], nil)
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "zsm: unknown command %q\n%s", args[0], usage)
		return 2
	}
	var ee exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		fmt.Fprintln(os.Stderr, "zsm:", err)
		return ee.code
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		fmt.Fprintln(os.Stderr, "zsm:", err)
		return 1
	}
}
