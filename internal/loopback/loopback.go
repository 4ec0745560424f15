// Package loopback gives tests loopback addresses that misbehave in the
// ways servers do: refusing connections, or never accepting them. Each is
// held by a socket of the test's own until the test ends, so no other
// test can take the port meanwhile.
package loopback

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// socket binds a new TCP socket to a free loopback port, closed when the
// test ends, and returns it with its address.
func socket(tb testing.TB) (int, string) {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatal(err)
	}
	return fd, net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// Refusing returns an address where connecting is refused at once: the
// socket is bound but never listens.
func Refusing(tb testing.TB) string {
	tb.Helper()
	_, addr := socket(tb)
	return addr
}

// Blackhole returns an address where connecting hangs: the socket listens
// with a backlog that is already full and never accepts, so the kernel
// drops further SYNs.
func Blackhole(tb testing.TB) string {
	tb.Helper()
	fd, addr := socket(tb)
	if err := syscall.Listen(fd, 0); err != nil {
		tb.Fatal(err)
	}
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			break
		}
		tb.Cleanup(func() { c.Close() })
	}
	return addr
}
