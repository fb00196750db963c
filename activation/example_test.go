package activation_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/zsm-dev/zsm/activation"
	"golang.org/x/sys/unix"
)

// A web server that runs the same under zsm, under systemd socket
// activation and on its own, and stops without failing a request.
func ExampleListen() {
	ln, err := activation.Listen("tcp", "127.0.0.1:0") // the address is used only standalone
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello\n")
	})}
	stopped := make(chan error, 1)
	go func() {
		err := srv.Serve(ln) // returns once ln stops: SIGTERM, Stop, or the broker's end of the channel
		if errors.Is(err, net.ErrClosed) {
			err = srv.Shutdown(context.Background()) // finish in-flight requests
		}
		stopped <- err
	}()

	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Printf("%v: %s", ln.Mode(), body)

	ln.Stop() // what SIGTERM does
	fmt.Println("stopped:", <-stopped)
	// Output:
	// standalone: hello
	// stopped: <nil>
}

// The broker's side: hand a connection to a worker over its channel.
func ExampleWriteMessage() {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	broker, worker := unixConn(fds[0]), unixConn(fds[1])
	defer broker.Close()
	defer worker.Close()

	conn, err := os.Open(os.DevNull) // stands in for an accepted *net.TCPConn
	if err != nil {
		log.Fatal(err)
	}
	h := activation.Handoff{ID: 1, Listener: "127.0.0.1:8080", Peer: "127.0.0.1:40112"}
	if err := activation.WriteMessage(broker, h.Message(), conn); err != nil {
		log.Fatal(err)
	}
	conn.Close() // the worker now holds its own reference

	m, f, err := activation.ReadMessage(worker)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close() // the receiver owns the descriptor
	got, err := activation.ParseHandoff(m)
	fmt.Printf("%+v %v with a descriptor: %v\n", got, err, f != nil)
	// Output:
	// {ID:1 Listener:127.0.0.1:8080 Peer:127.0.0.1:40112} <nil> with a descriptor: true
}

func unixConn(fd int) *net.UnixConn {
	f := os.NewFile(uintptr(fd), "channel")
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		log.Fatal(err)
	}
	return c.(*net.UnixConn)
}

func ExampleParse() {
	m, err := activation.Parse([]byte("READY=1\nSLOTS=4\nSTATUS=warming up\n"))
	if err != nil {
		log.Fatal(err)
	}
	r, err := activation.ParseReport(m)
	fmt.Printf("%+v %v\n", r, err)

	_, err = activation.Parse([]byte("READY=1\n\nDONE=1"))
	fmt.Println(err)
	// Output:
	// {Ready:true Slots:4 Done:false ID:0 HasStatus:true Status:warming up Watchdog:false Stopping:false Requests:0 HasActive:false Active:0 ActiveID:0 ActiveFor:0s} <nil>
	// activation: protocol violation: empty line
}

func ExampleMessage_Format() {
	b, err := activation.Report{Done: true, ID: 17}.Message().Format()
	fmt.Printf("%q %v\n", b, err)
	// Output:
	// "DONE=1\nID=17\n" <nil>
}
