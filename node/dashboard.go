package node

import (
	"net/http"

	"github.com/heraldhub/herald/internal/dashboard"
	"github.com/heraldhub/herald/mercure"
	"github.com/heraldhub/herald/presence"
)

// newDashboard makes the live dashboard if Config.Dashboard is set; its
// data needs a token pub accepts. The node reports under the id of its
// presence tracker, if any. It needs the hub and the jobs manager.
func (s *Node) newDashboard(pub mercure.Verifier, tracker *presence.Tracker) error {
	if !s.cfg.Dashboard {
		return nil
	}
	var node string
	if tracker != nil {
		node = tracker.Node()
	}
	d, err := dashboard.New(dashboard.Config{
		Node:        node,
		Metrics:     s.metrics.registry,
		Publisher:   s.hub,
		Jobs:        s.jobs,
		Verifier:    pub,
		HubURL:      mercure.HubURL,
		ReportEvery: s.cfg.DashboardReport,
		Logger:      s.cfg.Logger,
	})
	if err != nil {
		return err
	}
	s.dashboard = d
	s.closers = append(s.closers, d.Close)
	return nil
}

// mountDashboard serves the dashboard on mux, if there is one. Without it
// /dashboard is not served at all (404).
func (s *Node) mountDashboard(mux *http.ServeMux) {
	if s.dashboard == nil {
		return
	}
	h := s.metrics.watch(s.dashboard.Handler(), false)
	mux.Handle(dashboard.Path, h)
	mux.Handle(dashboard.Path+"/", h)
}

// closeDashboard ends the dashboard's streams, if any.
func (s *Node) closeDashboard() {
	if s.dashboard != nil {
		s.dashboard.Close()
	}
}
