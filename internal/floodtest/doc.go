// Package floodtest holds what the tests and the attack script of
// selector floods share: the costliest selectors to compile, and a
// measure of live heap.
package floodtest
