package server

import (
	"net/http"

	"github.com/heraldhub/herald/eventlog"
	"github.com/heraldhub/herald/internal/dashboard"
	"github.com/heraldhub/herald/mercure"
	"github.com/heraldhub/herald/presence"
)

// mountDashboard serves the live dashboard on mux if Config.Dashboard is
// set; its data needs a token pub accepts. Without it /dashboard is not
// served at all (404). The node reports under the id of its presence
// tracker, if any.
func (s *Server) mountDashboard(mux *http.ServeMux, pub mercure.Verifier, tracker *presence.Tracker) error {
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
	s.dashboard.Store(d)
	s.closers = append(s.closers, d.Close)
	h := s.metrics.watch(d.Handler(), false)
	mux.Handle(dashboard.Path, h)
	mux.Handle(dashboard.Path+"/", h)
	return nil
}

// observeDashboard tells the dashboard, if any, of an update read from the
// log's tail.
func (s *Server) observeDashboard(u eventlog.Update) {
	if d := s.dashboard.Load(); d != nil {
		d.Observe(u)
	}
}

// closeDashboard ends the dashboard's streams, if any.
func (s *Server) closeDashboard() {
	if d := s.dashboard.Load(); d != nil {
		d.Close()
	}
}
