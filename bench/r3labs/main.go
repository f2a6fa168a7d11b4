// Command r3labs is a minimal SSE server on github.com/r3labs/sse/v2, set
// up as its documentation recommends: subscribe with GET
// /events?stream=NAME, publish with POST /publish (form fields topic, data).
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/heraldhub/herald/bench/internal/listen"
	"github.com/r3labs/sse/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8082", "listen address")
	flag.Parse()
	s := sse.New()
	s.AutoReplay = false // no history: the same work as the other servers
	s.AutoStream = true
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", s.ServeHTTP)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		stream := r.FormValue("topic")
		if !s.StreamExists(stream) {
			s.CreateStream(stream)
		}
		s.Publish(stream, &sse.Event{Data: []byte(r.FormValue("data"))})
	})
	log.Fatal(listen.Serve(*addr, mux))
}
