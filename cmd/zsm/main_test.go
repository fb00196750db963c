package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/shim"
)

// TestMain lets the test binary play the exec shim and a worker: an http
// app on the activation package ("hello"), when ZSM_TEST_WORKER says so.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == shim.Command {
		fmt.Fprintln(os.Stderr, shim.Main(os.Args[2:], nil))
		os.Exit(127)
	}
	if os.Getenv("ZSM_TEST_WORKER") == "hello" {
		l, err := activation.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") })
			err = activation.ServeHTTP(&http.Server{Handler: h}, l, 5*time.Second)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "test worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(runIsolated(m))
}

// runIsolated runs the tests with a state directory of their own, so
// that the copies of configurations servers keep (package snapshot) land
// in no real home.
func runIsolated(m *testing.M) int {
	dir, err := os.MkdirTemp("", "zsm-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Setenv("XDG_STATE_HOME", dir)
	return m.Run()
}
