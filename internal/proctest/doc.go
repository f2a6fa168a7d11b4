// Package proctest runs real processes for tests: the herald binary
// (built once per test run), and private Redis and NATS servers that a test
// may stop and restart without disturbing the shared ones other tests use.
// Every process is started on loopback, ended by its PID at cleanup, and
// waited for.
package proctest
