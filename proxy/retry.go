package proxy

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"

	"lb/balancer"
)

// outcomeOf classifies one attempt for passive checks and retries. status
// is the answer's code, 0 when there was none.
func outcomeOf(err error, resp *fasthttp.Response) (balancer.Outcome, int) {
	if err == nil {
		return balancer.OK, resp.StatusCode()
	}
	switch {
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return balancer.ConnectFailed, 0
	case errors.Is(err, fasthttp.ErrTimeout):
		return balancer.TimedOut, 0
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return balancer.ConnectFailed, 0
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return balancer.TimedOut, 0
	}
	return balancer.Failed, 0
}

// retries reports whether an attempt that came to o (and status) is tried
// again. A connect failure always is: the server saw nothing. Anything
// else is retried only when the policy lists it and the request may be
// sent twice (anyMethod: idempotent, or the route allows any).
func (rp *RetryPolicy) retries(o balancer.Outcome, status int, anyMethod bool) bool {
	switch o {
	case balancer.ConnectFailed:
		return true
	case balancer.TimedOut:
		return anyMethod && rp.OnTimeout
	case balancer.Failed:
		return anyMethod && rp.OnError
	}
	return anyMethod && rp.Statuses.Has(status)
}
