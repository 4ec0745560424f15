package config

import (
	"lb/logging/accesslog"
)

// RouteAccessLog is a route's access log policy: Nginx `access_log off`
// in a location, HAProxy `log ... sample 1:N`.
type RouteAccessLog struct {
	// Enabled defaults to true; false: no lines for this route.
	Enabled *bool `yaml:"enabled"`
	// Sample N logs one request in N (counted per route). 0 or absent:
	// every request.
	Sample int `yaml:"sample"`
}

// On reports whether the route's requests are logged at all.
func (r *RouteAccessLog) On() bool { return r.Enabled == nil || *r.Enabled }

// accessLog checks the access log's format and template.
func (v *validator) accessLog(a *AccessLog) {
	switch a.Format {
	case "json", "console", "combined":
		if a.Template != "" {
			v.errorf("log.access.template", "is used only with format: template (format is %s)", quote(a.Format))
		}
	case "template":
		if a.Template == "" {
			v.errorf("log.access.format", "template needs log.access.template, e.g. '$remote_addr \"$request\" $status $request_time'")
		} else if _, err := accesslog.Parse(a.Template); err != nil {
			v.errorf("log.access.template", "%v", err)
		}
	default:
		v.errorf("log.access.format", "unknown format %s (want json, console, combined or template)", quote(a.Format))
	}
}

// routeAccessLog checks a route's access_log block at key.
func (v *validator) routeAccessLog(key string, r *RouteAccessLog) {
	if r.Sample < 0 || (r.Sample == 0 && v.pos.set[key+".sample"]) {
		v.errorf(key+".sample", "must be at least 1 (one request in N is logged), got %d", r.Sample)
	}
}
