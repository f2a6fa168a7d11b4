package redislog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/redis/go-redis/v9"
)

// DefaultRetain is how many updates a stream keeps when no retain count is
// given.
const DefaultRetain = 100_000

// Options configures a Log. Zero values mean the documented defaults.
type Options struct {
	// Stream is the stream key; its id index is Stream + ":ids".
	// Overrides the URL's stream parameter. Default "herald".
	Stream string
	// Retain is how many updates the stream keeps. Default DefaultRetain
	// (or the URL's retain parameter).
	Retain int
	// Logger receives the tails' reconnection logs. Default slog.Default().
	Logger *slog.Logger
}

// Log is an eventlog.Log on a Redis stream.
type Log struct {
	rdb    *redis.Client
	stream string
	ids    string
	retain int
	logger *slog.Logger

	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	tails  sync.WaitGroup
}

var _ eventlog.Log = (*Log)(nil)
var _ eventlog.Pinger = (*Log)(nil)

// Open connects to the Redis named by rawURL, "redis://HOST:PORT/DB?stream=NAME&retain=N"
// (rediss:// for TLS; user and password as in any Redis URL), and checks
// that it answers.
func Open(ctx context.Context, rawURL string, opts Options) (*Log, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis log URL %q: %w", rawURL, err)
	}
	q := u.Query()
	if opts.Stream == "" {
		opts.Stream = q.Get("stream")
	}
	if opts.Stream == "" {
		opts.Stream = "herald"
	}
	if opts.Retain <= 0 && q.Get("retain") != "" {
		if opts.Retain, err = strconv.Atoi(q.Get("retain")); err != nil || opts.Retain <= 0 {
			return nil, fmt.Errorf("redis log URL %q: retain must be a positive integer", rawURL)
		}
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	q.Del("stream")
	q.Del("retain")
	u.RawQuery = q.Encode()
	ro, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, fmt.Errorf("redis log URL %q: %w", rawURL, err)
	}
	ro.MaxRetries = -1 // a retried append could be stored twice
	ro.DialTimeout = time.Second
	ro.ReadTimeout = 2 * time.Second
	ro.WriteTimeout = 2 * time.Second
	ro.ContextTimeoutEnabled = true
	l := &Log{
		rdb:    redis.NewClient(ro),
		stream: opts.Stream,
		ids:    opts.Stream + ":ids",
		retain: opts.Retain,
		logger: opts.Logger,
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if err := l.Ping(ctx); err != nil {
		l.rdb.Close()
		return nil, fmt.Errorf("redis log at %s: %w", ro.Addr, err)
	}
	return l, nil
}

// Ping reports whether Redis answers.
func (l *Log) Ping(ctx context.Context) error {
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

// unavailable wraps a Redis error as eventlog.ErrUnavailable.
func unavailable(err error) error {
	return fmt.Errorf("%w: redis: %v", eventlog.ErrUnavailable, err)
}

// appendScript adds one entry unless its id is already retained, records
// the id, and trims the stream (and the index) to the retained count.
// KEYS: stream, ids. ARGV: retain, id, then the entry's field/value pairs.
var appendScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  return redis.error_reply('DUPLICATE')
end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
local entry = redis.call('XADD', KEYS[1], '*', unpack(fields))
redis.call('HSET', KEYS[2], ARGV[2], entry)
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
  for _, e in ipairs(old) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'id' then redis.call('HDEL', KEYS[2], f[j + 1]) end
    end
    redis.call('XDEL', KEYS[1], e[1])
  end
end
return entry
`)

// Append stores u atomically; see the package documentation.
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
	topics, _ := json.Marshal(u.Topics)
	private := "0"
	if u.Private {
		private = "1"
	}
	args := []any{l.retain, u.ID,
		"id", u.ID, "topics", topics, "data", u.Data, "type", u.Type,
		"retry", int64(u.Retry / time.Millisecond), "private", private}
	entry, err := appendScript.Run(ctx, l.rdb, []string{l.stream, l.ids}, args...).Text()
	if err != nil {
		if strings.Contains(err.Error(), "DUPLICATE") {
			return eventlog.Update{}, fmt.Errorf("%w: %q", eventlog.ErrDuplicateID, u.ID)
		}
		if ctx.Err() != nil {
			return eventlog.Update{}, ctx.Err()
		}
		return eventlog.Update{}, unavailable(err)
	}
	seq, t, err := parseEntryID(entry)
	if err != nil {
		return eventlog.Update{}, err
	}
	u.Seq, u.Time = seq, t
	u.Retry = u.Retry.Truncate(time.Millisecond)
	u.Topics = append([]string(nil), u.Topics...)
	return u, nil
}

// readChunk is how many entries one XRANGE or XREAD returns.
const readChunk = 256

// Since replays the retained updates after id; see eventlog.Log.
func (l *Log) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) error {
	if l.closed.Load() {
		return eventlog.ErrClosed
	}
	start := "-"
	if id != eventlog.Earliest {
		entry, err := l.rdb.HGet(ctx, l.ids, id).Result()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("%w: %q", eventlog.ErrUnknownID, id)
		}
		if err != nil {
			return unavailable(err)
		}
		start = "(" + entry
	}
	last, err := l.rdb.XRevRangeN(ctx, l.stream, "+", "-", 1).Result()
	if err != nil {
		return unavailable(err)
	}
	if len(last) == 0 {
		return nil
	}
	end := last[0].ID
	for {
		msgs, err := l.rdb.XRangeN(ctx, l.stream, start, end, readChunk).Result()
		if err != nil {
			return unavailable(err)
		}
		for _, m := range msgs {
			u, err := decode(m)
			if err != nil {
				return err
			}
			if !fn(u) {
				return nil
			}
		}
		if len(msgs) < readChunk {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
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
	last, err := l.rdb.XRevRangeN(ctx, l.stream, "+", "-", 1).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	pos := "0-0"
	if len(last) > 0 {
		pos = last[0].ID
	}
	done := make(chan struct{})
	tctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.ctx, cancel) // Close stops every tail
	l.tails.Add(1)
	go func() {
		defer l.tails.Done()
		defer close(done)
		defer stop()
		defer cancel()
		l.tail(tctx, pos, fn)
	}()
	return done, nil
}

// tail delivers entries after pos until ctx is done, riding out outages.
func (l *Log) tail(ctx context.Context, pos string, fn func(eventlog.Update)) {
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		res, err := l.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{l.stream, pos},
			Count:   readChunk,
			Block:   time.Second,
		}).Result()
		if errors.Is(err, redis.Nil) {
			continue // nothing new within the block time
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			l.logger.Warn("redis log tail interrupted; retrying", "stream", l.stream, "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		for _, s := range res {
			for _, m := range s.Messages {
				u, err := decode(m)
				if err != nil {
					l.logger.Error("redis log entry cannot be read; skipped", "stream", l.stream, "entry", m.ID, "err", err)
				} else {
					fn(u)
				}
				pos = m.ID
			}
		}
	}
}

// Close stops every tail and closes the connection pool.
func (l *Log) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return nil
	}
	l.cancel()
	l.tails.Wait()
	return l.rdb.Close()
}

// DeleteStream removes the stream and its index (for tests and tools).
func (l *Log) DeleteStream(ctx context.Context) error {
	return l.rdb.Del(ctx, l.stream, l.ids).Err()
}

// decode turns a stream entry into an update.
func decode(m redis.XMessage) (eventlog.Update, error) {
	seq, t, err := parseEntryID(m.ID)
	if err != nil {
		return eventlog.Update{}, err
	}
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	u := eventlog.Update{Seq: seq, Time: t, ID: str("id"), Data: str("data"), Type: str("type"), Private: str("private") == "1"}
	if err := json.Unmarshal([]byte(str("topics")), &u.Topics); err != nil {
		return eventlog.Update{}, fmt.Errorf("redis log entry %s: topics: %w", m.ID, err)
	}
	if ms, err := strconv.ParseInt(str("retry"), 10, 64); err == nil {
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}

// parseEntryID maps a stream id "ms-n" to a Seq (ms<<20 | n) and the time.
func parseEntryID(id string) (uint64, time.Time, error) {
	msPart, nPart, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	n, err2 := strconv.ParseUint(nPart, 10, 64)
	if !ok || err1 != nil || err2 != nil || n >= 1<<20 {
		return 0, time.Time{}, fmt.Errorf("redis log: unexpected stream id %q", id)
	}
	return ms<<20 | n, time.UnixMilli(int64(ms)), nil
}
