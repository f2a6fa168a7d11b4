#!/usr/bin/env bash
# Soak test: starts Herald nodes of its own on loopback and runs
# `herald bench --soak` against them: subscribers that drop and resume with
# Last-Event-ID at random (on the same node or another), a publisher of
# numbered updates, a check that every subscriber receives every update
# from its first one, once, in order, and each node's subscribers, open
# files and memory sampled over time. Not part of scripts/test.sh.
#
# Usage: scripts/soak.sh one|pair [herald bench flags]
#   one    one node on the embedded bolt log
#   pair   two nodes sharing a fresh Redis stream on 127.0.0.1:6379
#          (redis-cli needed to delete it afterwards); the second node is
#          SIGKILLed half-way through --duration unless --kill-after is given
#          (--kill-after 0: no kill)
# Defaults: --subscribers 1000 --rate 20 --duration 10m; e.g.
#   scripts/soak.sh pair --subscribers 300 --duration 10m
# Exits non-zero if any subscriber missed an update or received one twice
# or out of order. Ends only the processes it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

layout=${1:-}
case "$layout" in
one | pair) shift ;;
*)
	echo "usage: scripts/soak.sh one|pair [herald bench flags]" >&2
	exit 2
	;;
esac

duration=10m
kill_given=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
	case "${args[i]}" in
	--duration | -duration) duration=${args[i + 1]:-$duration} ;;
	--duration=* | -duration=*) duration=${args[i]#*=} ;;
	--kill-after* | -kill-after*) kill_given=1 ;;
	esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-soak.XXXXXX")
pids=()
stream=
cleanup() {
	for pid in "${pids[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $stream ]]; then
		redis-cli -h 127.0.0.1 -p 6379 -n 0 DEL "$stream" "$stream:ids" >/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak.sh: building herald into $work" >&2
go build -o "$work/herald" ./cmd/herald
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		port_open "$p" || {
			echo "$p"
			return
		}
	done
}

key=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
token=$("$work/herald" token --key "$key" --publish '*' --ttl 2h)
hubs=()
pid_flags=()
start_node() { # start_node NAME LOG
	local port
	port=$(free_port)
	mkdir -p "$work/$1"
	"$work/herald" serve --addr "127.0.0.1:$port" --data-dir "$work/$1" --log "$2" --publisher-key "$key" \
		--no-demo --max-conns-per-ip -1 >"$work/$1.log" 2>&1 &
	pids+=($!)
	pid_flags+=(--pid "$!")
	hubs+=("http://127.0.0.1:$port")
	for _ in $(seq 100); do
		curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return 0
		sleep 0.1
	done
	echo "soak.sh: node $1 did not start:" >&2
	cat "$work/$1.log" >&2
	return 1
}

# half_seconds prints half of a duration such as 10m or 1m30s, in seconds.
half_seconds() {
	local rest=$1 total=0 n unit
	while [[ $rest =~ ^([0-9]+)([hms])(.*)$ ]]; do
		n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]} rest=${BASH_REMATCH[3]}
		case $unit in
		h) total=$((total + n * 3600)) ;;
		m) total=$((total + n * 60)) ;;
		s) total=$((total + n)) ;;
		esac
	done
	if [[ -n $rest || $total -eq 0 ]]; then
		echo "soak.sh: cannot halve --duration $1: give --kill-after" >&2
		return 1
	fi
	echo "$((total / 2))s"
}

kill_flags=()
if [[ $layout == one ]]; then
	start_node node1 "bolt:$work/node1/herald.db"
else
	stream="herald-soak-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')"
	start_node node1 "redis://127.0.0.1:6379/0?stream=$stream"
	start_node node2 "redis://127.0.0.1:6379/0?stream=$stream"
	if [[ -z $kill_given ]]; then
		secs=$(half_seconds "$duration")
		kill_flags=(--kill-after "$secs")
	fi
fi
echo "soak.sh: layout $layout, nodes ${hubs[*]} (PIDs ${pids[*]})${stream:+, Redis stream $stream}" >&2

hub_list=$(
	IFS=,
	echo "${hubs[*]}"
)
set +e
"$work/herald" bench --soak --hub "$hub_list" --token "$token" "${pid_flags[@]}" \
	--duration "$duration" "${kill_flags[@]}" "$@"
status=$?
set -e
exit "$status"
