package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zsm-dev/zsm/activation"
	"github.com/zsm-dev/zsm/internal/freeport"
	"github.com/zsm-dev/zsm/internal/shim"
)

// TestMain lets the test binary play the workers the broker starts: the
// exec shim, and apps of several kinds chosen by ZSM_TEST_WORKER.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == shim.Command {
		fmt.Fprintln(os.Stderr, shim.Main(os.Args[2:], nil))
		os.Exit(127)
	}
	if kind := os.Getenv("ZSM_TEST_WORKER"); kind != "" {
		if err := testWorker(kind); err != nil {
			fmt.Fprintln(os.Stderr, "test worker:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testWorker runs one kind of worker.
func testWorker(kind string) error {
	switch kind {
	case "http", "listen":
		slots, _ := strconv.Atoi(os.Getenv("ZSM_TEST_SLOTS"))
		var opts []activation.Option
		if slots > 0 {
			opts = append(opts, activation.Slots(slots))
		}
		l, err := activation.Listen("tcp", "127.0.0.1:0", opts...)
		if err != nil {
			return err
		}
		return activation.ServeHTTP(&http.Server{Handler: testHandler()}, l, 10*time.Second)
	case "backend":
		// An app that binds its own port and stops gracefully on SIGTERM.
		l, err := activation.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			return err
		}
		return activation.ServeHTTP(&http.Server{Handler: testHandler()}, l, 10*time.Second)
	case "quitter", "listen-quitter":
		// A server that stops gracefully on SIGQUIT (exit 0) and at once
		// on SIGTERM (exit 7), as nginx does: in proxy mode on its port,
		// in listen mode on the sockets it is passed.
		var l net.Listener
		var err error
		if kind == "quitter" {
			l, err = net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		} else {
			l, err = activation.Listen("tcp", "127.0.0.1:0", activation.StopSignals())
		}
		if err != nil {
			return err
		}
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGQUIT, syscall.SIGTERM)
		go http.Serve(l, testHandler())
		if <-sig == syscall.SIGTERM {
			os.Exit(7)
		}
		return nil
	case "lingerer":
		// A backend that, on SIGQUIT, stops accepting and waits for
		// every connection it holds to be closed by its client, as nginx
		// waits for a connection that has not sent its request.
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			return err
		}
		var open sync.WaitGroup
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				open.Go(func() { io.Copy(io.Discard, c); c.Close() })
			}
		}()
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGQUIT)
		<-sig
		l.Close()
		open.Wait()
		return nil
	case "garbage":
		ch := os.NewFile(3, "channel")
		if _, err := ch.Write([]byte("READY=1\nSLOTS=lots\n")); err != nil {
			return err
		}
		_, err := ch.Read(make([]byte, 4096)) // until the broker ends the channel
		return err
	case "silent":
		// Never ready; exits when the broker gives up on it: its channel
		// ends (handoff), or its stop signal comes (no channel: proxy).
		if os.Getenv("ZSM_CHANNEL_FD") == "" {
			stop := make(chan os.Signal, 1)
			signal.Notify(stop, syscall.SIGTERM)
			<-stop
			return nil
		}
		ch := os.NewFile(3, "channel")
		ch.Read(make([]byte, 4096))
		return nil
	case "env", "listen-env":
		// Report what the worker was started with, then serve.
		if err := dumpEnv(os.Getenv("ZSM_TEST_OUT")); err != nil {
			return err
		}
		if kind == "env" {
			return testWorker("http")
		}
		return testWorker("listen")
	case "listen-silent":
		// Never accepts and never notifies; says where it could notify.
		if err := dumpEnv(os.Getenv("ZSM_TEST_OUT")); err != nil {
			return err
		}
		select {}
	case "leaky":
		// Holds on to 8 MiB more after every request, like a leaky app.
		var leak [][]byte
		var mu sync.Mutex
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = 1
			}
			mu.Lock()
			leak = append(leak, b)
			mu.Unlock()
			fmt.Fprintf(w, "hello from %d\n", os.Getpid())
		})
		l, err := activation.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		return activation.ServeHTTP(&http.Server{Handler: mux}, l, 10*time.Second)
	case "late-ready":
		// Says READY=1 only on SIGUSR1, without reading its channel first.
		usr1 := make(chan os.Signal, 1)
		signal.Notify(usr1, syscall.SIGUSR1)
		if err := dumpEnv(os.Getenv("ZSM_TEST_OUT")); err != nil {
			return err
		}
		<-usr1
		ch := os.NewFile(3, "channel")
		if _, err := ch.Write([]byte("READY=1\n")); err != nil {
			return err
		}
		_, err := ch.Read(make([]byte, 4096)) // the broker's end of the channel
		if err == io.EOF {
			return nil
		}
		return err
	case "flaky":
		// Crashes at once while $ZSM_TEST_BROKEN exists, else serves.
		if _, err := os.Stat(os.Getenv("ZSM_TEST_BROKEN")); err == nil {
			return errors.New("broken on purpose")
		}
		return testWorker("http")
	case "mute":
		// Ready, serves, but never sends WATCHDOG=1: a hung app, to the broker.
		ch := os.NewFile(3, "channel")
		if _, err := ch.Write([]byte("READY=1\n")); err != nil {
			return err
		}
		if err := dumpEnv(os.Getenv("ZSM_TEST_OUT")); err != nil {
			return err
		}
		_, err := ch.Read(make([]byte, 4096))
		if err == io.EOF {
			return nil
		}
		return err
	case "stubborn":
		// Ignores SIGTERM and the end of its channel; only SIGKILL ends it.
		signal.Ignore(syscall.SIGTERM)
		if err := dumpEnv(os.Getenv("ZSM_TEST_OUT")); err != nil {
			return err
		}
		select {}
	case "crash":
		return errors.New("crashing on purpose")
	case "mute-backend":
		// Binds its port and takes connections, never answering.
		l, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			return err
		}
		var held []net.Conn // kept: a collected conn would close
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return err
			}
			held = append(held, c)
		}
	case "taker":
		// Ready with two slots; takes its connections and never answers.
		ch := os.NewFile(3, "channel")
		if _, err := ch.Write([]byte("READY=1\nSLOTS=2\n")); err != nil {
			return err
		}
		buf, oob := make([]byte, 4096), make([]byte, 64)
		for {
			n, _, _, _, err := syscall.Recvmsg(3, buf, oob, 0)
			if err != nil || n == 0 {
				return err // the end of its channel: leave
			}
		}
	case "closer":
		// Closes its channel without a word and lives on, until SIGTERM.
		os.NewFile(3, "channel").Close()
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		<-term
		return nil
	}
	return fmt.Errorf("unknown worker kind %q", kind)
}

// workerInfo is what an "env" worker reports about itself.
type workerInfo struct {
	Pid, Pgid int
	Dir       string
	Env       []string
}

func dumpEnv(path string) error {
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	pgid, err := syscall.Getpgid(0)
	if err != nil {
		return err
	}
	b, err := json.Marshal(workerInfo{Pid: os.Getpid(), Pgid: pgid, Dir: dir, Env: os.Environ()})
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// testHandler answers "/" with the worker's pid, after ?ms=N milliseconds
// of simulated work.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if ms, _ := strconv.Atoi(r.URL.Query().Get("ms")); ms > 0 {
			t := time.NewTimer(time.Duration(ms) * time.Millisecond)
			<-t.C
		}
		w.Header().Set("X-Worker-Pid", strconv.Itoa(os.Getpid()))
		fmt.Fprintf(w, "hello from %d\n", os.Getpid())
	})
	return mux
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	p, err := freeport.One()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// pidOf reads the pid from a test worker's "hello from PID" answer.
func pidOf(t testing.TB, body string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(body, "hello from ")))
	if err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return pid
}

func syscallKill(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
