package demo

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

// Config configures the demo.
type Config struct {
	// Jobs runs the demo's data query. Required.
	Jobs *jobs.Manager
	// Pace is the demo query's unit of delay; a query takes about 150
	// of them. Default 40ms (about 6 s per query).
	Pace time.Duration
	// Logger receives the demo's logs. Default slog.Default().
	Logger *slog.Logger
}

// Site serves the demo's page and its query; Close stops a running query.
type Site struct {
	handler http.Handler
	demo    *demo
}

// New builds the demo. Its dataset is generated here.
func New(cfg Config) (*Site, error) {
	if cfg.Jobs == nil {
		return nil, errors.New("demo: Config.Jobs is required")
	}
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
	ctx, cancel := context.WithCancel(context.Background())
	d := &demo{m: cfg.Jobs, data: Dataset(), pace: cfg.Pace, logger: cfg.Logger, ctx: ctx, cancel: cancel}
	fileServer := http.FileServerFS(files)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, "index.html")
	})
	mux.HandleFunc("GET /demo.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	mux.HandleFunc("POST /api/demo/query", d.serveQuery)
	mux.HandleFunc("POST /api/demo/cancel", d.serveCancel)
	return &Site{handler: mux, demo: d}, nil
}

// Handler serves /, /demo.js, POST /api/demo/query and POST
// /api/demo/cancel. The page loads /herald.js, which package web serves.
func (s *Site) Handler() http.Handler { return s.handler }

// Close stops a running demo query and waits for it.
func (s *Site) Close() error {
	s.demo.close()
	return nil
}
