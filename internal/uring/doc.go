// Package uring submits batches of writes to the kernel through io_uring:
// many writev(2) calls for the price of one system call. It holds only
// what Herald's detached streams need: one ring per goroutine, writev
// submissions, and a wait for all of them to complete. It works on Linux
// kernels whose io_uring takes RWF_NOWAIT writes to sockets (New checks);
// elsewhere New fails.
//
// A writev is submitted with RWF_NOWAIT, so on a non-blocking socket
// (every socket Go opens is one) it completes at once, as writev(2)
// would return: with the bytes the socket took, possibly fewer than
// asked, or with -EAGAIN when it took none. The kernel never parks it waiting for room, so a batch completes
// within the system call that submits it.
package uring
