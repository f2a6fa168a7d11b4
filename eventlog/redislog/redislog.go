package redislog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
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
	// Stream is the stream key; its id index is Stream + ":ids", and the
	// later occurrences of reused ids are listed in Stream + ":reused".
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
	reused string
	retain int
	logger *slog.Logger

	closed atomic.Bool
	ctx    context.Context
	cancel context.CancelFunc
	tails  sync.WaitGroup
}

var _ eventlog.Log = (*Log)(nil)
var _ eventlog.Pinger = (*Log)(nil)

// Default timeouts for the Redis connection, unless the URL sets
// dial_timeout, read_timeout or write_timeout: short, so that an append
// to an unreachable Redis fails within a second or two.
const (
	defaultDialTimeout = time.Second
	defaultIOTimeout   = 2 * time.Second
)

// Open connects to the Redis named by rawURL and checks that it answers:
//
//	redis://[USER:PASSWORD@]HOST:PORT/DB?stream=NAME&retain=N
//
// (rediss:// for TLS). stream is the stream key (default "herald"); retain
// is how many updates the stream keeps (default DefaultRetain); Options
// override both. Every other query parameter is one go-redis accepts in a
// URL (dial_timeout, read_timeout, write_timeout, pool_size, client_name,
// …); dial_timeout defaults to 1s and read_timeout and write_timeout to 2s
// here. max_retries is always -1: a command is never resent, since a
// resent append could be stored twice. A Redis that does not answer gives
// an error wrapping eventlog.ErrUnavailable.
func Open(ctx context.Context, rawURL string, opts Options) (*Log, error) {
	ro, opts, err := parseURL(rawURL, opts)
	if err != nil {
		return nil, err
	}
	l := &Log{
		rdb:    redis.NewClient(ro),
		stream: opts.Stream,
		ids:    opts.Stream + ":ids",
		reused: opts.Stream + ":reused",
		retain: opts.Retain,
		logger: opts.Logger,
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	if err := l.Ping(ctx); err != nil {
		l.cancel()
		l.rdb.Close()
		return nil, fmt.Errorf("redislog: connect to %s: %w", ro.Addr, err)
	}
	return l, nil
}

// parseURL reads Open's URL into the client's options and opts, with
// every default applied.
func parseURL(rawURL string, opts Options) (*redis.Options, Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, opts, fmt.Errorf("redislog: URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, opts, fmt.Errorf("redislog: URL %q: the scheme must be redis or rediss", u.Redacted())
	}
	q := u.Query()
	if opts.Stream == "" {
		opts.Stream = q.Get("stream")
	}
	if opts.Stream == "" {
		opts.Stream = "herald"
	}
	if opts.Retain <= 0 && q.Has("retain") {
		if opts.Retain, err = strconv.Atoi(q.Get("retain")); err != nil || opts.Retain <= 0 {
			return nil, opts, fmt.Errorf("redislog: URL %q: retain must be a positive integer", u.Redacted())
		}
	}
	if opts.Retain <= 0 {
		opts.Retain = DefaultRetain
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	timeouts := map[string]bool{}
	for _, k := range []string{"dial_timeout", "read_timeout", "write_timeout"} {
		timeouts[k] = q.Has(k)
	}
	q.Del("stream")
	q.Del("retain")
	q.Del("max_retries")
	u.RawQuery = q.Encode()
	ro, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, opts, fmt.Errorf("redislog: URL %q: %w", u.Redacted(), err)
	}
	ro.MaxRetries = -1 // a resent append could be stored twice
	if !timeouts["dial_timeout"] {
		ro.DialTimeout = defaultDialTimeout
	}
	if !timeouts["read_timeout"] {
		ro.ReadTimeout = defaultIOTimeout
	}
	if !timeouts["write_timeout"] {
		ro.WriteTimeout = defaultIOTimeout
	}
	ro.ContextTimeoutEnabled = true
	return ro, opts, nil
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

// appendScript adds one entry unless its id is already retained and the
// append does not reuse it, records the id, and trims the stream (and the
// index) to the retained count. An entry whose stream id does not fit a
// Seq (more than 2^20 entries within one millisecond of Redis's clock,
// which only a clock stepped far back could cause) is removed again and
// refused, so that nothing is stored.
//
// The index maps an id to its first retained entry; a reused id's later
// entries are listed, space-separated and oldest first, in the reused
// hash. Trimming goes oldest first, so an entry it removes is its id's
// first: the id's next entry, if any, takes its place in the index.
// KEYS: stream, ids, reused. ARGV: retain, id, "1" to reuse a retained id,
// then the entry's field/value pairs.
var appendScript = redis.NewScript(`
local reuse = false
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  if ARGV[3] ~= '1' then return redis.error_reply('DUPLICATE') end
  reuse = true
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
local entry = redis.call('XADD', KEYS[1], '*', unpack(fields))
local n = string.match(entry, '%-(%d+)$')
if n == nil or tonumber(n) >= 1048576 then
  redis.call('XDEL', KEYS[1], entry)
  return redis.error_reply('SEQRANGE stream id ' .. entry .. ' does not fit a Seq')
end
if reuse then
  local later = redis.call('HGET', KEYS[3], ARGV[2])
  if later then later = later .. ' ' .. entry else later = entry end
  redis.call('HSET', KEYS[3], ARGV[2], later)
else
  redis.call('HSET', KEYS[2], ARGV[2], entry)
end
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
  for _, e in ipairs(old) do
    local f = e[2]
    for j = 1, #f, 2 do
      if f[j] == 'id' and redis.call('HGET', KEYS[2], f[j + 1]) == e[1] then
        local later = redis.call('HGET', KEYS[3], f[j + 1])
        if not later then
          redis.call('HDEL', KEYS[2], f[j + 1])
        else
          local next, rest = string.match(later, '^(%S+) ?(.*)$')
          redis.call('HSET', KEYS[2], f[j + 1], next)
          if rest == '' then
            redis.call('HDEL', KEYS[3], f[j + 1])
          else
            redis.call('HSET', KEYS[3], f[j + 1], rest)
          end
        end
      end
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
	reuse := "0"
	if u.ReuseID {
		reuse = "1"
	}
	args := []any{l.retain, u.ID, reuse,
		"id", u.ID, "topics", topics, "data", u.Data, "type", u.Type,
		"retry", int64(u.Retry / time.Millisecond), "private", private}
	entry, err := appendScript.Run(ctx, l.rdb, []string{l.stream, l.ids, l.reused}, args...).Text()
	if err != nil {
		switch reply := strings.TrimPrefix(err.Error(), "ERR "); {
		case strings.HasPrefix(reply, "DUPLICATE"):
			return eventlog.Update{}, fmt.Errorf("%w: %q", eventlog.ErrDuplicateID, u.ID)
		case strings.HasPrefix(reply, "SEQRANGE"):
			return eventlog.Update{}, fmt.Errorf("redislog: %s", reply)
		}
		return eventlog.Update{}, l.failed(ctx, err)
	}
	seq, t, err := parseEntryID(entry)
	if err != nil {
		return eventlog.Update{}, err
	}
	u.Seq, u.Time, u.ReuseID = seq, t, false
	u.Retry = u.Retry.Truncate(time.Millisecond)
	u.Topics = append([]string(nil), u.Topics...)
	return u, nil
}

// readChunk is how many entries one XRANGE or XREAD returns.
const readChunk = 256

// Since replays the retained updates after id; see eventlog.Log.
//
// The replay reads the stream in chunks, each starting at the last entry
// it delivered (or at id's entry), and checks that this entry is still
// there, in the same command that reads the chunk: if retention removed
// it meanwhile, entries after it may be gone too, and Since returns an
// error wrapping eventlog.ErrUnknownID instead of skipping them silently
// (before calling fn, if it was id's entry). The Topics slices passed to
// fn are the caller's to keep.
func (l *Log) Since(ctx context.Context, id string, fn func(eventlog.Update) bool) (eventlog.Update, error) {
	if l.closed.Load() {
		return eventlog.Update{}, eventlog.ErrClosed
	}
	var from eventlog.Update
	if err := l.since(ctx, id, &from, fn); err != nil {
		return eventlog.Update{}, err
	}
	return from, nil
}

// since is Since, setting *from to id's update once it has read it.
func (l *Log) since(ctx context.Context, id string, from *eventlog.Update, fn func(eventlog.Update) bool) error {
	// after is the entry the next chunk must start with (and skip): id's
	// entry, then the last one delivered.
	start, after := "-", ""
	if id != eventlog.Earliest {
		entry, err := l.rdb.HGet(ctx, l.ids, id).Result()
		if errors.Is(err, redis.Nil) {
			return fmt.Errorf("%w: %q", eventlog.ErrUnknownID, id)
		}
		if err != nil {
			return l.failed(ctx, err)
		}
		start, after = entry, entry
	}
	last, err := l.rdb.XRevRangeN(ctx, l.stream, "+", "-", 1).Result()
	if err != nil {
		return l.failed(ctx, err)
	}
	if len(last) == 0 {
		if after != "" {
			return fmt.Errorf("%w: %q (dropped by retention)", eventlog.ErrUnknownID, id)
		}
		return nil
	}
	end := last[0].ID
	for {
		want := int64(readChunk)
		if after != "" {
			want++
		}
		msgs, err := l.rdb.XRangeN(ctx, l.stream, start, end, want).Result()
		if err != nil {
			return l.failed(ctx, err)
		}
		n := len(msgs)
		if after != "" {
			if n == 0 || msgs[0].ID != after {
				return fmt.Errorf("%w: replay after %q overtaken by retention at entry %s", eventlog.ErrUnknownID, id, after)
			}
			if from.Seq == 0 && id != eventlog.Earliest {
				if *from, err = decode(msgs[0]); err != nil {
					return err
				}
			}
			msgs = msgs[1:]
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
		if int64(n) < want || len(msgs) == 0 {
			return nil
		}
		start = msgs[len(msgs)-1].ID
		after = start
	}
}

// failed classifies the error of a Redis command made for ctx: the
// context's own error if it ended, otherwise eventlog.ErrUnavailable.
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
	last, err := l.rdb.XRevRangeN(ctx, l.stream, "+", "-", 1).Result()
	if err != nil {
		return nil, l.failed(ctx, err)
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
	interrupted := false
	for ctx.Err() == nil {
		if interrupted && pos != "0-0" {
			// Entries trimmed while this tail was cut off cannot be
			// delivered; say so rather than skip them unnoticed.
			kept, err := l.rdb.XRangeN(ctx, l.stream, pos, pos, 1).Result()
			if err == nil && len(kept) == 0 {
				l.logger.Error("redis log tail resumed after retention dropped entries it had not delivered", "stream", l.stream, "after", pos)
			}
		}
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
			interrupted = true
			continue
		}
		if interrupted {
			l.logger.Info("redis log tail resumed", "stream", l.stream, "after", pos)
		}
		backoff, interrupted = 50*time.Millisecond, false
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

// DeleteStream removes the stream and its indexes (for tests and tools).
func (l *Log) DeleteStream(ctx context.Context) error {
	return l.rdb.Del(ctx, l.stream, l.ids, l.reused).Err()
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
		return eventlog.Update{}, fmt.Errorf("redislog: entry %s: topics: %w", m.ID, err)
	}
	if ms, err := strconv.ParseInt(str("retry"), 10, 64); err == nil && ms > 0 && ms <= math.MaxInt64/int64(time.Millisecond) {
		u.Retry = time.Duration(ms) * time.Millisecond
	}
	return u, nil
}

// parseEntryID maps a stream id "ms-n" to a Seq (ms<<20 | n) and the time.
// Ids that do not fit (n of 2^20 or more, or ms past the year 2500) are
// refused.
func parseEntryID(id string) (uint64, time.Time, error) {
	msPart, nPart, ok := strings.Cut(id, "-")
	ms, err1 := strconv.ParseUint(msPart, 10, 64)
	n, err2 := strconv.ParseUint(nPart, 10, 64)
	if !ok || err1 != nil || err2 != nil || ms >= 1<<44 || n >= 1<<20 {
		return 0, time.Time{}, fmt.Errorf("redislog: unexpected stream id %q", id)
	}
	return ms<<20 | n, time.UnixMilli(int64(ms)), nil
}
