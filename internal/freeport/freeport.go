package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the lowest port Pick returns: below it are the well-known and
// commonly configured ports (1024–9999) that a machine's own services use.
const lowest = 10000

// rangeFile holds the ephemeral range, "LOW\tHIGH".
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Pick returns n distinct ports on 127.0.0.1 that were free when checked,
// from below the ephemeral range (see the package doc). When that range
// leaves no room below it, the kernel picks (port 0) instead.
func Pick(n int) ([]int, error) {
	high := ephemeralLow() - 1
	held := make([]net.Listener, 0, n) // held until all are chosen, so that they differ
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := listen(high)
		if err != nil {
			return nil, err
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// One returns a single port as Pick does.
func One() (int, error) {
	ports, err := Pick(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// listen binds a random free port in [lowest, high], trying a bounded
// number of them, or lets the kernel choose when that span is too small.
func listen(high int) (net.Listener, error) {
	const tries = 200
	if high-lowest >= 1000 {
		for range tries {
			p := lowest + rand.IntN(high-lowest+1)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
			if err == nil {
				return l, nil
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	return l, nil
}

// ephemeralLow returns the first port of the kernel's ephemeral range, or
// Linux's default (32768) if it cannot be read.
func ephemeralLow() int {
	const linuxDefault = 32768
	low, err := readLow(rangeFile)
	if err != nil {
		return linuxDefault
	}
	return low
}

// readLow parses the first number of an ip_local_port_range file.
func readLow(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, errors.New(path + ": not two numbers")
	}
	return strconv.Atoi(f[0])
}
