package natslog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultRetain is how many updates the stream keeps when no retain count
// is given.
const DefaultRetain = 100_000

// publishTimeout bounds one append, so a stalled server fails it quickly.
const publishTimeout = 3 * time.Second

// Headers carrying an update's fields; the data is the message body. The
// id and the type are percent-encoded (as in a URL path): header values
// lose their leading and trailing white space on the way, and an id may
// have some.
const (
	hID      = "Herald-Id"
	hTopics  = "Herald-Topics"
	hType    = "Herald-Type"
	hRetry   = "Herald-Retry"
	hPrivate = "Herald-Private"
	hTime    = "Herald-Time"
)

// Options configures a Log. Zero values mean the documented defaults.
type Options struct {
	// Stream is the JetStream stream name; its subjects are Stream + ".>".
	// Overrides the URL's stream parameter. Default "HERALD".
	Stream string
	// Retain is how many updates the stream keeps. Default DefaultRetain
	// (or the URL's retain parameter).
	Retain int
	// RetainAge, if set, drops updates older than it.
	RetainAge time.Duration
	// Logger receives connection logs. Default slog.Default().
	Logger *slog.Logger
}

// Log is an eventlog.Log on a JetStream stream.
type Log struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	name   string
	logger *slog.Logger

	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	tails  sync.WaitGroup
}

var _ eventlog.Log = (*Log)(nil)
var _ eventlog.Pinger = (*Log)(nil)

// Open connects to the NATS server named by rawURL and creates the stream,
// or updates its limits if it exists:
//
//	nats://[USER:PASSWORD@]HOST:PORT?stream=NAME&retain=N&retain_age=DURATION
//
// (tls:// for TLS; a token as the URL's user). stream is the stream name
// (default "HERALD"; letters, digits, '-' and '_'), retain how many updates
// it keeps (default DefaultRetain), retain_age, a Go duration such as
// "24h", how long it keeps them (default: no limit); Options override all
// three. Any other query parameter is an error. Every node on the stream
// should use the same limits: the last to open sets them. A server that
// does not answer gives an error wrapping eventlog.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts Options) (*Log, error) {
	server, opts, err := parseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	l := &Log{name: opts.Stream, logger: opts.Logger}
	l.nc, err = nats.Connect(server,
		nats.Name("herald"),
		nats.Timeout(2*time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(-1), // fail publications while disconnected
		// Notice a server that stopped answering within about 20 seconds.
		nats.PingInterval(10*time.Second),
		nats.MaxPingsOutstanding(2),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				opts.Logger.Warn("nats log disconnected", "stream", opts.Stream, "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			opts.Logger.Info("nats log reconnected", "stream", opts.Stream)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("natslog: connect to %s: %w", redacted(server), unavailable(err))
	}
	if l.js, err = jetstream.New(l.nc); err != nil {
		l.nc.Close()
		return nil, err
	}
	l.stream, err = l.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        opts.Stream,
		Subjects:    []string{opts.Stream + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxMsgs:     int64(opts.Retain),
		MaxAge:      opts.RetainAge,
		AllowDirect: true,
	})
	if err != nil {
		l.nc.Close()
		return nil, fmt.Errorf("natslog: create stream %s (is JetStream enabled? nats-server -js): %w", opts.Stream, err)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// parseURL reads Open's URL: the server URL to dial (without the query)
// and opts with every default applied.
func parseURL(rawURL string, opts Options) (string, Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", opts, fmt.Errorf("natslog: URL: %w", err)
	}
	switch u.Scheme {
	case "nats", "tls":
	default:
		return "", opts, fmt.Errorf("natslog: URL %q: the scheme must be nats or tls", u.Redacted())
	}
	if u.Host == "" {
		return "", opts, fmt.Errorf("natslog: URL %q: no host", u.Redacted())
	}
	q := u.Query()
	for k := range q {
		switch k {
		case "stream", "retain", "retain_age":
		default:
			return "", opts, fmt.Errorf("natslog: URL %q: unknown parameter %q (stream, retain and retain_age are known)", u.Redacted(), k)
		}
	}
	if opts.Stream == "" {
		opts.Stream = q.Get("stream")
	}
	if opts.Stream == "" {
		opts.Stream = "HERALD"
	}
	if !validStreamName(opts.Stream) {
		return "", opts, fmt.Errorf("natslog: stream name %q: use 1 to 200 letters, digits, '-' and '_'", opts.Stream)
	}
	if opts.Retain <= 0 && q.Has("retain") {
		if opts.Retain, err = strconv.Atoi(q.Get("retain")); err != nil || opts.Retain <= 0 {
			return "", opts, fmt.Errorf("natslog: URL %q: retain must be a positive integer", u.Redacted())
		}
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.RetainAge <= 0 && q.Has("retain_age") {
		if opts.RetainAge, err = time.ParseDuration(q.Get("retain_age")); err != nil || opts.RetainAge <= 0 {
			return "", opts, fmt.Errorf("natslog: URL %q: retain_age must be a positive duration such as 24h", u.Redacted())
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String(), opts, nil
}

// validStreamName reports whether name can name the stream and prefix its
// subjects.
func validStreamName(name string) bool {
	if name == "" || len(name) > 200 {
		return false
	}
	for _, r := range name {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// redacted is server without its password, for messages.
func redacted(server string) string {
	if u, err := url.Parse(server); err == nil {
		return u.Redacted()
	}
	return "the server"
}

func unavailable(err error) error {
	return fmt.Errorf("%w: nats: %v", eventlog.ErrUnavailable, err)
}

// pingTimeout bounds Ping, so that a readiness check answers quickly even
// when the server has stopped answering without closing the connection.
const pingTimeout = 2 * time.Second

// Ping reports whether the server answers and serves the stream, within
// two seconds at most.
func (l *Log) Ping(ctx context.Context) error {
	if !l.nc.IsConnected() {
		return unavailable(nats.ErrConnectionClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if _, err := l.stream.Info(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

// subject is where the update with id is published: a hash keeps any id
// within the characters a subject token allows.
func (l *Log) subject(id string) string {
	h := sha256.Sum256([]byte(id))
	return l.name + "." + base64.RawURLEncoding.EncodeToString(h[:])
}

// Append stores u; see the package documentation.
func (l *Log) Append(ctx context.Context, u eventlog.Update) (eventlog.Update, error) {
	if l.closed.Load() {
		return eventlog.Update{}, eventlog.ErrClosed
	}
	if err := eventlog.CheckID(u.ID); err != nil {
		return eventlog.Update{}, err
	}
	if u.ID == "" {
		u.ID = eventlog.NewID()
	}
	u.Time = time.Unix(0, time.Now().UnixNano())
	u.Retry = u.Retry.Truncate(time.Millisecond)
	u.Topics = append([]string(nil), u.Topics...)
	msg := nats.NewMsg(l.subject(u.ID))
	msg.Data = []byte(u.Data)
	msg.Header = encodeHeader(u)
	var opts []jetstream.PublishOpt
	if !u.ReuseID {
		// The id's subject must hold no message: the id is not retained.
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(0))
	}
	u.ReuseID = false
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := l.js.PublishMsg(pctx, msg, opts...)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return eventlog.Update{}, fmt.Errorf("%w: %q", eventlog.ErrDuplicateID, u.ID)
		}
		if ctx.Err() != nil {
			return eventlog.Update{}, ctx.Err()
		}
		return eventlog.Update{}, unavailable(err)
	}
	u.Seq = ack.Sequence
	return u, nil
}

// Since replays the retained updates after id's first retained
// occurrence (the first message on id's subject); see eventlog.Log.
//
// The replay starts at id's own message, to check in the same read that
// retention has not removed it meanwhile, and checks that sequences follow
// one another: if retention overtakes the replay, Since returns an error
// wrapping eventlog.ErrUnknownID instead of skipping updates silently
// (before calling fn, if id's message was already gone). The Topics
// slices passed to fn are the caller's to keep.
func (l *Log) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (eventlog.Update, error) {
	if l.closed.Load() {
		return eventlog.Update{}, eventlog.ErrClosed
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return eventlog.Update{}, l.failed(ctx, err)
	}
	end := info.State.LastSeq
	start, skip := info.State.FirstSeq, false
	var from eventlog.Update
	if id != eventlog.Earliest {
		m, err := l.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(l.subject(id)))
		if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && headerID(m.Header) != id) {
			return eventlog.Update{}, fmt.Errorf("%w: %q", eventlog.ErrUnknownID, id)
		}
		if err != nil {
			return eventlog.Update{}, l.failed(ctx, err)
		}
		if from, err = decodeHeader(m.Sequence, m.Header, m.Data, m.Time); err != nil {
			return eventlog.Update{}, err
		}
		start, skip = m.Sequence, true
	}
	if info.State.Msgs == 0 || start > end || (skip && start == end) {
		return from, nil
	}
	if err := l.read(ctx, id, start, end, skip, fn); err != nil {
		return eventlog.Update{}, err
	}
	return from, nil
}

// replayIdle is how long a replay waits for the next message before it
// checks whether retention removed it.
const replayIdle = time.Second

// replayStalls is how many idle waits in a row a replay sits through,
// while the stream still holds the message it waits for, before it gives
// up with ErrUnavailable.
const replayStalls = 10

// read delivers the stream from sequence start through end with an ordered
// consumer, until fn returns false or ctx is done. With skip, the message
// at start is id's, checked for and not delivered.
func (l *Log) read(ctx context.Context, id string, start, end uint64, skip bool, fn func(eventlog.Update) bool) error {
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return l.failed(ctx, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(int(min(end-start+1, readAhead))))
	if err != nil {
		l.dropConsumer(ctx, cons)
		return l.failed(ctx, err)
	}
	defer l.dropConsumer(ctx, cons)
	defer it.Stop()
	overtaken := func(seq uint64) error {
		return fmt.Errorf("%w: replay after %q overtaken by retention at sequence %d", eventlog.ErrUnknownID, id, seq)
	}
	for next, stalls := start, 0; next <= end; {
		nctx, cancel := context.WithTimeout(ctx, replayIdle)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if nctx.Err() == nil {
				return l.failed(ctx, err)
			}
			// Nothing came: the message may have been removed, and the
			// consumer waits for later ones.
			info, err := l.stream.Info(ctx)
			if err != nil {
				return l.failed(ctx, err)
			}
			if info.State.FirstSeq > next {
				return overtaken(next)
			}
			if stalls++; stalls == replayStalls {
				return unavailable(fmt.Errorf("replay stalled at sequence %d", next))
			}
			continue
		}
		stalls = 0
		u, err := decode(msg)
		if err != nil {
			return err
		}
		if u.Seq != next {
			return overtaken(next)
		}
		next++
		if skip && u.Seq == start {
			continue
		}
		if !fn(u) {
			return nil
		}
	}
	return nil
}

// readAhead is how many messages a replay's consumer fetches ahead of fn.
const readAhead = 256

// dropConsumer removes the server's consumer behind cons, which would
// otherwise linger until its inactivity threshold (minutes), one for every
// replay and tail.
func (l *Log) dropConsumer(ctx context.Context, cons jetstream.Consumer) {
	info := cons.CachedInfo()
	if info == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := l.js.DeleteConsumer(ctx, l.name, info.Name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		l.logger.Debug("nats log consumer left to expire", "stream", l.name, "consumer", info.Name, "err", err)
	}
}

// failed classifies the error of a request made for ctx: the context's own
// error if it ended, otherwise eventlog.ErrUnavailable.
func (l *Log) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return unavailable(err)
}

// Follow tails the stream from its current end; see eventlog.Log.
func (l *Log) Follow(ctx context.Context, fn func(eventlog.Update)) (<-chan struct{}, error) {
	if l.closed.Load() {
		return nil, eventlog.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, l.failed(ctx, err)
	}
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   info.State.LastSeq + 1,
	})
	if err != nil {
		return nil, l.failed(ctx, err)
	}
	it, err := cons.Messages()
	if err != nil {
		l.dropConsumer(ctx, cons)
		return nil, l.failed(ctx, err)
	}
	done := make(chan struct{})
	tctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	// Stopping the iterator also ends a consumer reset that is waiting for
	// the server, which the context alone would not interrupt.
	stopIt := context.AfterFunc(tctx, it.Stop)
	l.tails.Add(1)
	go func() {
		defer l.tails.Done()
		defer close(done)
		defer stop()
		defer stopIt()
		defer cancel()
		defer l.dropConsumer(tctx, cons)
		defer it.Stop()
		l.tail(tctx, it, info.State.LastSeq, fn)
	}()
	return done, nil
}

// tail delivers the iterator's messages, those after sequence last, until
// ctx is done. The ordered consumer resumes after the last message it
// delivered when the connection comes back.
func (l *Log) tail(ctx context.Context, it jetstream.MessagesContext, last uint64, fn func(eventlog.Update)) {
	backoff := 50 * time.Millisecond
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			l.logger.Warn("nats log tail interrupted; the ordered consumer resumes", "stream", l.name, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		u, err := decode(msg)
		if err != nil {
			l.logger.Error("nats log message cannot be read; skipped", "stream", l.name, "err", err)
			continue
		}
		if u.Seq > last+1 {
			l.logger.Error("nats log tail resumed after retention dropped updates it had not delivered", "stream", l.name, "from", last+1, "to", u.Seq-1)
		}
		last = u.Seq
		fn(u)
	}
}

// Close stops every tail and closes the connection.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.cancel()
	l.tails.Wait()
	l.nc.Close()
	return nil
}

// DeleteStream removes the stream (for tests and tools).
func (l *Log) DeleteStream(ctx context.Context) error {
	return l.js.DeleteStream(ctx, l.name)
}

// encodeHeader returns the headers that carry u's fields but its data.
func encodeHeader(u eventlog.Update) nats.Header {
	h := nats.Header{}
	topics, _ := json.Marshal(u.Topics)
	h.Set(hID, url.PathEscape(u.ID))
	h.Set(hTopics, string(topics))
	h.Set(hTime, strconv.FormatInt(u.Time.UnixNano(), 10))
	if u.Type != "" {
		h.Set(hType, url.PathEscape(u.Type))
	}
	if u.Retry > 0 {
		h.Set(hRetry, strconv.FormatInt(u.Retry.Milliseconds(), 10))
	}
	if u.Private {
		h.Set(hPrivate, "1")
	}
	return h
}

// headerID is the id in h, or "" if it has none that decodes.
func headerID(h nats.Header) string {
	id, err := url.PathUnescape(h.Get(hID))
	if err != nil {
		return ""
	}
	return id
}

// decode turns a stream message into an update.
func decode(msg jetstream.Msg) (eventlog.Update, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return eventlog.Update{}, fmt.Errorf("natslog: message: %w", err)
	}
	return decodeHeader(meta.Sequence.Stream, msg.Headers(), msg.Data(), meta.Timestamp)
}

// decodeHeader rebuilds the update stored at seq from its headers and
// data; stamp, the server's time of the message, stands in for a missing
// time header.
func decodeHeader(seq uint64, h nats.Header, data []byte, stamp time.Time) (eventlog.Update, error) {
	u := eventlog.Update{Seq: seq, Data: string(data), Private: h.Get(hPrivate) == "1", Time: stamp}
	var err error
	if u.ID, err = url.PathUnescape(h.Get(hID)); err != nil || u.ID == "" {
		return eventlog.Update{}, fmt.Errorf("natslog: message %d: no valid id", seq)
	}
	if u.Type, err = url.PathUnescape(h.Get(hType)); err != nil {
		return eventlog.Update{}, fmt.Errorf("natslog: message %d: type: %w", seq, err)
	}
	if err := json.Unmarshal([]byte(h.Get(hTopics)), &u.Topics); err != nil {
		return eventlog.Update{}, fmt.Errorf("natslog: message %d: topics: %w", seq, err)
	}
	if ns, err := strconv.ParseInt(h.Get(hTime), 10, 64); err == nil {
		u.Time = time.Unix(0, ns)
	}
	if ms, err := strconv.ParseInt(h.Get(hRetry), 10, 64); err == nil && ms > 0 && ms <= math.MaxInt64/int64(time.Millisecond) {
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}
