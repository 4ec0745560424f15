package balancer

// Healthy reports the verdict of the active health checks: true until a
// checker marks the server down. It is separate from State, which is the
// operator's (configuration and admin API), and from passive ejection.
func (s *Server) Healthy() bool { return !s.unhealthy.Load() }

// SetServerHealth records an active health check verdict for s, one of
// the pool's servers, and reports whether it changed; callers log and
// count only then. A server that turns healthy again starts its slow start
// (HAProxy slowstart) when the pool has one. Call it off the request path.
func (p *Pool) SetServerHealth(s *Server, healthy bool) bool {
	if s.unhealthy.Swap(!healthy) == !healthy {
		return false
	}
	s.Stats.HealthTransitions.Add(1)
	if healthy && p.slowStart > 0 {
		s.upSince.Store(nowNanos())
	}
	if !healthy {
		s.closeIdle()
	}
	p.rebuildFor(s)
	return true
}

// Refresh lets precomputed schedules follow the weights of servers in slow
// start, and reports whether any server is still ramping; the health
// checker calls it on every tick while that is so.
func (p *Pool) Refresh() bool {
	was := false
	for _, s := range p.servers {
		if s.upSince.Load() != 0 {
			was = true
		}
	}
	if !was {
		return false
	}
	p.rebuildAll()
	for _, s := range p.servers {
		if s.InSlowStart() {
			return true
		}
	}
	// The last ramp just ended: publish full weights.
	p.rebuildAll()
	return false
}
