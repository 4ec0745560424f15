package main

import (
	"strconv"
	"testing"
)

func TestBodyLength(t *testing.T) {
	for _, tc := range []struct {
		head string
		want int
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 81\r\n\r\n", 81},
		{"HTTP/1.1 200 OK\r\nServer: origin\r\ncontent-length:16306\r\n\r\n", 16306},
		{"HTTP/1.1 204 No Content\r\n\r\n", 0},
		{"HTTP/1.1 200 OK\r\nX-Content-Length: 5\r\n\r\n", 0},
	} {
		if got := bodyLength([]byte(tc.head)); got != tc.want {
			t.Errorf("bodyLength(%q) = %d, want %d", tc.head, got, tc.want)
		}
	}
}

// FuzzBodyLength: any head gives a length without panicking, and a
// Content-Length line right after the status line is the one read,
// whatever follows it.
func FuzzBodyLength(f *testing.F) {
	f.Add([]byte("Server: origin\r\n\r\n"), uint16(81))
	f.Add([]byte("content-length:\r\n\r\n"), uint16(0))
	f.Add([]byte("Content-Length: 99999999999999999999\n"), uint16(7))
	f.Fuzz(func(t *testing.T, rest []byte, n uint16) {
		_ = bodyLength(rest)
		head := "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(int(n)) + "\r\n" + string(rest)
		if got := bodyLength([]byte(head)); got != int(n) {
			t.Fatalf("bodyLength(%q) = %d, want %d", head, got, n)
		}
	})
}
