// Package testsvc starts real service processes for tests: redis-server
// and a PostgreSQL primary with a streaming replica, each on free
// loopback ports in a temporary folder, stopped when the test ends.
//
// A missing binary fails the test when CI=true and skips it otherwise.
// Every helper is safe for use by parallel tests: each call starts its
// own processes.
package testsvc

import (
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// need fails (CI) or skips the test for a missing service binary.
func need(tb testing.TB, what string, err error) {
	tb.Helper()
	msg := what + " not found (" + err.Error() + "); install it with scripts/deps.sh (make deps)"
	if os.Getenv("CI") == "true" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// freePort returns a loopback port that was free a moment ago. The
// kernel does not hand out a just-closed ephemeral port again at once,
// so the short window until the service binds it is benign in practice.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// tail returns the last n bytes of a log file, for failure messages.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return string(b)
}

// lookPath is exec.LookPath, kept apart for the messages.
func lookPath(name string) (string, error) { return exec.LookPath(name) }
