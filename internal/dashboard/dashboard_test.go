package dashboard

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhub/herald/eventlog"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable time for tests.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func names(tc []TopicCount) (out []string) {
	for _, t := range tc {
		out = append(out, fmt.Sprintf("%s=%d", t.Topic, t.Count))
	}
	return out
}

func TestTopKCountsTheBusiestTopicsOfTheLastMinute(t *testing.T) {
	c := newClock()
	k := newTopK(4, 6, time.Minute, c.now())
	for i := 0; i < 30; i++ {
		k.add("hot", c.now())
		if i%3 == 0 {
			k.add("warm", c.now())
		}
		k.add(fmt.Sprintf("once-%d", i), c.now()) // more distinct topics than counters
		c.add(time.Second)
	}
	top := k.top(2, c.now())
	if len(top) != 2 || top[0].Topic != "hot" || top[1].Topic != "warm" {
		t.Fatalf("top 2 = %v, want hot then warm", names(top))
	}
	// Space-saving over-counts by at most the smallest counter of a slot;
	// hot was counted in every slot it was seen in.
	if top[0].Count < 30 {
		t.Errorf("hot counted %d times, want at least its 30 updates", top[0].Count)
	}
	c.add(time.Minute)
	if got := k.top(1, c.now()); len(got) != 0 {
		t.Errorf("a minute after the last update, top = %v, want nothing", names(got))
	}
}

func TestTopKMemoryIsBoundedWhateverTheTopics(t *testing.T) {
	c := newClock()
	k := newTopK(8, 6, time.Minute, c.now())
	for i := 0; i < 10000; i++ {
		k.add(fmt.Sprintf("t%d", i), c.now())
		if i%2 == 0 {
			k.add("heavy", c.now())
		}
	}
	total := 0
	for _, s := range k.slots {
		total += len(s.counts)
	}
	if total > 8 {
		t.Errorf("%d counters after 10000 topics in one slot, want at most 8", total)
	}
	if top := k.top(1, c.now()); top[0].Topic != "heavy" || top[0].Count < 5000 {
		t.Errorf("top = %v, want heavy with at least 5000", names(top))
	}
}

func TestQuantileInterpolatesWithinItsBucket(t *testing.T) {
	h := histogram{bounds: []float64{0.001, 0.002, 0.004}, counts: []uint64{0, 50, 100}, total: 100}
	if q := h.quantile(0.5); q == nil || *q != 0.002 {
		t.Errorf("p50 = %v, want 0.002 (the 50th of 100, at the second bucket's top)", q)
	}
	if q := h.quantile(0.99); q == nil || fmt.Sprintf("%.5f", *q) != "0.00396" {
		t.Errorf("p99 = %v, want 0.00396 (interpolated in the third bucket)", q)
	}
	old := histogram{bounds: h.bounds, counts: []uint64{0, 50, 50}, total: 50}
	if q := h.since(old).quantile(0.5); q == nil || *q != 0.003 {
		t.Errorf("p50 of the 50 observations since old = %v, want 0.003", q)
	}
	if q := (histogram{bounds: h.bounds, counts: []uint64{0, 0, 0}}).quantile(0.5); q != nil {
		t.Errorf("p50 of nothing = %v, want nil", *q)
	}
}

// registry has the metrics a dashboard reads, set by the test.
type registry struct {
	*prometheus.Registry
	subscribers       prometheus.Gauge
	updates, delivers prometheus.Counter
	appends           prometheus.Histogram
	push              *prometheus.GaugeVec
}

func newRegistry() *registry {
	r := &registry{
		Registry:    prometheus.NewRegistry(),
		subscribers: prometheus.NewGauge(prometheus.GaugeOpts{Name: metricSubscribers}),
		updates:     prometheus.NewCounter(prometheus.CounterOpts{Name: metricUpdates}),
		delivers:    prometheus.NewCounter(prometheus.CounterOpts{Name: metricDeliveries}),
		appends:     prometheus.NewHistogram(prometheus.HistogramOpts{Name: metricAppend, Buckets: []float64{0.001, 0.01, 0.1}}),
	}
	r.push = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: metricPush}, []string{"state"})
	r.MustRegister(r.subscribers, r.updates, r.delivers, r.appends, r.push)
	return r
}

func TestSamplesGiveRatesPerSecondAndKeepAnHour(t *testing.T) {
	c, reg := newClock(), newRegistry()
	d := newDashboard(Config{Node: "a", Metrics: reg}, c.now)
	var s sampler
	d.sample(&s)
	reg.subscribers.Set(3)
	reg.updates.Add(20)
	reg.delivers.Add(60)
	reg.appends.Observe(0.005)
	reg.push.WithLabelValues("active").Set(2)
	reg.push.WithLabelValues("paused").Set(1)
	c.add(2 * time.Second)
	d.sample(&s)
	snap, _, _ := d.state(false)
	if snap.PushActive != 2 || snap.PushPaused != 1 {
		t.Errorf("push subscriptions %v active and %v paused, want 2 and 1", snap.PushActive, snap.PushPaused)
	}
	if snap.Subscribers != 3 || snap.UpdatesTotal != 20 || snap.UpdatesPerSecond != 10 || snap.DeliveriesPerSecond != 30 {
		t.Errorf("snapshot %+v, want 3 subscribers, 20 updates, 10 updates/s and 30 deliveries/s", *snap)
	}
	if snap.AppendP50 == nil || *snap.AppendP50 <= 0.001 || *snap.AppendP50 > 0.01 {
		t.Errorf("append p50 %v, want within the bucket of the one append (1ms, 10ms]", snap.AppendP50)
	}
	for i := 0; i < History+10; i++ {
		c.add(time.Second)
		d.sample(&s)
	}
	_, _, h := d.state(true)
	if len(h) != History || h[len(h)-1][0] != float64(c.now().UnixMilli()) || h[0][0] != float64(c.now().Add(-(History-1)*time.Second).UnixMilli()) {
		t.Errorf("history of %d samples, want the last %d, oldest first", len(h), History)
	}
}

func report(t *testing.T, r Report) eventlog.Update {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return eventlog.Update{Topics: []string{TopicPrefix + r.Node}, Data: string(b), Private: true}
}

func TestClusterShowsTheNodesHeardOfInTheLast15Seconds(t *testing.T) {
	c, reg := newClock(), newRegistry()
	d := newDashboard(Config{Node: "b", Metrics: reg}, c.now)
	reg.subscribers.Set(7)
	d.Observe(report(t, Report{Node: "a", Subscribers: 100}))
	c.add(5 * time.Second)
	d.Observe(report(t, Report{Node: "c", Subscribers: 5}))
	d.Observe(report(t, Report{Node: "b", Subscribers: 1})) // this node's own, older than its sample
	forged := report(t, Report{Node: "d"})
	forged.Topics = []string{TopicPrefix + "e"}
	d.Observe(forged)
	public := report(t, Report{Node: "f"})
	public.Private = false
	d.Observe(public)
	var s sampler
	d.sample(&s)
	snap, _, _ := d.state(false)
	got := fmt.Sprint(snap.Nodes)
	want := fmt.Sprint([]NodeStatus{
		{Report: Report{Node: "a", Subscribers: 100}, Age: 5},
		{Report: Report{Node: "b", Subscribers: 7}, Self: true},
		{Report: Report{Node: "c", Subscribers: 5}},
	})
	if got != want {
		t.Errorf("nodes %s, want %s", got, want)
	}
	c.add(11 * time.Second) // a was heard of 16 s ago, c 11 s ago
	d.sample(&s)
	snap, _, _ = d.state(false)
	if len(snap.Nodes) != 2 || snap.Nodes[0].Node != "b" || snap.Nodes[1].Node != "c" {
		t.Errorf("nodes %v 16 s after a's report, want b and c", snap.Nodes)
	}
	if len(snap.Topics) != 0 {
		t.Errorf("busiest topics %v, want node reports left out", snap.Topics)
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add(TopicPrefix+"a", `{"node":"a","subscribers":3}`, true)
	f.Add(TopicPrefix+"a", `{"node":"b"}`, true)
	f.Add("other", `{}`, false)
	f.Add(TopicPrefix, `[1,2`, true)
	f.Fuzz(func(t *testing.T, topic, data string, private bool) {
		r, ok := parseReport(eventlog.Update{Topics: []string{topic}, Data: data, Private: private})
		if ok && (topic != TopicPrefix+r.Node || !private || r.Node == "") {
			t.Fatalf("accepted %q on %q (private %v) as %+v", data, topic, private, r)
		}
		var c cluster
		if ok {
			c.heard(r, time.Now())
			if n := c.nodes(Report{Node: "self"}, time.Now()); len(n) != 2 && r.Node != "self" {
				t.Fatalf("nodes %v after one report", n)
			}
		}
	})
}
