//go:build !linux

package uring

// Iovec is one buffer of a writev.
type Iovec struct {
	Base *byte
	Len  uint64
}

// Ring is unavailable on this platform: New always fails.
type Ring struct{}

// New reports ErrUnsupported.
func New(uint32) (*Ring, error) { return nil, ErrUnsupported }

// Close does nothing.
func (r *Ring) Close() error { return nil }

// Space reports no room.
func (r *Ring) Space() int { return 0 }

// PrepWritev reports no room.
func (r *Ring) PrepWritev(int, []Iovec, uint64) bool { return false }

// PrepRecv reports no room.
func (r *Ring) PrepRecv(int, []byte, uint64) bool { return false }

// Submit reports ErrUnsupported.
func (r *Ring) Submit(func(uint64, int32)) error { return ErrUnsupported }
