// Package hubtest reads event streams for tests: a subscription's
// response, decoded in the background, its events taken one at a time with
// a deadline. The hub's, the Mercure handler's and the node's tests share
// it.
package hubtest
