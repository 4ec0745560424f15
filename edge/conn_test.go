package edge_test

import (
	"errors"
	"io"
	"net"
	"testing"

	"lb/edge"
)

// TestSwitchProtocolsReleasesHeldBytes: bytes a client sends right after
// its Upgrade request are no HTTP request; the Conn holds them back as
// refused, and hands them over in order once the proxy switches the
// connection to a tunnel.
func TestSwitchProtocolsReleasesHeldBytes(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	head := "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"
	frame := "\x81\x85abcdhello"
	go func() {
		io.WriteString(client, head+frame)
		io.WriteString(client, "more")
	}()
	c := edge.NewConn(server, edge.Limits{})
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != head+frame[:1] {
		t.Fatalf("first Read = %q, %v; want the head and the frame's first byte", buf[:n], err)
	}
	if _, err := c.Read(buf); !errors.Is(err, edge.ErrRequestLine) {
		t.Fatalf("second Read error = %v, want %v", err, edge.ErrRequestLine)
	}
	c.SwitchProtocols()
	var got []byte
	for len(got) < len(frame)-1+len("more") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("Read after switch: %v", err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != frame[1:]+"more" {
		t.Fatalf("after switch read %q, want %q", got, frame[1:]+"more")
	}
}
