#!/usr/bin/env bash
# Benchmarks Herald and the baseline servers side by side with the same
# `herald bench` scenarios, one server at a time, on loopback.
#
# Usage: bench/run.sh            (the scenarios of BENCHMARKS.md, ~10 minutes)
#        QUICK=1 bench/run.sh    (a small smoke run)
#        ONLY='^tls-' bench/run.sh   (the scenarios whose name matches; "publish" for
#                                    durable publishing, PUBLICATIONS=n to publish n)
# Results: one JSON report per line in bench/results.jsonl, and a table.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n "$(ulimit -Hn)"

(cd .. && go build -o "$out/herald" ./cmd/herald)
go build -o "$out/gosse" ./gosse
go build -o "$out/r3labs" ./r3labs
go build -o "$out/floor" ./floor
# A certificate for the TLS scenarios, which every server but the floor
# (raw write(2) cannot speak TLS) serves, with HTTP/2.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
key=bench-publisher-key-0123456789abcdef
token=$("$out/herald" token --key "$key" --publish '*' --ttl 1h)

if [[ "${QUICK:-}" == 1 ]]; then
	scenarios=(
		"loaded-small|--subscribers 200 --updates 100 --rate 100"
		"tls-200-idle|--subscribers 200 --updates 0 --idle 2s"
		"tls-h2-10x20-idle|--http2 --streams-per-conn 20 --subscribers 200 --updates 0 --idle 2s"
		"tls-h2-200-x-50-at-20|--http2 --streams-per-conn 50 --subscribers 200 --updates 50 --rate 20"
	)
else
	scenarios=(
		"1k-x-1000-at-200|--subscribers 1000 --updates 1000 --rate 200"
		"10k-x-200-at-20|--subscribers 10000 --updates 200 --rate 20"
		"10k-idle|--subscribers 10000 --updates 0 --idle 5s"
		"19k-broadcast|--subscribers 19000 --updates 20 --rate 2 --idle 3s"
		"10k-x-100-at-10|--subscribers 10000 --updates 100 --rate 10"
		"tls-2k-idle|--subscribers 2000 --updates 0 --idle 5s"
		"tls-h2-100x50-idle|--http2 --streams-per-conn 50 --subscribers 5000 --updates 0 --idle 5s"
		"tls-h2-1k-x-200-at-20|--http2 --streams-per-conn 50 --subscribers 1000 --updates 200 --rate 20"
	)
fi

start_server() { # name port [tls] → pid in $pid
	local stls=()
	if [[ "${3:-}" == tls ]]; then stls=(-tls-cert "$out/cert.pem" -tls-key "$out/key.pem"); fi
	case $1 in
	herald | herald-epoll)
		local writer=io_uring
		[[ $1 == herald-epoll ]] && writer=epoll
		"$out/herald" serve --addr 127.0.0.1:$2 --log "${herald_log:-memory}" --data-dir "$out/data" --publisher-key "$key" \
			--no-demo --max-conns-per-ip -1 --log-level warn --writer $writer "${stls[@]}" >"$out/$1.log" 2>&1 & ;;
	gosse) "$out/gosse" -addr 127.0.0.1:$2 "${stls[@]}" >"$out/$1.log" 2>&1 & ;;
	r3labs) "$out/r3labs" -addr 127.0.0.1:$2 "${stls[@]}" >"$out/$1.log" 2>&1 & ;;
	floor) "$out/floor" -addr 127.0.0.1:$2 >"$out/$1.log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && return; sleep 0.05; done
	echo "run.sh: $1 did not start" >&2; cat "$out/$1.log" >&2; exit 1
}

measure() { # scenario server bench-flags… : runs herald bench against $pid, records its report, stops the server
	local name=$1 server=$2 report
	shift 2
	if report=$("$out/herald" bench "$@" --pid $pid --drain 15s --max-duration 4m --json); then
		echo "{\"scenario\":\"$name\",\"server\":\"$server\",\"report\":$report}" >>results.jsonl
	else
		echo "{\"scenario\":\"$name\",\"server\":\"$server\",\"error\":true}" >>results.jsonl
	fi
	kill $pid; wait $pid 2>/dev/null || true
	rm -rf "$out/data"
}

: >results.jsonl
for scenario in "${scenarios[@]}"; do
	name=${scenario%%|*}
	args=${scenario#*|}
	[[ $name =~ ${ONLY:-.} ]] || continue
	# herald-epoll: Herald writing with one writev per stream instead of
	# io_uring batches, to compare the two writers in the same run.
	servers=(herald herald-epoll gosse r3labs floor) scheme=http tls=() mode=
	if [[ $name == tls-* ]]; then
		servers=(herald gosse r3labs) scheme=https tls=(--ca-cert "$out/cert.pem") mode=tls
	fi
	for server in "${servers[@]}"; do
		port=18400
		base=$scheme://127.0.0.1:$port
		case $server in
		herald | herald-epoll) flags=(--hub "$base" --token "$token") ;;
		gosse) flags=(--subscribe-url "$base/events?topic=bench" --publish-url "$base/publish" --publish-body 'topic=bench&data={{data}}') ;;
		r3labs) flags=(--subscribe-url "$base/events?stream=bench" --publish-url "$base/publish" --publish-body 'topic=bench&data={{data}}') ;;
		floor) flags=(--subscribe-url "$base/events" --publish-url "$base/publish" --publish-body 'data={{data}}') ;;
		esac
		flags+=("${tls[@]}")
		start_server $server $port $mode
		# shellcheck disable=SC2086
		measure $name $server "${flags[@]}" $args
	done
done

# Durable publishing: concurrent publishers waiting for their
# acknowledgements, 10 subscribers, Herald on its fsync'd bolt log and on
# the memory log.
publications=${PUBLICATIONS:-20000}
[[ "${QUICK:-}" == 1 ]] && publications=2000
for herald_log in "bolt:$out/data/herald.db" memory; do
	[[ publish =~ ${ONLY:-.} ]] || break
	name=publish-64-${herald_log%%:*}
	start_server herald 18400
	measure $name herald --hub http://127.0.0.1:18400 --token "$token" --subscribers 10 --updates $publications --publishers 64
done
unset herald_log

python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("results.jsonl")]
# The floor: a server that does nothing but one write(2) per delivery.
floor = {r["scenario"]: r["report"].get("server_cpu_us_per_delivery", 0) for r in rows if r["server"] == "floor" and not r.get("error")}
print("%-18s %-12s %9s %10s %8s %8s %6s %6s %9s %8s %7s %8s %9s" % ("scenario", "server", "conns", "deliv/s", "p50ms", "p99ms", "lost", "dups", "peakMiB", "µs/dlv", "×floor", "genµs", "idleKiB"))
pubs = [r for r in rows if r["scenario"].startswith("publish-")]
rows = [r for r in rows if not r["scenario"].startswith("publish-")]
for r in rows:
    if r.get("error"):
        print("%-18s %-12s failed" % (r["scenario"], r["server"])); continue
    p = r["report"]
    us = p.get("server_cpu_us_per_delivery", 0)
    ratio = us / floor[r["scenario"]] if floor.get(r["scenario"]) else 0
    print("%-18s %-12s %9d %10.0f %8.2f %8.2f %6d %6d %9.1f %8.2f %7.2f %8.2f %9.2f" % (r["scenario"], r["server"], p["connected"], p["deliveries_per_second"], p["p50_ms"], p["p99_ms"], p["lost"], p["duplicated"], p.get("server_peak_rss_kb", 0)/1024, us, ratio, p.get("generator_cpu_us_per_delivery", 0), p.get("idle_kb_per_subscriber", 0)))
print()
print("%-18s %-12s %10s %8s %8s %6s %6s %9s" % ("scenario", "server", "pubs/s", "ackp50", "ackp99", "lost", "dups", "×memory"))
mem = {r["server"]: r["report"]["achieved_rate"] for r in pubs if r["scenario"].endswith("-memory") and not r.get("error")}
for r in pubs:
    if r.get("error"):
        print("%-18s %-12s failed" % (r["scenario"], r["server"])); continue
    p = r["report"]
    ratio = p["achieved_rate"] / mem[r["server"]] if mem.get(r["server"]) else 0
    print("%-18s %-12s %10.0f %8.2f %8.2f %6d %6d %9.2f" % (r["scenario"], r["server"], p["achieved_rate"], p["publish_p50_ms"], p["publish_p99_ms"], p["lost"], p["duplicated"], ratio))
PY
