package config

import (
	"fmt"
	"time"
)

// Defaults, as documented on the fields of Config.
const (
	defaultShutdownTimeout   = 30 * time.Second
	defaultReadTimeout       = 60 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 75 * time.Second
	defaultMaxHeaderBytes    = 16 << 10
	defaultMaxBodyBytes      = 8 << 20
	defaultLogLevel          = "info"
	defaultLogFormat         = "json"
	defaultLogOutput         = "stderr"
	defaultAccessOutput      = "stdout"
	defaultPolicy            = RoundRobin
	defaultConnectTimeout    = 5 * time.Second
	defaultResponseTimeout   = 60 * time.Second
	defaultPoolIdleTimeout   = 30 * time.Second
	defaultMaxConnsPerServer = 1024
	defaultWeight            = 1
)

// setDefaults fills every field whose key was left out of the file (or
// written as null). A key written with a zero value ("weight: 0",
// `level: ""`) keeps it, for validation to reject rather than repair.
func setDefaults(c *Config, pos *positions) {
	unset := func(format string, args ...any) bool {
		return !pos.set[fmt.Sprintf(format, args...)]
	}
	if unset("shutdown_timeout") {
		c.ShutdownTimeout = defaultShutdownTimeout
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if unset("listeners[%d].name", i) {
			l.Name = l.Address
		}
		if unset("listeners[%d].read_timeout", i) {
			l.ReadTimeout = defaultReadTimeout
		}
		if unset("listeners[%d].write_timeout", i) {
			l.WriteTimeout = defaultWriteTimeout
		}
		if unset("listeners[%d].idle_timeout", i) {
			l.IdleTimeout = defaultIdleTimeout
		}
		if unset("listeners[%d].max_header_bytes", i) {
			l.MaxHeaderBytes = defaultMaxHeaderBytes
		}
		if unset("listeners[%d].max_body_bytes", i) {
			l.MaxBodyBytes = defaultMaxBodyBytes
		}
	}

	if unset("log.level") {
		c.Log.Level = defaultLogLevel
	}
	if unset("log.format") {
		c.Log.Format = defaultLogFormat
	}
	if unset("log.output") {
		c.Log.Output = defaultLogOutput
	}
	if c.Log.Access.Enabled == nil && unset("log.access.enabled") {
		enabled := true
		c.Log.Access.Enabled = &enabled
	}
	if unset("log.access.output") {
		c.Log.Access.Output = defaultAccessOutput
	}
	if unset("log.access.format") {
		c.Log.Access.Format = c.Log.Format
	}

	for i := range c.Routes {
		if unset("routes[%d].name", i) {
			c.Routes[i].Name = fmt.Sprintf("route-%d", i+1)
		}
	}

	for i := range c.Pools {
		p := &c.Pools[i]
		path := "pools." + p.Name
		if unset("%s.policy", path) {
			p.Policy = defaultPolicy
		}
		if unset("%s.timeouts.connect", path) {
			p.Timeouts.Connect = defaultConnectTimeout
		}
		if unset("%s.timeouts.response", path) {
			p.Timeouts.Response = defaultResponseTimeout
		}
		if unset("%s.timeouts.idle", path) {
			p.Timeouts.Idle = defaultPoolIdleTimeout
		}
		if unset("%s.max_conns_per_server", path) {
			p.MaxConnsPerServer = defaultMaxConnsPerServer
		}
		for j := range p.Servers {
			if unset("%s.servers[%d].weight", path, j) {
				p.Servers[j].Weight = defaultWeight
			}
		}
	}
}
