// Package ratelimit bounds how often a publisher may publish: token
// buckets per token subject and per client address, answered with 429 and
// Retry-After when empty. Buckets live in memory, without a goroutine, and
// are dropped once full again, so their number stays bounded by the
// clients active within one refill.
package ratelimit
