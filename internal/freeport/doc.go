// Package freeport picks loopback TCP ports for tests and the bench to
// hand to a server that binds them later (a systemd socket unit, a broker,
// a backend).
//
// A port that was free when checked can be taken before the server binds
// it. The likely taker is not another listener but an outgoing
// connection: connect(2) gives every client socket a local port from the
// kernel's ephemeral range (net.ipv4.ip_local_port_range), and such a
// socket blocks bind(2) of a listener on that port, SO_REUSEADDR or not,
// for as long as it is open or in TIME_WAIT (60 s). Tests that run beside
// load generators make thousands of those. So the ports come from below
// the ephemeral range, where connect(2) never looks, chosen at random so
// that concurrent test processes rarely pick the same one.
package freeport
