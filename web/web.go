package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves GET /herald.js, the browser helper, from the binary,
// with Cache-Control: no-cache so that a new version is picked up at once.
// It serves nothing else.
func Handler() http.Handler {
	files, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has static/
	}
	fileServer := http.FileServerFS(files)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /herald.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
	return mux
}
