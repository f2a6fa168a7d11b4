// Command attack-selectors floods a running Herald hub, as one anonymous
// client, with subscriptions (GET, kept open while the hub accepts them,
// and HEAD) whose topic selectors are distinct URI templates of the
// longest accepted length, and prints the hub's resident memory before,
// during and after, and how fast /healthz answered meanwhile.
//
// Usage:
//
//	go run ./scripts/attack-selectors -url http://127.0.0.1:8080 -pid PID [-n 2000] [-bytes 4096]
package main
