package loadgen

import "testing"

func TestSequenceFindsEveryBreachOfExactlyOnce(t *testing.T) {
	tests := []struct {
		name       string
		seqs       []int64
		published  int64
		kinds      []string // the violation each delivery is, "" for none
		duplicates int64
		gaps       int64
		outOfOrder int64
	}{
		{name: "every update from the first, once, in order", seqs: []int64{5, 6, 7, 8}, published: 9,
			kinds: []string{"", "", "", ""}},
		{name: "an update received twice is a duplicate", seqs: []int64{5, 6, 6, 7}, published: 8,
			kinds: []string{"", "", Duplicate, ""}, duplicates: 1},
		{name: "an update resent from before the last one is a duplicate", seqs: []int64{5, 6, 7, 5}, published: 8,
			kinds: []string{"", "", "", Duplicate}, duplicates: 1},
		{name: "a skipped update is a gap", seqs: []int64{5, 6, 9, 10}, published: 11,
			kinds: []string{"", "", Gap, ""}, gaps: 2},
		{name: "updates published after the last one received are missing", seqs: []int64{5, 6}, published: 10,
			kinds: []string{"", ""}, gaps: 3},
		{name: "a skipped update arriving late is out of order, not missing", seqs: []int64{5, 7, 6, 8}, published: 9,
			kinds: []string{"", Gap, OutOfOrder, ""}, outOfOrder: 1},
		{name: "an update older than the first one is out of order", seqs: []int64{5, 6, 4}, published: 7,
			kinds: []string{"", "", OutOfOrder}, outOfOrder: 1},
		{name: "a subscriber that received nothing misses nothing counted here", published: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sequence
			for i, seq := range tt.seqs {
				if got := s.see(seq); got != tt.kinds[i] {
					t.Errorf("delivery %d (update %d) is %q, want %q", i, seq, got, tt.kinds[i])
				}
			}
			if s.deliveries != int64(len(tt.seqs)) || s.duplicates != tt.duplicates || s.gaps(tt.published) != tt.gaps || s.outOfOrder != tt.outOfOrder {
				t.Fatalf("deliveries %d, duplicates %d, gaps %d, out of order %d; want %d, %d, %d, %d",
					s.deliveries, s.duplicates, s.gaps(tt.published), s.outOfOrder, len(tt.seqs), tt.duplicates, tt.gaps, tt.outOfOrder)
			}
		})
	}
}
