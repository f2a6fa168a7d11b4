// Package detach serves event streams on HTTP/1.1 connections taken over
// from net/http, with no goroutine per connection: the connection engine
// under package hub's fan-out.
//
// A stream is adopted once its response headers (and any replay) are
// written: from then on an Engine writes it, in HTTP/1.1 chunked encoding,
// from its Queue. A poller (epoll) notices when a client leaves and when a
// full socket has room again; flushers write, in rounds, the streams the
// fan-out marked; a few writers write the streams whose sockets have room
// again; one sweeper sends heartbeats and enforces deadlines. No write
// ever waits for a client: what a socket does not take stays pending until
// the poller reports room, and meanwhile the stream's updates wait in its
// own queue, whose limits end it if it falls too far behind. An idle
// stream costs its connection and a few hundred bytes.
//
// A flusher makes one writev(2) per stream (Config.Writer WriterEpoll),
// or submits its round's writes in batches through io_uring
// (WriterIOURing), one system call per batch instead of one per stream:
// where each system call is costly (under a hypervisor), most of a hub's
// CPU goes to those. Either way each write takes what the socket has room
// for at once and never waits.
//
// Policy holds the rules both serving modes follow (batching, heartbeats,
// when a client is too slow), for the streams an Engine serves and for
// those package hub serves from a goroutine each (HTTP/2).
//
// Under TLS, a stream is detached when the TLS connection is layered on
// one TLSListener accepted: the engine has TLS seal each chunk into
// records kept in memory, then writes those as it writes a plain chunk.
// An idle stream then also keeps its TLS connection's state (its keys and
// the buffers crypto/tls keeps from the handshake, about 6 KiB).
package detach
