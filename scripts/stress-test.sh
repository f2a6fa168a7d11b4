#!/usr/bin/env bash
# Runs the whole suite (scripts/test.sh) several times in a row while
# stress-ng keeps every CPU busy, to show the tests hold on a loaded
# machine. Installs stress-ng with apt-get if missing; stops the load it
# started, by its PID, however the runs end.
#
# Usage: scripts/stress-test.sh [RUNS]   (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}

if ! command -v stress-ng >/dev/null; then
	echo "stress-test.sh: installing stress-ng"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq stress-ng >/dev/null
fi

stress-ng --cpu "$(nproc)" --quiet &
load=$!
trap 'kill "$load" 2>/dev/null; wait "$load" 2>/dev/null || true' EXIT

failed=0
for i in $(seq "$runs"); do
	start=$SECONDS
	if scripts/test.sh; then
		echo "stress-test.sh: run $i of $runs passed in $((SECONDS - start)) s"
	else
		echo "stress-test.sh: run $i of $runs FAILED after $((SECONDS - start)) s"
		failed=$((failed + 1))
	fi
done
echo "stress-test.sh: $((runs - failed)) of $runs runs passed with $(nproc) CPUs kept busy"
[ "$failed" -eq 0 ]
