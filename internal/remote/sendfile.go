package remote

import (
	"context"
	"io"
	"net"
	"os"
	"time"
)

// A blob pushed from a local layout is a file, and the kernel can move a
// file into a socket itself (sendfile on Linux, and where Go's net package
// has an equivalent), with no copy through this process. Go does that for a
// request body only when the body is the *os.File itself; ours is wrapped
// (progress, the stall watchdog). So a body reading a file says so
// (fileBody), and the connection, when net/http hands it the body, sends
// the file in chunks and tells the body how far it got after each chunk:
// the watchdog and the progress events see the bytes move as before.

// fileBody is a request body whose bytes come from a file, read from its
// current offset: sendFile returns that file (nil: not a file), and sent
// reports n bytes the connection sent from it directly.
type fileBody interface {
	sendFile() *os.File
	sent(n int64)
}

// bodyFile is the file under body r, or nil.
func bodyFile(r io.Reader) *os.File {
	switch v := r.(type) {
	case *os.File:
		return v
	case fileBody:
		return v.sendFile()
	}
	return nil
}

// bodySent tells the wrappers of r that n bytes went from its file.
func bodySent(r io.Reader, n int64) {
	if fb, ok := r.(fileBody); ok {
		fb.sent(n)
	}
}

// Chunks of a file sent between two reports: small enough that a report
// comes well within any stall timeout on a slow link, large enough that a
// fast one makes few system calls. A chunk grows while chunks go fast and
// shrinks when one is slow.
const (
	minSendChunk  = 64 << 10
	maxSendChunk  = 8 << 20
	fastSendChunk = 50 * time.Millisecond
	slowSendChunk = 500 * time.Millisecond
)

// sendfileConn is a TCP connection whose ReadFrom sends a fileBody's file
// with the kernel's help, chunk by chunk, reporting each chunk to the body.
type sendfileConn struct {
	*net.TCPConn
}

// dialSendfile wraps dial so that TCP connections are sendfileConns.
func dialSendfile(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			return sendfileConn{tc}, nil
		}
		return c, nil
	}
}

// ReadFrom is what net/http calls with a request body of known length: an
// *io.LimitedReader of the body.
func (c sendfileConn) ReadFrom(r io.Reader) (int64, error) {
	lr, ok := r.(*io.LimitedReader)
	if !ok {
		return c.TCPConn.ReadFrom(r)
	}
	f := bodyFile(lr.R)
	if f == nil {
		return c.TCPConn.ReadFrom(r)
	}
	var total int64
	chunk := int64(minSendChunk)
	for lr.N > 0 {
		n := min(chunk, lr.N)
		start := time.Now()
		m, err := c.TCPConn.ReadFrom(&io.LimitedReader{R: f, N: n})
		lr.N -= m
		total += m
		if m > 0 {
			bodySent(lr.R, m)
		}
		if err != nil || m < n {
			return total, err // the file ended early: net/http reports the short body
		}
		switch took := time.Since(start); {
		case took < fastSendChunk && chunk < maxSendChunk:
			chunk *= 2
		case took > slowSendChunk && chunk > minSendChunk:
			chunk /= 2
		}
	}
	return total, nil
}
