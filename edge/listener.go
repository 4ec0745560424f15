package edge

import (
	"net"

	"lb/config"
)

// Wrap returns the listener lb serves for lc: accepted connections have
// their request framing checked within lc's limits.
func Wrap(ln net.Listener, lc config.Listener) (net.Listener, error) {
	return &Listener{Listener: ln, Limits: LimitsOf(lc), MaxConnsPerIP: lc.MaxConnsPerIP}, nil
}

// LimitsOf returns the Scanner limits of a listener.
func LimitsOf(lc config.Listener) Limits {
	return Limits{MaxHeaderBytes: int(lc.MaxHeaderBytes), MaxURIBytes: int(lc.MaxURIBytes)}
}
