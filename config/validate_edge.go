package config

// listenerLimits checks the limits of each listener (the edge keys:
// max_uri_bytes, header_timeout, max_conns, max_conns_per_ip,
// max_requests_per_conn). Sizes and durations are positive once decoded.
func (v *validator) listenerLimits(ls []Listener) {
	for i := range ls {
		l := &ls[i]
		p := index("listeners", i)
		if l.MaxURIBytes > l.MaxHeaderBytes && !v.undecoded(p+".max_header_bytes") {
			v.errorf(p+".max_uri_bytes", "%d is over max_header_bytes (%d): the request line is part of the head", l.MaxURIBytes, l.MaxHeaderBytes)
		}
		if l.HeaderTimeout > l.ReadTimeout && !v.undecoded(p+".read_timeout") {
			v.errorf(p+".header_timeout", "%s is over read_timeout (%s)", l.HeaderTimeout, l.ReadTimeout)
		}
		for _, n := range []struct {
			key string
			val int
		}{
			{"max_conns", l.MaxConns},
			{"max_conns_per_ip", l.MaxConnsPerIP},
			{"max_requests_per_conn", l.MaxRequestsPerConn},
		} {
			if n.val < 0 {
				v.errorf(p+"."+n.key, "must not be negative (0 means no limit), got %d", n.val)
			}
		}
		if l.MaxConns > 0 && l.MaxConnsPerIP > l.MaxConns {
			v.errorf(p+".max_conns_per_ip", "%d is over max_conns (%d)", l.MaxConnsPerIP, l.MaxConns)
		}
	}
}
