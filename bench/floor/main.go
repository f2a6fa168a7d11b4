// Command floor is the least an SSE server can do for one write per
// delivery: it answers GET /events with response headers, keeps each
// stream's socket as a raw descriptor, and on POST /publish (form field
// data) writes one pre-encoded frame to every socket with write(2) and
// nothing else. It answers a publication at once and writes its frames
// from one goroutine, in order, so that a slow round does not slow the
// publisher (as Herald does) and no two updates ever share a write.
// `bench/run.sh` measures it beside Herald: Herald's CPU per
// delivery as a multiple of the floor's is what its own work costs.
package main

import (
	"flag"
	"log"
	"net/http"
	"sync"
	"syscall"
	"unsafe"
)

// floor holds the streams' descriptors and the frames still to write.
type floor struct {
	mu     sync.Mutex
	fds    []int
	frames chan []byte
}

func (f *floor) subscribe(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close() // the duplicate below keeps the socket open
	if _, err := conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")); err != nil {
		return
	}
	raw, err := conn.(syscall.Conn).SyscallConn()
	if err != nil {
		return
	}
	fd := -1
	raw.Control(func(s uintptr) { fd, _ = syscall.Dup(int(s)) })
	if fd < 0 {
		return
	}
	syscall.CloseOnExec(fd)
	f.mu.Lock()
	f.fds = append(f.fds, fd)
	f.mu.Unlock()
}

func (f *floor) publish(_ http.ResponseWriter, r *http.Request) {
	f.frames <- []byte("data: " + r.FormValue("data") + "\n\n")
}

// writeFrames writes each frame to every stream, one write(2) each.
func (f *floor) writeFrames() {
	for frame := range f.frames {
		f.writeAll(frame)
	}
}

func (f *floor) writeAll(frame []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.fds[:0]
	for _, fd := range f.fds {
		if write(fd, frame) {
			kept = append(kept, fd)
		} else {
			syscall.Close(fd)
		}
	}
	f.fds = kept
}

// write writes frame to the non-blocking socket fd with raw write(2); a
// full socket (rare: the readers keep up) gets the rest blocking. It
// reports false if the stream is gone.
func write(fd int, frame []byte) bool {
	n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
	if errno == 0 && int(n) == len(frame) {
		return true
	}
	if errno != 0 && errno != syscall.EAGAIN {
		return false
	}
	rest := frame[max(0, int(n)):]
	if errno == syscall.EAGAIN {
		rest = frame
	}
	syscall.SetNonblock(fd, false)
	defer syscall.SetNonblock(fd, true)
	for len(rest) > 0 {
		m, err := syscall.Write(fd, rest)
		if err != nil {
			return false
		}
		rest = rest[m:]
	}
	return true
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8083", "listen address")
	flag.Parse()
	f := &floor{frames: make(chan []byte, 4096)}
	go f.writeFrames()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /events", f.subscribe)
	mux.HandleFunc("POST /publish", f.publish)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
