package config

import (
	"fmt"
	"strings"
)

// policies lists the known policies, in the order error messages give them.
var policies = []Policy{RoundRobin, WeightedRoundRobin, LeastConn, RandomTwo, Hash}

// Server weights are 1..maxWeight.
const maxWeight = 1000

func (v *validator) pools(pools []Pool) {
	if len(pools) == 0 {
		v.errorf("pools", "at least one pool is required")
	}
	for i := range pools {
		v.pool(&pools[i])
	}
}

func (v *validator) pool(pool *Pool) {
	p := "pools." + pool.Name
	if msg := checkPoolName(pool.Name); msg != "" {
		v.errorf(p, "%s", msg)
	}
	v.policy(p, pool)
	v.servers(p, pool.Servers)

	if pool.MaxConnsPerServer < 1 {
		v.errorf(p+".max_conns_per_server", "must be at least 1, got %d", pool.MaxConnsPerServer)
	}
	if hp := p + ".host"; v.pos.set[hp] || pool.Host != "" {
		if msg := checkHostHeader(pool.Host); msg != "" {
			v.errorf(hp, "%s", msg)
		}
	}
	v.headerOps(p+".request_headers", &pool.RequestHeaders, true)
	v.headerOps(p+".response_headers", &pool.ResponseHeaders, false)

	v.healthCheck(p, &pool.HealthCheck)
	v.passive(p, &pool.Passive)
	v.outlier(p, &pool.Outlier)
	if pool.MaxQueue < 0 {
		v.errorf(p+".max_queue", "must be at least 0 (0 turns the queue off), got %d", pool.MaxQueue)
	}
	v.retries(p, &pool.Retries)
	v.sticky(p, &pool.Sticky)
}

// policy checks the policy and its hash_key.
func (v *validator) policy(p string, pool *Pool) {
	pp, kp := p+".policy", p+".hash_key"
	known := false
	for _, policy := range policies {
		known = known || pool.Policy == policy
	}
	switch {
	case !known:
		names := make([]string, len(policies))
		for i, policy := range policies {
			names[i] = string(policy)
		}
		v.errorf(pp, "unknown policy %s (want one of %s)", quote(string(pool.Policy)), strings.Join(names, ", "))
	case pool.Policy == Hash && !v.pos.set[kp]:
		// The key is missing: cite the line that asks for one.
		v.errorAt(v.pos.line(pp), kp, "required by policy hash (want client_ip, path, header:NAME or cookie:NAME)")
	case pool.Policy == Hash:
		if msg := checkHashKey(pool.HashKey); msg != "" {
			v.errorf(kp, "%s", msg)
		}
	case v.pos.set[kp]:
		v.errorf(kp, "is only used by policy hash, but this pool's policy is %s", pool.Policy)
	}
}

// servers checks a pool's servers.
func (v *validator) servers(p string, servers []Server) {
	sp := p + ".servers"
	if len(servers) == 0 {
		v.errorf(sp, "pool has no servers")
		return
	}
	seen, ids := firstSeen{}, firstSeen{}
	primaries := 0
	for i := range servers {
		s := &servers[i]
		ap := index(sp, i) + ".address"
		switch {
		case s.Resolve || s.Service != "":
			v.resolvedServer(index(sp, i), s, seen) // validate_discovery.go
		case s.Address == "":
			v.errorf(ap, "required (host:port, e.g. \"127.0.0.1:9001\")")
		case checkHostPort(s.Address, true, "127.0.0.1:9001") != "":
			v.errorf(ap, "%s", checkHostPort(s.Address, true, "127.0.0.1:9001"))
		default:
			if first, dup := seen.dup(s.Address, v.pos.line(ap)); dup {
				v.errorf(ap, "duplicate server %s (first at line %d)", quote(s.Address), first)
			}
		}
		if s.Weight < 1 || s.Weight > maxWeight {
			v.errorf(index(sp, i)+".weight", "must be from 1 to %d, got %d", maxWeight, s.Weight)
		}
		if idp := index(sp, i) + ".id"; v.pos.set[idp] || s.ID != "" {
			if msg := checkServerID(s.ID); msg != "" {
				v.errorf(idp, "%s", msg)
			} else if first, dup := ids.dup(s.ID, v.pos.line(idp)); dup {
				v.errorf(idp, "duplicate server id %s (first at line %d)", quote(s.ID), first)
			}
		}
		if s.Down && s.Drain {
			v.errorf(index(sp, i)+".drain", "down and drain together: down takes the server out of the pool, drain keeps only its sticky sessions; choose one")
		}
		if !s.Backup {
			primaries++
		}
	}
	if primaries == 0 {
		v.errorf(sp, "pool has only backup servers (at least one must have backup: false)")
	}
}

// hopByHop are the headers of one connection (RFC 9110 section 7.6.1 and
// the ones Go's httputil.ReverseProxy drops), which lb manages itself on
// each side; Content-Length is managed too, since it must match the body
// lb forwards.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

// managedHeader returns why lb does not let the configuration edit the
// header name, or "" when it may be edited.
func managedHeader(name string, request bool) string {
	for _, h := range hopByHop {
		if strings.EqualFold(name, h) {
			return fmt.Sprintf("%s is a hop-by-hop header, managed by lb", quote(name))
		}
	}
	switch {
	case strings.EqualFold(name, "Content-Length"):
		return fmt.Sprintf("%s is managed by lb (it must match the body)", quote(name))
	case request && strings.EqualFold(name, "Host"):
		return fmt.Sprintf("%s cannot be edited here; set the pool's host key instead", quote(name))
	}
	return ""
}

// headerOps checks one set of header edits.
func (v *validator) headerOps(path string, ops *HeaderOps, request bool) {
	check := func(name, value string) string {
		if msg := managedHeader(name, request); msg != "" {
			return msg
		}
		if value == "" {
			return fmt.Sprintf("empty value for header %s (to drop a header, list it under remove)", quote(name))
		}
		if !validFieldValue(value) {
			return fmt.Sprintf("bad value for header %s: control characters (CR, LF, NUL and the like) are not allowed in a field value", quote(name))
		}
		return ""
	}
	v.headerMap(path+".set", ops.Set, check)
	v.headerMap(path+".add", ops.Add, check)

	rp := path + ".remove"
	seen := firstSeen{}
	for i, name := range ops.Remove {
		key := index(rp, i)
		switch {
		case !isToken(name):
			v.errorf(key, "bad header name %s: not an HTTP token", quote(name))
		case managedHeader(name, request) != "":
			v.errorf(key, "%s", managedHeader(name, request))
		default:
			if first, dup := seen.dup(strings.ToLower(name), v.pos.line(key)); dup {
				v.errorf(key, "duplicate header %s (first at line %d; header names ignore case)", quote(name), first)
			}
		}
	}
}
