// Command bench measures zsm against its peers and prints the comparison
// side by side: `make bench`, or
//
//	go run ./bench                 # everything, about fifteen minutes
//	go run ./bench -quick          # every scenario, very short, one round
//	go run ./bench -scenario throughput -only handoff,direct -conn newconn
//
// It builds zsm, zsmgen and the hello worker (contrib/workers/hello) into a
// temporary directory, runs every server on loopback with a bounded
// duration, and writes a table per scenario to stdout, every figure with its
// target to a JSON file (-json, default bench/results.json) and the same,
// with the machine it ran on, to BENCHMARKS.md (-md, at the module root),
// rendered from bench/benchmarks.md.tmpl. Its section "Where targets are
// missed" is bench/notes.md, written by hand; after editing it, `go run
// ./bench -render` rewrites BENCHMARKS.md from bench/results.json, which
// keeps every table, without measuring again. A partial run (-quick,
// -scenario, -only, one -conn, -proxy-connections "", -proxy-body 0 or
// -sessions=false) writes neither file unless -json or -md is given, so
// that it never overwrites the results of a full one.
//
// Scenarios (-scenario):
//
//   - throughput: the same hello app served directly (it binds its port),
//     through `zsm serve` in handoff, listen and proxy mode, behind haproxy
//     (mode tcp, nbthread 1; and again splicing both ways, as haproxy-splice)
//     behind systemd-socket-proxyd, and behind nginx as users put it in
//     front of app servers (an http reverse proxy with keepalive upstream
//     connections, one process); then four workers: four hello processes
//     sharing the port (SO_REUSEPORT) against handoff and listen with a
//     pool of four; keep-alive and
//     one new connection per request; req/s, p50 and p99 latency, and the
//     ratio to direct. Then proxy mode against haproxy over more rounds
//     (-proxy-rounds), keep-alive at 1 and 64 connections besides
//     -connections, and again with 64 KiB responses (-proxy-connections,
//     -proxy-body), and with a new connection per request.
//   - start: cold start through a real systemd user manager (the harness
//     test/with-systemd; needs root, skipped elsewhere with the reason): the
//     time from connect to first byte of a socket-activated site whose app
//     takes a known time to start, through zsm and through a plain systemd
//     socket unit running the app itself, as a ratio to the latter; -sites
//     sites in one file enabled as a user would (zsmgen units, daemon-reload,
//     enable --now: each timed, with the user manager's memory and the zsm
//     processes while idle) and a sample of their cold starts (-sites-cold);
//     and for a warm pool, the same time for one request on a new
//     connection, through zsm and direct.
//   - reload: requests and failures across evenly spaced reloads
//     (`zsm reload --wait`) per mode, against a steady run of the same
//     length.
//   - cost: the broker's resident memory with 1, 16 and 64 workers, its CPU
//     time per 100k connections handed off (and proxied), and 10k concurrent
//     idle connections held through handoff and proxy.
//
// Every scenario runs its baseline in the same run as what it compares,
// in rounds that rotate the order, and reports medians; ratios are computed
// from the medians. Each server (hello alone, a broker with its workers,
// haproxy, systemd-socket-proxyd, nginx) runs in a session of its own, as systemd
// starts each service (-sessions=false: all in the bench's; see
// startProcess). Nothing is installed: wrk, haproxy and nginx (Debian
// packages wrk, haproxy and nginx-light) and systemd-socket-proxyd (package
// systemd) are checked up
// front, and the command names the packages to install and exits when one is
// missing. -loader go uses a built-in load generator instead of wrk, -peers=false
// skips haproxy, systemd-socket-proxyd and nginx; `go test ./bench` runs a short smoke
// run that way.
//
// Profiling the broker: -perf DIR records `perf record -g -p PID` of the
// broker during every measured load of a zsm target; -pprof DIR starts each
// broker with ZSM_CPUPROFILE=DIR/LABEL.pprof in its environment, for a broker
// that writes a CPU profile there when it exits.
package main
