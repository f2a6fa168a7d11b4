package loadgen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldhub/herald/sse"
)

// Config describes one run. Zero values mean the defaults in comments.
type Config struct {
	// SubscribeURL is the stream every subscriber opens.
	SubscribeURL string
	// Subscribers is how many streams to open. Default 100.
	Subscribers int
	// Updates is how many updates to publish; 0 with Idle measures idle
	// memory only.
	Updates int
	// Rate is updates published per second. Default 100.
	Rate float64
	// Size pads each update's data to this many bytes. Default 64.
	Size int
	// Publish sends one update whose data is data.
	Publish func(ctx context.Context, data string) error
	// PublishUpdates, if set, publishes the run's updates (as
	// PublishUpdates does) instead of Run, from elsewhere: herald bench
	// runs it in a process of its own, where the subscribers' goroutines
	// cannot delay publications. Publish still sends the warm-up updates.
	PublishUpdates func(ctx context.Context) (*Publication, error)
	// Idle, if set, waits this long with every subscriber connected before
	// publishing, and reports the server's memory per subscriber.
	Idle time.Duration
	// PID, if set, is the server process to measure.
	PID int
	// SourceAddrs are the loopback addresses connections come from, in
	// turn, PerSource connections each (default 127.0.0.2… as needed, 10,000
	// each).
	SourceAddrs []string
	PerSource   int
	// Drain is how long to wait for the last deliveries after the last
	// publication. Default 10s.
	Drain time.Duration
	// MaxDuration bounds the whole run. Default 5m.
	MaxDuration time.Duration
	// AllowRemote permits targets that are not on loopback.
	AllowRemote bool
	// ConnectRate bounds new connections per second. Default 5,000.
	ConnectRate float64
	// Reader is how subscribers' streams are read: ReaderGoroutines (a
	// goroutine and a buffered decoder per connection), ReaderEpoll (a
	// few goroutines, each owning an epoll set of raw sockets, parsing in
	// place; Linux only) or ReaderUring (ReaderEpoll reading the sockets
	// each wait found readable with one io_uring submission instead of a
	// read(2) each; ReaderEpoll where io_uring is unavailable, and the
	// report says so). Default ReaderUring on Linux: at one server write
	// per delivery, one system call per wait instead of one per readable
	// socket costs the generator about a fifth less CPU per delivery.
	Reader string
	// ReaderWorkers is how many goroutines ReaderEpoll and ReaderUring
	// read with.
	// Default half of GOMAXPROCS, at least 1: the fewer, the more sockets
	// each wait finds readable.
	ReaderWorkers int
	// TLS configures the ReaderHTTP client's TLS (for https URLs), HTTP2
	// makes it ask for HTTP/2, and StreamsPerConn is how many HTTP/2
	// streams share a connection (default 1).
	TLS            *tls.Config
	HTTP2          bool
	StreamsPerConn int
	// ReaderCoalesce, with ReaderEpoll or ReaderUring, is how long a reading goroutine
	// sleeps after a wait that found few sockets readable, so that its
	// next wait finds more: fewer system calls per delivery, latencies up
	// to this much longer. Default 0.
	ReaderCoalesce time.Duration
	// ServerWrites, if set, reads the server's count of writes to streams
	// (Herald's herald_stream_writes_total), before publishing and after
	// the drain, to report how many writes the deliveries took.
	ServerWrites func(ctx context.Context) (float64, error)
}

// Report is a run's outcome.
type Report struct {
	Subscribers   int `json:"subscribers"`
	Connected     int `json:"connected"`
	ConnectFailed int `json:"connect_failed"`
	// ConnectError is the first failed subscription's error.
	ConnectError string `json:"connect_error,omitempty"`
	Updates      int    `json:"updates"`
	Publication
	Deliveries  int64   `json:"deliveries"`
	Expected    int64   `json:"expected"`
	Lost        int64   `json:"lost"`
	Duplicated  int64   `json:"duplicated"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"deliveries_per_second"`
	OfferedRate float64 `json:"offered_rate"`
	P50ms       float64 `json:"p50_ms"`
	P90ms       float64 `json:"p90_ms"`
	P99ms       float64 `json:"p99_ms"`
	MaxMs       float64 `json:"max_ms"`
	// Server measurements, with PID. CPU is counted from when every
	// subscriber is connected (and the idle spell, if any, is over) to the
	// end of the drain.
	ServerPeakRSSKB     int64   `json:"server_peak_rss_kb,omitempty"`
	ServerCPUSeconds    float64 `json:"server_cpu_seconds,omitempty"`
	ServerUserSeconds   float64 `json:"server_user_seconds,omitempty"`
	ServerSystemSeconds float64 `json:"server_system_seconds,omitempty"`
	ServerCPUPerDeliver float64 `json:"server_cpu_us_per_delivery,omitempty"`
	IdleRSSBeforeKB     int64   `json:"idle_rss_before_kb,omitempty"`
	IdleRSSAfterKB      int64   `json:"idle_rss_after_kb,omitempty"`
	IdleKBPerSubscriber float64 `json:"idle_kb_per_subscriber,omitempty"`
	// With ServerWrites: the server's writes to streams while publishing,
	// and per delivery (below 1 when updates shared writes).
	ServerWrites      float64 `json:"server_writes,omitempty"`
	WritesPerDelivery float64 `json:"server_writes_per_delivery,omitempty"`
	// The generator's own CPU time (this process, getrusage), over the
	// same interval as the server's, and per delivery.
	Reader                 string  `json:"reader"`
	GeneratorUserSeconds   float64 `json:"generator_user_seconds"`
	GeneratorSystemSeconds float64 `json:"generator_system_seconds"`
	GeneratorCPUSeconds    float64 `json:"generator_cpu_seconds"`
	GeneratorCPUPerDeliver float64 `json:"generator_cpu_us_per_delivery,omitempty"`
}

// The ways Run reads streams (Config.Reader).
const (
	ReaderGoroutines = "goroutines"
	ReaderEpoll      = "epoll"
	ReaderUring      = "uring"
)

// Loopback reports whether rawURL's host is a loopback address.
func Loopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("invalid URL %q", rawURL)
	}
	ips, err := net.LookupIP(u.Hostname())
	if err != nil {
		return fmt.Errorf("resolve %s: %w", u.Hostname(), err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("%s resolves to %s, which is not a loopback address: load tests target this machine only (--allow-remote to override)", u.Hostname(), ip)
		}
	}
	return nil
}

// sub is one subscriber's tally.
type sub struct {
	seen  []uint64 // bit n is set once update n arrived
	dups  int64
	count int64
}

// newSub returns the tally of a subscriber to a run of n updates.
func newSub(n int) *sub { return &sub{seen: make([]uint64, (n+63)/64)} }

// tally counts the delivery of update seq, and whether it is a duplicate.
// Order does not matter: concurrent publishers' updates may arrive in any.
func (s *sub) tally(seq int64) {
	s.count++
	if seq < 0 || seq >= int64(len(s.seen))*64 {
		return
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if s.seen[word]&bit != 0 {
		s.dups++
	}
	s.seen[word] |= bit
}

// setDefaults fills in cfg's unset fields and refuses a target off the
// loopback unless cfg allows it.
func (cfg *Config) setDefaults() error {
	orDefault(&cfg.Subscribers, 100)
	orDefault(&cfg.Rate, 100)
	if cfg.Size < 32 {
		cfg.Size = 64
	}
	orDefault(&cfg.Drain, 10*time.Second)
	orDefault(&cfg.MaxDuration, 5*time.Minute)
	orDefault(&cfg.PerSource, 10000)
	orDefault(&cfg.ConnectRate, 5000)
	orDefault(&cfg.ReaderWorkers, max(1, runtime.GOMAXPROCS(0)/2))
	if cfg.Reader == "" {
		cfg.Reader = defaultReader
	}
	if cfg.Reader != ReaderGoroutines && cfg.Reader != ReaderEpoll && cfg.Reader != ReaderUring && cfg.Reader != ReaderHTTP {
		return fmt.Errorf("unknown reader %q: %s, %s, %s or %s", cfg.Reader, ReaderEpoll, ReaderUring, ReaderGoroutines, ReaderHTTP)
	}
	if u, err := url.Parse(cfg.SubscribeURL); err == nil && u.Scheme == "https" && cfg.Reader != ReaderHTTP {
		return fmt.Errorf("the %s reader speaks plain HTTP/1.1: read https streams with the %s reader", cfg.Reader, ReaderHTTP)
	}
	if !cfg.AllowRemote {
		return Loopback(cfg.SubscribeURL)
	}
	return nil
}

// awaitConnected waits for each of cfg.Subscribers to report on ready
// (connected, or failed). Some servers send no response headers until
// their first event: it nudges them with warm-up updates (which the tally
// ignores) while waiting.
func awaitConnected(ctx context.Context, cfg Config, ready <-chan struct{}) error {
	nudge := time.NewTicker(2 * time.Second)
	defer nudge.Stop()
	for n := 0; n < cfg.Subscribers; {
		select {
		case <-ready:
			n++
		case <-nudge.C:
			cfg.Publish(ctx, "warm-up")
		case <-ctx.Done():
			return fmt.Errorf("subscribers did not connect within the time limit")
		}
	}
	return nil
}

// holdIdle keeps the connected subscribers idle for cfg.Idle and records
// the server's memory per subscriber in rep.
func holdIdle(ctx context.Context, cfg Config, rep *Report, rssBefore int64) {
	select {
	case <-time.After(cfg.Idle):
	case <-ctx.Done():
	}
	if cfg.PID > 0 {
		rep.IdleRSSBeforeKB, rep.IdleRSSAfterKB = rssBefore, rssKB(cfg.PID)
		if rep.Connected > 0 {
			rep.IdleKBPerSubscriber = float64(rep.IdleRSSAfterKB-rssBefore) / float64(rep.Connected)
		}
	}
}

// publish publishes the run's updates at the offered rate, with
// cfg.PublishUpdates if set.
func (cfg *Config) publish(ctx context.Context) (*Publication, error) {
	if cfg.PublishUpdates == nil {
		return PublishUpdates(ctx, cfg.Updates, cfg.Rate, cfg.Size, cfg.Publish), nil
	}
	pub, err := cfg.PublishUpdates(ctx)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return pub, nil
}

// Run performs the run described by cfg.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	raiseFileLimit()
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()
	u, err := url.Parse(cfg.SubscribeURL)
	if err != nil {
		return nil, err
	}
	rep := &Report{Subscribers: cfg.Subscribers, Updates: cfg.Updates, OfferedRate: cfg.Rate, Reader: cfg.Reader}
	var hist histogram
	var deliveries atomic.Int64
	subs := make([]*sub, cfg.Subscribers)
	var connected, failed atomic.Int64
	var firstConnectErr sync.Once
	ready := make(chan struct{}, cfg.Subscribers)
	var wg sync.WaitGroup
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer func() { stopStreams(); wg.Wait() }()

	var rssBefore int64
	if cfg.PID > 0 {
		rssBefore = rssKB(cfg.PID)
	}
	cpuBefore, selfBefore := cpuSeconds(cfg.PID), selfCPU()
	peak := startPeakSampler(streamCtx, cfg.PID, &wg)
	start := time.Now()
	fail := func(err error) {
		firstConnectErr.Do(func() { rep.ConnectError = err.Error() })
		failed.Add(1)
		ready <- struct{}{}
	}
	rd, err := newReaders(cfg, &hist, &deliveries, ready, fail)
	if err != nil {
		return nil, err
	}
	defer rd.close()
	rep.Reader = rd.name()
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.ConnectRate))
	for i := range subs {
		subs[i] = newSub(cfg.Updates)
		src := sourceAddr(cfg.SourceAddrs, cfg.PerSource, i)
		wg.Add(1)
		go func(i int, s *sub) {
			defer wg.Done()
			err := rd.open(streamCtx, i, u, src, s)
			if err != nil && streamCtx.Err() == nil {
				fail(err)
			}
		}(i, subs[i])
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	tick.Stop()
	if err := awaitConnected(ctx, cfg, ready); err != nil {
		return nil, err
	}
	rep.ConnectFailed = int(failed.Load())
	connected.Store(int64(cfg.Subscribers) - failed.Load())
	rep.Connected = int(connected.Load())
	if rep.Connected == 0 {
		return nil, fmt.Errorf("no subscriber could connect to %s: %s", cfg.SubscribeURL, rep.ConnectError)
	}
	if cfg.Idle > 0 {
		holdIdle(ctx, cfg, rep, rssBefore)
	}
	// CPU counts from here: what the server and the generator spend on
	// delivering, not on accepting and opening the connections.
	cpuBefore, selfBefore = cpuSeconds(cfg.PID), selfCPU()

	writesBefore, writesErr := serverWrites(ctx, cfg)

	// Publish at the offered rate.
	pubStart := time.Now()
	pub, err := cfg.publish(ctx)
	if err != nil {
		return nil, err
	}
	rep.Publication = *pub
	// Wait for every delivery, or the drain time.
	want := int64(rep.Published) * int64(rep.Connected)
	drainEnd := time.Now().Add(cfg.Drain)
	for deliveries.Load() < want && time.Now().Before(drainEnd) && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	rep.Seconds = time.Since(pubStart).Seconds()
	if cfg.Updates == 0 {
		rep.Seconds = time.Since(start).Seconds()
	}
	cpuAfter, selfAfter := cpuSeconds(cfg.PID), selfCPU()
	writesAfter, err := serverWrites(ctx, cfg)
	writesErr = errors.Join(writesErr, err)
	stopStreams()
	wg.Wait()
	rd.close()

	rep.Deliveries = deliveries.Load()
	rep.Expected = want
	for _, s := range subs {
		rep.Duplicated += s.dups
	}
	rep.Lost = max(0, want-(rep.Deliveries-rep.Duplicated))
	if rep.Seconds > 0 {
		rep.PerSecond = float64(rep.Deliveries) / rep.Seconds
	}
	rep.P50ms, rep.P90ms, rep.P99ms = ms(hist.quantile(.5)), ms(hist.quantile(.9)), ms(hist.quantile(.99))
	rep.MaxMs = ms(time.Duration(hist.max.Load()))
	if cfg.ServerWrites != nil && writesErr == nil && rep.Deliveries > 0 {
		rep.ServerWrites = writesAfter - writesBefore
		rep.WritesPerDelivery = rep.ServerWrites / float64(rep.Deliveries)
	}
	rep.generatorCPU(selfBefore, selfAfter)
	if cfg.PID > 0 {
		rep.ServerPeakRSSKB = peak()
		rep.ServerUserSeconds = cpuAfter.user - cpuBefore.user
		rep.ServerSystemSeconds = cpuAfter.system - cpuBefore.system
		rep.ServerCPUSeconds = rep.ServerUserSeconds + rep.ServerSystemSeconds
		if rep.Deliveries > 0 {
			rep.ServerCPUPerDeliver = rep.ServerCPUSeconds * 1e6 / float64(rep.Deliveries)
		}
	}
	return rep, nil
}

// orDefault sets *v to def if it is zero or less.
func orDefault[T int | float64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// sourceAddr returns the loopback address connection i comes from:
// addrs in turn (or 127.0.0.2, 127.0.0.3, …), perSource connections each.
func sourceAddr(addrs []string, perSource, i int) string {
	n := i / perSource
	if len(addrs) > 0 {
		return addrs[n%len(addrs)]
	}
	return fmt.Sprintf("127.0.0.%d", 2+n%250)
}

// stream opens one subscription and tallies what it receives until ctx
// ends. It signals ready once the response headers arrived.
func stream(ctx context.Context, u *url.URL, src string, s *sub, hist *histogram, deliveries *atomic.Int64, ready chan<- struct{}) error {
	dec, conn, err := openStream(ctx, u, src, "")
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	ready <- struct{}{}
	return tallyEvents(ctx, dec, s, hist, deliveries)
}

// tallyEvents reads dec's events until the stream or ctx ends, tallying
// each of PublishUpdates' updates in s, deliveries and hist.
func tallyEvents(ctx context.Context, dec *sse.Decoder, s *sub, hist *histogram, deliveries *atomic.Int64) error {
	for {
		ev, err := dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		seq, ts, ok := parseData(ev.Data)
		if !ok {
			continue // not one of ours
		}
		s.tally(seq)
		deliveries.Add(1)
		hist.add(now.Sub(time.Unix(0, ts)))
	}
}

// openStream dials u from the loopback source address src (when u is on
// loopback), sends a GET for an event stream, with a Last-Event-ID header
// if lastID is not empty, and returns a decoder of the stream once the
// response is a 200. The caller closes conn, which ends the stream.
func openStream(ctx context.Context, u *url.URL, src, lastID string) (*sse.Decoder, net.Conn, error) {
	// conn is not a named result: returning nil for it on a failure must
	// not change what the cancellation below closes.
	conn, err := dialStream(ctx, u, src, lastID)
	if err != nil {
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 2048), nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		conn.Close()
		return nil, nil, fmt.Errorf("subscribe: %s", resp.Status)
	}
	return sse.NewDecoderSize(resp.Body, 1024), conn, nil
}

// dialStream dials u from the loopback source address src (when u is on
// loopback) and sends a GET for an event stream, with a Last-Event-ID
// header if lastID is not empty.
func dialStream(ctx context.Context, u *url.URL, src, lastID string) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if ip := net.ParseIP(src); ip != nil && isLoopbackHost(u.Hostname()) {
		d.LocalAddr = &net.TCPAddr{IP: ip}
		d.Control = bindLate
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAccept: text/event-stream\r\n"
	if lastID != "" {
		req += "Last-Event-ID: " + lastID + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// parseData reads the sequence number and the Unix-nanosecond send time
// at the start of an update's data, as PublishUpdates writes them.
func parseData(data string) (seq, sentNanos int64, ok bool) {
	seqText, rest, _ := strings.Cut(data, " ")
	tsText, _, _ := strings.Cut(rest, " ")
	seq, err1 := strconv.ParseInt(seqText, 10, 64)
	sentNanos, err2 := strconv.ParseInt(tsText, 10, 64)
	return seq, sentNanos, err1 == nil && err2 == nil
}

// serverWrites reads the server's write counter, if the run has one.
func serverWrites(ctx context.Context, cfg Config) (float64, error) {
	if cfg.ServerWrites == nil {
		return 0, nil
	}
	return cfg.ServerWrites(ctx)
}

func isLoopbackHost(h string) bool {
	ip := net.ParseIP(h)
	return h == "localhost" || (ip != nil && ip.IsLoopback())
}

// raiseFileLimit lifts the soft open-file limit to the hard one.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// FileLimit returns the process's open-file limit.
func FileLimit() uint64 {
	var l syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// generatorCPU records the generator's own CPU between before and after,
// in all and per delivery.
func (rep *Report) generatorCPU(before, after cpuTime) {
	rep.GeneratorUserSeconds = after.user - before.user
	rep.GeneratorSystemSeconds = after.system - before.system
	rep.GeneratorCPUSeconds = rep.GeneratorUserSeconds + rep.GeneratorSystemSeconds
	if rep.Deliveries > 0 {
		rep.GeneratorCPUPerDeliver = rep.GeneratorCPUSeconds * 1e6 / float64(rep.Deliveries)
	}
}

// readers reads a run's streams the way cfg.Reader says: with an epoll
// reader, with HTTP clients (TLS, HTTP/2), or with a goroutine each.
type readers struct {
	cfg        Config
	er         *epollReader
	clients    []*streamClient
	hist       *histogram
	deliveries *atomic.Int64
	ready      chan<- struct{}
}

// newReaders sets up what cfg.Reader needs; fail reports a stream that
// could not open.
func newReaders(cfg Config, hist *histogram, deliveries *atomic.Int64, ready chan<- struct{}, fail func(error)) (*readers, error) {
	rd := &readers{cfg: cfg, hist: hist, deliveries: deliveries, ready: ready}
	switch cfg.Reader {
	case ReaderHTTP:
		rd.clients = httpClients(cfg)
	case ReaderEpoll, ReaderUring:
		er, err := newEpollReader(cfg.ReaderWorkers, cfg.Subscribers, cfg.Reader == ReaderUring, cfg.ReaderCoalesce, hist, deliveries, ready, fail)
		if err != nil {
			return nil, err
		}
		rd.er = er
	}
	return rd, nil
}

// name is the reader that reads the streams: cfg.Reader, except that the
// uring reader falls back to read(2), and says epoll, where io_uring is
// unavailable.
func (rd *readers) name() string {
	if rd.cfg.Reader == ReaderUring && !rd.er.usesRing() {
		return ReaderEpoll
	}
	return rd.cfg.Reader
}

// open opens subscriber i's stream from src and tallies it in s until
// ctx ends (with the epoll reader, it returns once the stream is handed
// over).
func (rd *readers) open(ctx context.Context, i int, u *url.URL, src string, s *sub) error {
	switch {
	case rd.clients != nil:
		group := i * len(rd.clients) / rd.cfg.Subscribers
		first := i == 0 || (i-1)*len(rd.clients)/rd.cfg.Subscribers != group
		return httpStream(ctx, rd.clients[group], first, u, s, rd.hist, rd.deliveries, rd.ready)
	case rd.er != nil:
		return rd.er.open(ctx, i, u, src, s)
	}
	return stream(ctx, u, src, s, rd.hist, rd.deliveries, rd.ready)
}

// close releases the readers' resources; it may be called again.
func (rd *readers) close() {
	for _, c := range rd.clients {
		c.CloseIdleConnections()
	}
	if rd.er != nil {
		rd.er.close()
	}
}
