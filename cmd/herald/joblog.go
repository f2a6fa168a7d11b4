package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heraldhub/herald/heraldclient"
	"github.com/heraldhub/herald/jobs"
)

// logFlags are the flags of `herald job log`.
type logFlags struct {
	batch    int
	interval time.Duration
	tee      bool
}

func (f *logFlags) define(fs *flag.FlagSet) {
	fs.IntVar(&f.batch, "batch", 200, fmt.Sprintf("post at most this many lines at once (1 to %d)", jobs.MaxLinesPerRequest))
	fs.DurationVar(&f.interval, "interval", 250*time.Millisecond, "post what was read at least this often")
	fs.BoolVar(&f.tee, "tee", false, "copy the input to standard output too")
}

// validate checks the flags' values.
func (f *logFlags) validate() error {
	if f.batch < 1 || f.batch > jobs.MaxLinesPerRequest {
		return fmt.Errorf("--batch %d: use 1 to %d lines", f.batch, jobs.MaxLinesPerRequest)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--interval %v: use a positive duration", f.interval)
	}
	return nil
}

// logJob posts each line read from in to job id's log, in batches of up
// to f.batch lines, a batch at least every f.interval while lines come,
// and the rest at the end of the input.
func logJob(ctx context.Context, j heraldclient.Jobs, id string, f logFlags, in io.Reader, stdout io.Writer) error {
	lines := make(chan string, f.batch)
	readErr := make(chan error, 1)
	go func() { // ends at the end of the input
		defer close(lines)
		readErr <- readInputLines(in, lines, f.tee, stdout)
	}()
	post := func(lines []string) error {
		ctx, cancel := context.WithTimeout(ctx, jobRequestTimeout)
		defer cancel()
		_, _, err := j.Log(ctx, id, lines...)
		return err
	}
	var pending []string
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if err := post(pending); err != nil {
					return err
				}
				return <-readErr
			}
			pending = append(pending, line)
			if len(pending) < f.batch {
				continue
			}
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := post(pending); err != nil {
			return err
		}
		pending = pending[:0]
	}
}

// readInputLines sends each line of in to lines (at most
// jobs.MaxLineBytes+1 bytes of each: the hub cuts and marks longer ones),
// copying the input to stdout if tee.
func readInputLines(in io.Reader, lines chan<- string, tee bool, stdout io.Writer) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if tee {
			stdout.Write(chunk)
		}
		if room := jobs.MaxLineBytes + 1 - len(line); room > 0 {
			line = append(line, chunk[:min(room, len(chunk))]...)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue // the rest of a long line
		case err == nil || len(line) > 0:
			lines <- strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			line = line[:0]
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("read the input: %w", err)
		}
	}
}
