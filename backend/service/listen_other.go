//go:build !linux

package service

import "net"

// Listen opens a TCP listener on addr. SO_REUSEPORT (a second process on
// the same port during a restart) is wired up on Linux only.
func Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
