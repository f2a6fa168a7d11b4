// Package bench holds baseline SSE servers, each built on another Go SSE
// library, so that `herald bench` can measure them side by side with
// Herald in one run (see run.sh and BENCHMARKS.md). It is a module of its
// own: Herald does not depend on these libraries.
package bench
