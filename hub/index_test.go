package hub

import (
	"slices"
	"testing"
)

// The index visits the subscribers of a set in the order they joined,
// whether they select the topic exactly, with "*" or with a template, so
// that the streams one client opened together on an HTTP/2 connection are
// woken together. One leaving only moves the last one into its place.
func TestIndexVisitsSubscribersInTheOrderTheyJoined(t *testing.T) {
	for _, sel := range []string{"t", "*", "{x}"} {
		topics, err := ParseSelectors([]string{sel, sel})
		if err != nil {
			t.Fatal(err)
		}
		ix := newIndex()
		var joined []*subscriber
		for range 200 {
			s := newSubscriber(topics, nil, 8, 1<<20)
			ix.add(s)
			joined = append(joined, s)
		}
		visited := func(seq uint64) []*subscriber {
			var got []*subscriber
			ix.each([]string{"t"}, seq, func(s *subscriber) { got = append(got, s) })
			return got
		}
		if got := visited(1); !slices.Equal(got, joined) {
			t.Fatalf("%q: visited %d subscribers out of the order they joined", sel, len(got))
		}
		ix.remove(joined[10])
		want := slices.Clone(joined[:199])
		want[10] = joined[199]
		if got := visited(2); !slices.Equal(got, want) {
			t.Fatalf("%q: after one left, visited %d subscribers in another order than the last moved into its place", sel, len(got))
		}
		for _, s := range joined {
			ix.remove(s)
		}
		if got := visited(3); len(got) != 0 || len(ix.exact)+len(ix.templates) != 0 {
			t.Fatalf("%q: %d subscribers visited after all left", sel, len(got))
		}
	}
}
