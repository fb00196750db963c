package main

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/proc"
)

// TestMain lets the test binary play the exec shim and a worker: an http
// app on the activation package ("hello"), when ZSM_TEST_WORKER says so.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == proc.ShimCommand {
		fmt.Fprintln(os.Stderr, proc.ShimMain(os.Args[2:], nil))
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
	os.Exit(m.Run())
}
