package dashboard

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/heraldhub/herald/eventlog"
)

// TopicPrefix starts the reserved private topics of node reports: each
// node appends its Report to TopicPrefix + its node id.
const TopicPrefix = "/.well-known/herald/dashboard/nodes/"

// Report is one node's numbers, as it appends them every ReportEvery.
type Report struct {
	Node                string  `json:"node"`
	Subscribers         float64 `json:"subscribers"`
	UpdatesPerSecond    float64 `json:"updatesPerSecond"`
	DeliveriesPerSecond float64 `json:"deliveriesPerSecond"`
}

// NodeStatus is a node as the dashboard last heard of it.
type NodeStatus struct {
	Report
	// Age is how long ago, in seconds, the report was seen.
	Age float64 `json:"age"`
	// Self is true for the node serving the dashboard.
	Self bool `json:"self"`
}

// clusterWindow is how long a node's report counts: a node not heard of
// for this long is left off.
const clusterWindow = 15 * time.Second

// maxNodes bounds the nodes remembered; reports of more are dropped.
const maxNodes = 256

// maxNodeID bounds a node id read from a report.
const maxNodeID = 128

// parseReport reads a node report from u, which must be a private update
// on the report topic of the node it names.
func parseReport(u eventlog.Update) (Report, bool) {
	if len(u.Topics) == 0 || !u.Private || !strings.HasPrefix(u.Topics[0], TopicPrefix) || len(u.Data) > 4096 {
		return Report{}, false
	}
	var r Report
	if err := json.Unmarshal([]byte(u.Data), &r); err != nil {
		return Report{}, false
	}
	if r.Node == "" || len(r.Node) > maxNodeID || u.Topics[0] != TopicPrefix+r.Node {
		return Report{}, false
	}
	return r, true
}

// cluster keeps the latest report of each node.
type cluster struct {
	seen map[string]seenReport
}

type seenReport struct {
	r  Report
	at time.Time
}

// heard records r, seen at now.
func (c *cluster) heard(r Report, now time.Time) {
	if c.seen == nil {
		c.seen = map[string]seenReport{}
	}
	if _, ok := c.seen[r.Node]; !ok && len(c.seen) >= maxNodes {
		c.forget(now)
		if len(c.seen) >= maxNodes {
			return
		}
	}
	c.seen[r.Node] = seenReport{r: r, at: now}
}

// forget drops the reports older than the window.
func (c *cluster) forget(now time.Time) {
	for id, s := range c.seen {
		if now.Sub(s.at) > clusterWindow {
			delete(c.seen, id)
		}
	}
}

// nodes returns the nodes heard of within the window, and self with its
// current numbers (never older than a report of it), sorted by id.
func (c *cluster) nodes(self Report, now time.Time) []NodeStatus {
	c.forget(now)
	out := []NodeStatus{{Report: self, Self: true}}
	for id, s := range c.seen {
		if id != self.Node {
			out = append(out, NodeStatus{Report: s.r, Age: now.Sub(s.at).Seconds()})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
