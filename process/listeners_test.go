package process

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// client is one keep-alive connection.
type client struct {
	c net.Conn
	r *bufio.Reader
}

func dialClient(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c, bufio.NewReader(c)}
}

// get sends a request and returns whether the answer closes the
// connection.
func (c *client) get(t *testing.T) (closes bool) {
	t.Helper()
	c.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	var resp fasthttp.Response
	if err := resp.Read(c.r); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode() != 200 {
		t.Fatalf("status %d", resp.StatusCode())
	}
	return resp.ConnectionClose()
}

// TestReloadOpensChangesAndClosesListeners: a reload opens a listener
// added to the configuration, keeps an unchanged one with its
// connections, gives a changed one a new server on the same socket, and
// closes a removed one. Connections of replaced servers are told to
// close with an answer, never cut; a listener that cannot open fails the
// reload and changes nothing.
func TestReloadOpensChangesAndClosesListeners(t *testing.T) {
	origin := startOrigin(t)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	write := func(listeners string) {
		cfg := fmt.Sprintf("listeners: [%s]\nlog: {level: error, access: {enabled: false}}\nroutes: [{pool: web}]\npools: {web: {servers: [{address: %q}]}}\n", listeners, origin)
		if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const a, b = `{address: "127.0.0.1:0"}`, `{address: "127.0.0.2:0"}`
	write(a)
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	addrA := p.Addrs()[0].String()
	onA := dialClient(t, addrA)
	onA.get(t)

	// Added: B opens; A, unchanged, keeps its server and connection.
	write(a + ", " + b)
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	addrs := p.Addrs()
	if len(addrs) != 2 || addrs[0].String() != addrA {
		t.Fatalf("listeners after adding one: %v", addrs)
	}
	addrB := addrs[1].String()
	onB := dialClient(t, addrB)
	onB.get(t)
	if onA.get(t) {
		t.Fatal("an unchanged listener's connection was told to close")
	}

	// Changed: B gets a new server on the same socket; its old
	// connection is told to close with an answer, new ones are served.
	write(a + ", " + strings.Replace(b, "}", ", idle_timeout: 10s}", 1))
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if p.Addrs()[1].String() != addrB {
		t.Fatalf("changed listener moved to %v", p.Addrs()[1])
	}
	if !onB.get(t) {
		t.Fatal("a replaced server's connection was not told to close")
	}
	if dialClient(t, addrB).get(t) {
		t.Fatal("the new server on the same socket closes its connections")
	}

	// Removed: A stops accepting; its connection gets its answer and is
	// told to close.
	write(strings.Replace(b, "}", ", idle_timeout: 10s}", 1))
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	if !onA.get(t) {
		t.Fatal("a removed listener's connection was not told to close")
	}
	if c, err := net.DialTimeout("tcp", addrA, time.Second); err == nil {
		c.Close()
		t.Fatalf("removed listener %s still accepts", addrA)
	}

	// A listener that cannot open: the reload fails, nothing changes.
	busy, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	write(b + fmt.Sprintf(", {address: %q}", busy.Addr()))
	if err := p.Reload(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("reload onto a busy port: %v", err)
	}
	if got := p.Addrs(); len(got) != 1 || got[0].String() != addrB {
		t.Fatalf("listeners after a failed reload: %v", got)
	}
	if dialClient(t, addrB).get(t) {
		t.Fatal("served with Connection: close after a failed reload")
	}
}

// TestPortZeroListenersGetSocketsOfTheirOwn: two listeners on
// 127.0.0.1:0 are two sockets, and keep them across a reload.
func TestPortZeroListenersGetSocketsOfTheirOwn(t *testing.T) {
	origin := startOrigin(t)
	path := filepath.Join(t.TempDir(), "lb.yaml")
	cfg := fmt.Sprintf("listeners: [{name: a, address: \"127.0.0.1:0\"}, {name: b, address: \"127.0.0.1:0\"}]\nlog: {level: error, access: {enabled: false}}\nroutes: [{pool: web}]\npools: {web: {servers: [{address: %q}]}}\n", origin)
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(t.Context()) })
	before := p.Addrs()
	if len(before) != 2 || before[0].String() == before[1].String() {
		t.Fatalf("two port-0 listeners bound %v", before)
	}
	if err := p.Reload(); err != nil {
		t.Fatal(err)
	}
	after := p.Addrs()
	if after[0].String() != before[0].String() || after[1].String() != before[1].String() {
		t.Fatalf("reload moved the listeners from %v to %v", before, after)
	}
	for _, a := range after {
		dialClient(t, a.String()).get(t)
	}
}
