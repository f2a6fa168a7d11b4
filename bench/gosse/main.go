// Command gosse is a minimal SSE server on github.com/tmaxmax/go-sse, set
// up as its documentation recommends: subscribe with GET
// /events?topic=NAME, publish with POST /publish (form fields topic, data).
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/heraldhub/herald/bench/internal/listen"
	sse "github.com/tmaxmax/go-sse"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	s := &sse.Server{
		OnSession: func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
			topics := r.URL.Query()["topic"]
			if len(topics) == 0 {
				topics = []string{sse.DefaultTopic}
			}
			return topics, true
		},
	}
	mux := http.NewServeMux()
	mux.Handle("GET /events", s)
	mux.HandleFunc("POST /publish", func(w http.ResponseWriter, r *http.Request) {
		m := &sse.Message{}
		m.AppendData(r.FormValue("data"))
		topic := r.FormValue("topic")
		if topic == "" {
			topic = sse.DefaultTopic
		}
		if err := s.Publish(m, topic); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	log.Fatal(listen.Serve(*addr, mux))
}
