package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// responseBufferSize bounds the response head of an HTTP probe, like the
// proxy's upstream read buffer.
const responseBufferSize = 16 << 10

// maxReasonLen bounds the error text kept in a Reason.
const maxReasonLen = 120

// aLongTimeAgo is a deadline in the past: setting it unblocks any read or
// write in progress on a connection.
var aLongTimeAgo = time.Unix(1, 0)

// target is one server to check and its probe request. It is immutable:
// probes read it concurrently.
type target struct {
	srv *balancer.Server
	req []byte // the whole HTTP request; nil for TCP
}

// request returns the HTTP probe request for the server at addr.
func (c *Checker) request(addr string) []byte {
	host := c.cfg.Host
	if host == "" {
		host = addr
	}
	return []byte(c.cfg.Method + " " + c.cfg.Path + " HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"User-Agent: lb-health-check\r\n" +
		"Connection: close\r\n\r\n")
}

// probe checks t once and returns whether it passed and why. It is safe for
// concurrent use: it reads only immutable fields of c. The probe ends by
// Timeout, or sooner when ctx is cancelled (Stop).
func (c *Checker) probe(ctx context.Context, t *target) (ok bool, reason string) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	d := net.Dialer{Timeout: c.cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", t.srv.Addr)
	if err != nil {
		return false, failure(ctx, "connect", err)
	}
	defer conn.Close()
	if c.cfg.Kind == TCP {
		return true, "connected"
	}
	if c.cfg.TLS != nil {
		if conn, err = probeTLS(ctx, conn, c.cfg.TLS, t.srv.Addr); err != nil {
			return false, failure(ctx, "tls", err)
		}
		defer conn.Close()
	}
	if deadline, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(deadline); err != nil {
			return false, failure(ctx, "connect", err)
		}
	}
	// Stop cancels ctx: unblock the exchange at once. The probe waits for
	// that callback too, so that Stop outlives every goroutine it caused.
	fired := make(chan struct{})
	unblock := context.AfterFunc(ctx, func() {
		_ = conn.SetDeadline(aLongTimeAgo)
		close(fired)
	})
	defer func() {
		if !unblock() {
			<-fired
		}
	}()
	return c.exchange(ctx, conn, t.req)
}

// exchange writes req on conn and judges the response.
func (c *Checker) exchange(ctx context.Context, conn net.Conn, req []byte) (bool, string) {
	if _, err := conn.Write(req); err != nil {
		return false, failure(ctx, "write", err)
	}
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseResponse(resp)
	wantBody := len(c.cfg.ExpectBody) > 0 && c.cfg.Method != fasthttp.MethodHead
	resp.SkipBody = !wantBody
	resp.StreamBody = true // read the body ourselves, up to MaxBodyBytes
	br := bufio.NewReaderSize(conn, responseBufferSize)
	if err := resp.ReadLimitBody(br, 0); err != nil {
		return false, failure(ctx, "read", err)
	}
	defer func() { _ = resp.CloseBodyStream() }()
	status := resp.StatusCode()
	reason := "status " + strconv.Itoa(status)
	if !c.cfg.expects(status) {
		return false, reason
	}
	if !wantBody {
		return true, reason
	}
	var body []byte
	if stream := resp.BodyStream(); stream != nil {
		var err error
		if body, err = readPrefix(stream, c.cfg.MaxBodyBytes, resp.Header.ContentLength()); err != nil {
			return false, failure(ctx, "read body", err)
		}
	}
	if !bytes.Contains(body, c.cfg.ExpectBody) {
		return false, "body mismatch"
	}
	return true, reason
}

// readPrefix reads up to limit bytes of a body whose Content-Length is cl
// (negative: unknown). It never allocates more than limit bytes nor reads
// past them; a body that ends early is not an error.
func readPrefix(r io.Reader, limit, cl int) ([]byte, error) {
	if cl >= 0 && cl < limit {
		limit = cl
	}
	buf := make([]byte, limit)
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return buf[:n], err
}

// failure describes the error of a failed probe step: "timeout" when the
// probe ran out of time, "stopped" when the checker stopped, else the step
// and its cause, e.g. "connect: connection refused".
func failure(ctx context.Context, step string, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "stopped"
	case ctx.Err() != nil || isTimeout(err):
		return "timeout"
	}
	return step + ": " + cause(err)
}

// isTimeout reports whether err is a deadline expiring.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, fasthttp.ErrTimeout) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// cause returns the innermost meaningful text of err, short.
func cause(err error) string {
	var errno syscall.Errno
	var op *net.OpError
	var text string
	switch {
	case errors.As(err, &errno):
		text = errno.Error()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		text = "connection closed"
	case errors.As(err, &op) && op.Err != nil:
		text = op.Err.Error()
	default:
		text = err.Error()
	}
	if len(text) > maxReasonLen {
		text = text[:maxReasonLen]
	}
	return text
}

// probeTLS completes a TLS handshake on conn to addr, naming the host of
// addr when cfg names no server.
func probeTLS(ctx context.Context, conn net.Conn, cfg *tls.Config, addr string) (net.Conn, error) {
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}
