#!/usr/bin/env bash
# Benchmarks Herald and the baseline servers side by side with the same
# `herald bench` scenarios, one server at a time, on loopback.
#
# Usage: bench/run.sh            (the scenarios of BENCHMARKS.md, ~5 minutes)
#        QUICK=1 bench/run.sh    (a small smoke run)
# Results: one JSON report per line in bench/results.jsonl, and a table.
set -euo pipefail
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
ulimit -n "$(ulimit -Hn)"

(cd .. && go build -o "$out/herald" ./cmd/herald)
go build -o "$out/gosse" ./gosse
go build -o "$out/r3labs" ./r3labs
key=bench-publisher-key-0123456789abcdef
token=$("$out/herald" token --key "$key" --publish '*' --ttl 1h)

if [[ "${QUICK:-}" == 1 ]]; then
	scenarios=("loaded-small|--subscribers 200 --updates 100 --rate 100")
else
	scenarios=(
		"1k-x-1000-at-200|--subscribers 1000 --updates 1000 --rate 200"
		"10k-x-200-at-20|--subscribers 10000 --updates 200 --rate 20"
		"10k-idle|--subscribers 10000 --updates 0 --idle 5s"
		"19k-broadcast|--subscribers 19000 --updates 20 --rate 2 --idle 3s"
	)
fi

start_server() { # name port → pid in $pid
	case $1 in
	herald) "$out/herald" serve --addr 127.0.0.1:$2 --log memory --data-dir "$out/data" --publisher-key "$key" \
		--no-demo --max-conns-per-ip -1 --log-level warn >"$out/$1.log" 2>&1 & ;;
	gosse) "$out/gosse" -addr 127.0.0.1:$2 >"$out/$1.log" 2>&1 & ;;
	r3labs) "$out/r3labs" -addr 127.0.0.1:$2 >"$out/$1.log" 2>&1 & ;;
	esac
	pid=$!
	for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$2) 2>/dev/null && return; sleep 0.05; done
	echo "run.sh: $1 did not start" >&2; cat "$out/$1.log" >&2; exit 1
}

: >results.jsonl
for scenario in "${scenarios[@]}"; do
	name=${scenario%%|*}
	args=${scenario#*|}
	for server in herald gosse r3labs; do
		port=18400
		case $server in
		herald) flags=(--hub http://127.0.0.1:$port --token "$token") ;;
		gosse) flags=(--subscribe-url "http://127.0.0.1:$port/events?topic=bench" --publish-url "http://127.0.0.1:$port/publish" --publish-body 'topic=bench&data={{data}}') ;;
		r3labs) flags=(--subscribe-url "http://127.0.0.1:$port/events?stream=bench" --publish-url "http://127.0.0.1:$port/publish" --publish-body 'topic=bench&data={{data}}') ;;
		esac
		start_server $server $port
		# shellcheck disable=SC2086
		if report=$("$out/herald" bench "${flags[@]}" $args --pid $pid --drain 15s --max-duration 4m --json); then
			echo "{\"scenario\":\"$name\",\"server\":\"$server\",\"report\":$report}" >>results.jsonl
		else
			echo "{\"scenario\":\"$name\",\"server\":\"$server\",\"error\":true}" >>results.jsonl
		fi
		kill $pid; wait $pid 2>/dev/null || true
		rm -rf "$out/data"
	done
done

python3 - <<'PY'
import json
rows = [json.loads(l) for l in open("results.jsonl")]
print("%-18s %-7s %9s %10s %8s %8s %6s %6s %9s %8s %9s" % ("scenario", "server", "conns", "deliv/s", "p50ms", "p99ms", "lost", "dups", "peakMiB", "µs/dlv", "idleKiB"))
for r in rows:
    if r.get("error"):
        print("%-18s %-7s failed" % (r["scenario"], r["server"])); continue
    p = r["report"]
    print("%-18s %-7s %9d %10.0f %8.2f %8.2f %6d %6d %9.1f %8.2f %9.2f" % (r["scenario"], r["server"], p["connected"], p["deliveries_per_second"], p["p50_ms"], p["p99_ms"], p["lost"], p["duplicated"], p.get("server_peak_rss_kb", 0)/1024, p.get("server_cpu_us_per_delivery", 0), p.get("idle_kb_per_subscriber", 0)))
PY
