package main

import (
	"os"

	"github.com/zsm-dev/zsm/internal/shim"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == shim.Command {
		args = args[1:]
	}
	err := shim.Main(args, nil)
	os.Stderr.WriteString("zsm-exec: " + err.Error() + "\n")
	os.Exit(127)
}
