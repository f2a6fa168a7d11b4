package dashboard

import (
	"sort"
	"time"
)

// TopicCount is how many updates a topic had in the window.
type TopicCount struct {
	Topic string `json:"topic"`
	Count int    `json:"count"`
}

// spaceSaving counts items in at most k counters (Metwally et al.): an
// item not counted takes the place of the smallest counter and inherits
// its count, so every count is an upper bound off by at most the smallest.
type spaceSaving struct {
	k      int
	counts map[string]int
}

func newSpaceSaving(k int) *spaceSaving {
	return &spaceSaving{k: k, counts: make(map[string]int, k)}
}

func (s *spaceSaving) add(item string) {
	if _, ok := s.counts[item]; ok || len(s.counts) < s.k {
		s.counts[item]++
		return
	}
	minItem, minCount := "", 0
	for it, c := range s.counts {
		if minItem == "" || c < minCount || (c == minCount && it < minItem) {
			minItem, minCount = it, c
		}
	}
	delete(s.counts, minItem)
	s.counts[item] = minCount + 1
}

// topK counts items over a sliding window made of slots space-saving
// summaries, each covering window/slots: memory stays bounded by
// slots×k whatever the number of distinct items.
type topK struct {
	k     int
	span  time.Duration // of one slot
	slots []*spaceSaving
	cur   int
	start time.Time // of the current slot
}

func newTopK(k, slots int, window time.Duration, now time.Time) *topK {
	t := &topK{k: k, span: window / time.Duration(slots), slots: make([]*spaceSaving, slots), start: now}
	for i := range t.slots {
		t.slots[i] = newSpaceSaving(k)
	}
	return t
}

// advance moves the window to now, forgetting the slots it left behind.
func (t *topK) advance(now time.Time) {
	for i := 0; i < len(t.slots) && now.Sub(t.start) >= t.span; i++ {
		t.cur = (t.cur + 1) % len(t.slots)
		t.slots[t.cur] = newSpaceSaving(t.k)
		t.start = t.start.Add(t.span)
	}
	if now.Sub(t.start) >= t.span { // idle for longer than the window
		t.start = now
	}
}

func (t *topK) add(item string, now time.Time) {
	t.advance(now)
	t.slots[t.cur].add(item)
}

// top returns the n items counted most in the window, most first (ties
// by name).
func (t *topK) top(n int, now time.Time) []TopicCount {
	t.advance(now)
	sum := map[string]int{}
	for _, s := range t.slots {
		for it, c := range s.counts {
			sum[it] += c
		}
	}
	out := make([]TopicCount, 0, len(sum))
	for it, c := range sum {
		out = append(out, TopicCount{Topic: it, Count: c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Topic < out[j].Topic
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
