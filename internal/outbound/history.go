package outbound

import "sync"

// DefaultHistory is how many attempts a History keeps unless told.
const DefaultHistory = 20

// History is a delivery log: the last attempts of one target, oldest
// first. The zero History keeps DefaultHistory attempts; it is safe for
// concurrent use.
type History struct {
	// Max is how many attempts are kept (DefaultHistory if 0).
	Max int

	mu       sync.Mutex
	attempts []Attempt
}

// Add records an attempt, dropping the oldest beyond Max.
func (h *History) Add(a Attempt) {
	limit := h.Max
	if limit <= 0 {
		limit = DefaultHistory
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.attempts = append(h.attempts, a)
	if over := len(h.attempts) - limit; over > 0 {
		h.attempts = append(h.attempts[:0], h.attempts[over:]...)
	}
}

// List returns a copy of the kept attempts, oldest first; never nil.
func (h *History) List() []Attempt {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Attempt{}, h.attempts...)
}
