package health

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// closedPort returns a loopback address bound by a socket that does not
// listen: connecting is refused, and nobody else can take the port while
// the test runs.
func closedPort(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

func TestProbeClosedPort(t *testing.T) {
	for _, kind := range []Kind{TCP, HTTP} {
		t.Run(kind.String(), func(t *testing.T) {
			cfg := Config{Kind: kind, Interval: time.Second, Timeout: 5 * time.Second}
			ok, reason, took := probeOnce(t, closedPort(t), cfg)
			if ok || reason != "connect: connection refused" {
				t.Errorf("probe() = %v, %q, want false, \"connect: connection refused\"", ok, reason)
			}
			if took > 3*time.Second {
				t.Errorf("probe took %v: a refused connection should fail at once", took)
			}
		})
	}
}
