package natslog

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
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

// Headers carrying an update's fields; the data is the message body.
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

// Open connects to the NATS server named by rawURL,
// "nats://HOST:PORT?stream=NAME&retain=N", and creates or updates the
// stream.
func Open(ctx context.Context, rawURL string, opts Options) (*Log, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("nats log URL %q: %w", rawURL, err)
	}
	q := u.Query()
	if opts.Stream == "" {
		opts.Stream = q.Get("stream")
	}
	if opts.Stream == "" {
		opts.Stream = "HERALD"
	}
	if opts.Retain <= 0 && q.Get("retain") != "" {
		if opts.Retain, err = strconv.Atoi(q.Get("retain")); err != nil || opts.Retain <= 0 {
			return nil, fmt.Errorf("nats log URL %q: retain must be a positive integer", rawURL)
		}
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u.RawQuery = ""
	l := &Log{name: opts.Stream, logger: opts.Logger}
	l.nc, err = nats.Connect(u.String(),
		nats.Name("herald"),
		nats.Timeout(2*time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ReconnectBufSize(-1), // fail publications while disconnected
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
		return nil, fmt.Errorf("nats log at %s: %w", u.Host, unavailable(err))
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
		return nil, fmt.Errorf("nats log: create stream %s (is JetStream enabled? nats-server -js): %w", opts.Stream, err)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

func unavailable(err error) error {
	return fmt.Errorf("%w: nats: %v", eventlog.ErrUnavailable, err)
}

// Ping reports whether the server answers.
func (l *Log) Ping(ctx context.Context) error {
	if !l.nc.IsConnected() {
		return unavailable(nats.ErrConnectionClosed)
	}
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
	topics, _ := json.Marshal(u.Topics)
	msg := nats.NewMsg(l.subject(u.ID))
	msg.Data = []byte(u.Data)
	msg.Header.Set(hID, u.ID)
	msg.Header.Set(hTopics, string(topics))
	msg.Header.Set(hTime, strconv.FormatInt(u.Time.UnixNano(), 10))
	if u.Type != "" {
		msg.Header.Set(hType, u.Type)
	}
	if u.Retry > 0 {
		msg.Header.Set(hRetry, strconv.FormatInt(u.Retry.Milliseconds(), 10))
	}
	if u.Private {
		msg.Header.Set(hPrivate, "1")
	}
	pctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	ack, err := l.js.PublishMsg(pctx, msg, jetstream.WithExpectLastSequencePerSubject(0))
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

// Since replays the retained updates after id; see eventlog.Log.
func (l *Log) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) error {
	if l.closed.Load() {
		return eventlog.ErrClosed
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return unavailable(err)
	}
	end := info.State.LastSeq
	start := info.State.FirstSeq
	if id != eventlog.Earliest {
		m, err := l.stream.GetLastMsgForSubject(ctx, l.subject(id))
		if errors.Is(err, jetstream.ErrMsgNotFound) || (err == nil && m.Header.Get(hID) != id) {
			return fmt.Errorf("%w: %q", eventlog.ErrUnknownID, id)
		}
		if err != nil {
			return unavailable(err)
		}
		start = m.Sequence + 1
	}
	if info.State.Msgs == 0 || start > end {
		return nil
	}
	return l.read(ctx, start, end, fn)
}

// read delivers the stream from sequence start through end with an ordered
// consumer, until fn returns false or ctx is done.
func (l *Log) read(ctx context.Context, start, end uint64, fn func(eventlog.Update) bool) error {
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
	})
	if err != nil {
		return unavailable(err)
	}
	it, err := cons.Messages()
	if err != nil {
		return unavailable(err)
	}
	defer it.Stop()
	for {
		// The messages up to end exist when the replay starts; a wait this
		// long means retention removed the rest meanwhile.
		nctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		msg, err := it.Next(jetstream.NextContext(nctx))
		cancel()
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return ctx.Err()
			case nctx.Err() != nil:
				return nil
			default:
				return unavailable(err)
			}
		}
		u, err := decode(msg)
		if err != nil {
			return err
		}
		if u.Seq > end || !fn(u) || u.Seq == end {
			return nil
		}
	}
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
		return nil, unavailable(err)
	}
	cons, err := l.js.OrderedConsumer(ctx, l.name, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   info.State.LastSeq + 1,
	})
	if err != nil {
		return nil, unavailable(err)
	}
	it, err := cons.Messages()
	if err != nil {
		return nil, unavailable(err)
	}
	done := make(chan struct{})
	tctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel)
	l.tails.Add(1)
	go func() {
		defer l.tails.Done()
		defer close(done)
		defer stop()
		defer cancel()
		defer it.Stop()
		for {
			msg, err := it.Next(jetstream.NextContext(tctx))
			if err != nil {
				if tctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
					return
				}
				l.logger.Warn("nats log tail interrupted; the ordered consumer resumes", "stream", l.name, "err", err)
				continue
			}
			u, err := decode(msg)
			if err != nil {
				l.logger.Error("nats log message cannot be read; skipped", "stream", l.name, "err", err)
				continue
			}
			fn(u)
		}
	}()
	return done, nil
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

// decode turns a stream message into an update.
func decode(msg jetstream.Msg) (eventlog.Update, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return eventlog.Update{}, fmt.Errorf("nats log message: %w", err)
	}
	h := msg.Headers()
	u := eventlog.Update{
		Seq:     meta.Sequence.Stream,
		ID:      h.Get(hID),
		Data:    string(msg.Data()),
		Type:    h.Get(hType),
		Private: h.Get(hPrivate) == "1",
	}
	if err := json.Unmarshal([]byte(h.Get(hTopics)), &u.Topics); err != nil {
		return eventlog.Update{}, fmt.Errorf("nats log message %d: topics: %w", u.Seq, err)
	}
	if ns, err := strconv.ParseInt(h.Get(hTime), 10, 64); err == nil {
		u.Time = time.Unix(0, ns)
	} else {
		u.Time = meta.Timestamp
	}
	if ms, err := strconv.ParseInt(h.Get(hRetry), 10, 64); err == nil {
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}
