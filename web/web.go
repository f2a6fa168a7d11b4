package web

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/heraldhub/herald/jobs"
)

//go:embed static
var static embed.FS

// Config configures the pages.
type Config struct {
	// Jobs runs the demo's data query. Required unless NoDemo.
	Jobs *jobs.Manager
	// NoDemo serves herald.js only: no landing page, no demo query.
	NoDemo bool
	// Pace is the demo query's unit of delay; a query takes about 150
	// of them. Default 40ms (about 6 s per query).
	Pace time.Duration
	// Logger receives the demo's logs. Default slog.Default().
	Logger *slog.Logger
}

// Site serves the pages; Close stops a running demo query.
type Site struct {
	handler http.Handler
	demo    *demo
}

// New builds the pages. The demo's dataset is generated here.
func New(cfg Config) (*Site, error) {
	if cfg.Pace <= 0 {
		cfg.Pace = 40 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	files, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	fileServer := http.FileServerFS(files)
	mux.HandleFunc("GET /herald.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	s := &Site{handler: mux}
	if cfg.NoDemo {
		return s, nil
	}
	if cfg.Jobs == nil {
		return nil, errors.New("web: Config.Jobs is required for the demo")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.demo = &demo{m: cfg.Jobs, data: Dataset(), pace: cfg.Pace, logger: cfg.Logger, ctx: ctx, cancel: cancel}
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	})
	mux.HandleFunc("GET /demo.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /api/demo/query", s.demo.serveQuery)
	mux.HandleFunc("POST /api/demo/cancel", s.demo.serveCancel)
	return s, nil
}

// Handler serves /, /herald.js, /demo.js, POST /api/demo/query and POST
// /api/demo/cancel.
func (s *Site) Handler() http.Handler { return s.handler }

// Close stops a running demo query and waits for it.
func (s *Site) Close() error {
	if s.demo != nil {
		s.demo.close()
	}
	return nil
}
