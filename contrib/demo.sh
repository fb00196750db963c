#!/bin/sh
# Runs the bundled example site, contrib/examples/hello.hcl: through the
# systemd user manager when one is running, else with the broker binding its
# own sockets. Prints the URL to try. Expects `make build` to have run.
# ZSM_BIN (default bin/) is where zsm and zsmgen are, ZSM_DEMO_CONFIG the
# site's file: .ci/deb-smoke runs the installed package's with
# ZSM_BIN=/usr/bin ZSM_DEMO_CONFIG=/usr/share/doc/zsm/examples/hello.hcl.
# ZSM_DEMO_ONESHOT=1 stops the broker after the first answer.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
bin=${ZSM_BIN:-$top/bin}
cfg=${ZSM_DEMO_CONFIG:-$top/contrib/examples/hello.hcl}
url=http://127.0.0.1:8080/

"$bin/zsmgen" check "$cfg"

if systemctl --user is-system-running >/dev/null 2>&1 ||
	[ "$(systemctl --user is-system-running 2>/dev/null)" = degraded ]; then
	"$bin/zsmgen" units --zsm "$bin/zsm" "$cfg"
	systemctl --user daemon-reload
	systemctl --user enable --now zsm@hello.socket
	echo "zsm@hello.socket is listening; the first request starts the broker and the app:"
	curl -sS --max-time 10 "$url"
	systemctl --user --no-pager status zsm@hello.service | head -n 5
	echo
	echo "Try: curl $url"
	echo "Logs: journalctl --user -u zsm@hello.service    Stop: systemctl --user disable --now zsm@hello.socket"
	exit 0
fi

echo "No systemd user manager here: the broker binds its own sockets."
# Unix sockets go to $XDG_RUNTIME_DIR, or to a private /tmp/zsm-UID that
# zsm creates (and refuses if someone else made it).
rundir="${XDG_RUNTIME_DIR:-${TMPDIR:-/tmp}/zsm-$(id -u)}"
"$bin/zsm" serve --config "$cfg" --site hello &
broker=$!
trap 'kill "$broker" 2>/dev/null; wait "$broker" 2>/dev/null' EXIT INT TERM
tries=0
until curl -sS --max-time 10 "$url" 2>/dev/null; do
	tries=$((tries + 1))
	if [ "$tries" -ge 50 ] || ! kill -0 "$broker" 2>/dev/null; then
		echo "the broker did not answer on $url" >&2
		exit 1
	fi
	sleep 0.1
done
echo
echo "Try: curl $url    (and: curl --unix-socket $rundir/hello.sock http://x/)"
if [ "${ZSM_DEMO_ONESHOT:-}" ]; then
	exit 0
fi
echo "Press Ctrl-C to stop."
wait "$broker"
