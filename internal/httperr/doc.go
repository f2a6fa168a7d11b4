// Package httperr is where Herald's errors meet HTTP statuses: one error
// type that carries its status, one table from the shared sentinel errors
// (auth, eventlog) to statuses that each HTTP package extends with its own,
// and one writer that answers every error the same way: its status, a
// one-line plain-text reason, and the same headers.
package httperr
