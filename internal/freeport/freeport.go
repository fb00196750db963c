package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// lowest is the lowest port Pick returns: below it are the well-known and
// commonly configured ports (1024–9999) that a machine's own services use.
const lowest = 10000

// rangeFile holds the ephemeral range, "LOW\tHIGH".
const rangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Pick returns n ports on 127.0.0.1 that were free when checked, from below
// the ephemeral range (see the package doc), none of them returned before
// by this process: callers that pick ports one at a time for things that
// bind them later get distinct ones. When that range leaves no room below
// it, the kernel picks (port 0) instead.
func Pick(n int) ([]int, error) {
	high := ephemeralLow() - 1
	given.Lock()
	defer given.Unlock()
	ports := make([]int, 0, n)
	for len(ports) < n {
		p, err := free(high)
		if err != nil {
			return nil, err
		}
		given.ports[p] = true
		ports = append(ports, p)
	}
	return ports, nil
}

// given holds the ports Pick returned.
var given = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// One returns a single port as Pick does.
func One() (int, error) {
	ports, err := Pick(1)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// free returns a random port in [lowest, high] that binds and that Pick
// has not returned, trying a bounded number of them, or one the kernel
// chooses when that span is too small. given must be locked.
func free(high int) (int, error) {
	const tries = 200
	for i := range tries {
		addr := "127.0.0.1:0"
		if high-lowest >= 1000 && i < tries-10 {
			addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(lowest+rand.IntN(high-lowest+1)))
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given.ports[p] {
			return p, nil
		}
	}
	return 0, fmt.Errorf("free port: none found in %d tries", tries)
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
