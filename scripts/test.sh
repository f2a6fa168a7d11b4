#!/usr/bin/env bash
# Runs every Herald test on this machine: installs what the tests need
# (Redis, NATS with JetStream, Chromium, Python with Celery) if missing, starts Redis and NATS
# on loopback if they are not running, then runs the Go tests with -race.
#
# Usage: scripts/test.sh [extra go test flags]   (e.g. -run TestHub -v)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v nats-server >/dev/null || need+=(nats-server)
command -v chromium >/dev/null || need+=(chromium)
command -v python3 >/dev/null || need+=(python3)
# The Celery example's test runs a worker with the Debian interpreter (python3
# on PATH may be another one, e.g. a pyenv shim).
/usr/bin/python3 -c 'import celery, redis' 2>/dev/null || need+=(python3-celery python3-redis)
if ((${#need[@]})); then
	echo "test.sh: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() {
	for _ in $(seq 50); do port_open "$1" && return 0; sleep 0.1; done
	echo "test.sh: nothing listens on 127.0.0.1:$1" >&2
	return 1
}
if ! port_open 6379; then
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/ci.log
	wait_port 6379
fi
if ! port_open 4222; then
	mkdir -p /var/lib/nats-server
	start-stop-daemon --start --oknodo --background --exec "$(command -v nats-server)" -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
	wait_port 4222
fi

go mod download
go vet ./...
go test -race -count=1 -timeout 12m "$@" ./...
