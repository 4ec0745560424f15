package deadline_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"lb/deadline"
)

// pair returns a lazily-deadlined client end and the plain server end of
// a loopback TCP connection.
func pair(tb testing.TB) (*deadline.Conn, net.Conn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s := <-acc
	if s == nil {
		tb.Fatal("accept failed")
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return deadline.New(c), s
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// A later deadline set while an earlier one is armed still holds: the
// read goes on past the earlier one and times out at the later one.
func TestLaterDeadlineHolds(t *testing.T) {
	c, _ := pair(t)
	start := time.Now()
	if err := c.SetReadDeadline(start.Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := c.SetReadDeadline(start.Add(400 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(make([]byte, 1))
	took := time.Since(start)
	if !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if took < 400*time.Millisecond {
		t.Fatalf("timed out after %v, before the deadline set last (400ms)", took)
	}
}

// Data that arrives after the earlier, superseded deadline is read.
func TestReadResumesAndGetsData(t *testing.T) {
	c, s := pair(t)
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(50 * time.Millisecond))
	_ = c.SetReadDeadline(start.Add(5 * time.Second))
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, _ = s.Write([]byte("x"))
	}()
	b := make([]byte, 1)
	n, err := c.Read(b)
	if err != nil || n != 1 || b[0] != 'x' {
		t.Fatalf("read %d %q %v, want the byte sent after the superseded deadline", n, b[:n], err)
	}
}

// An earlier deadline than the armed one is armed at once.
func TestEarlierDeadlineFiresOnTime(t *testing.T) {
	c, _ := pair(t)
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(time.Hour))
	_ = c.SetReadDeadline(start.Add(100 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	took := time.Since(start)
	if !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if took < 100*time.Millisecond || took > 5*time.Second {
		t.Fatalf("timed out after %v, want about 100ms", took)
	}
}

// A deadline in the past wakes a read blocked under a later one: how lb
// interrupts a connection waiting between requests.
func TestPastDeadlineWakesBlockedRead(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(time.Hour))
	wokenBy(t, c, time.Unix(1, 0))
}

// wokenBy starts a read on c, which has nothing to read, sets the read
// deadline to t while the read waits, and fails unless the read then
// times out. Should the read not have begun waiting yet, it still must
// time out: the sleep chooses the case tested, not the outcome.
func wokenBy(t *testing.T, c *deadline.Conn, d time.Time) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	_ = c.SetReadDeadline(d)
	select {
	case err := <-errc:
		if !isTimeout(err) {
			t.Fatalf("read: %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read was not woken")
	}
}

// Clearing the deadline leaves the armed one in place, and the read
// outlives it.
func TestClearedDeadline(t *testing.T) {
	c, s := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	_ = c.SetReadDeadline(time.Time{})
	go func() {
		time.Sleep(250 * time.Millisecond)
		_, _ = s.Write([]byte("y"))
	}()
	b := make([]byte, 1)
	if n, err := c.Read(b); err != nil || n != 1 {
		t.Fatalf("read %d %v, want the byte sent after the cleared deadline", n, err)
	}
	// And the next read waits with no deadline: it ends only by the peer.
	go func() {
		time.Sleep(200 * time.Millisecond)
		s.Close()
	}()
	if _, err := c.Read(b); err != io.EOF {
		t.Fatalf("read: %v, want EOF (no deadline left)", err)
	}
}

// A write cut short by a superseded deadline goes on to the end.
func TestWriteResumes(t *testing.T) {
	c, s := pair(t)
	const size = 64 << 20
	got := make(chan int, 1)
	go func() {
		time.Sleep(300 * time.Millisecond) // the sender blocks meanwhile
		n, _ := io.Copy(io.Discard, s)
		got <- int(n)
	}()
	start := time.Now()
	_ = c.SetWriteDeadline(start.Add(50 * time.Millisecond))
	_ = c.SetWriteDeadline(start.Add(30 * time.Second))
	n, err := c.Write(make([]byte, size))
	if err != nil || n != size {
		t.Fatalf("write %d of %d: %v", n, size, err)
	}
	c.Close()
	if r := <-got; r != size {
		t.Fatalf("peer read %d bytes, want %d", r, size)
	}
}

// A write past its real deadline reports the timeout and what it wrote.
func TestWriteTimesOut(t *testing.T) {
	c, _ := pair(t)
	b := make([]byte, 256<<20) // before the deadline: zeroing it takes a while under -race
	// A second, not less: a stall that outlasted the deadline before the
	// write began would time it out with nothing written.
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	n, err := c.Write(b)
	if !isTimeout(err) || n == 0 || n == 256<<20 {
		t.Fatalf("write %d: %v, want a timeout part way", n, err)
	}
}

// Concurrent setters and a reader keep the semantics (run under -race).
func TestConcurrentSetters(t *testing.T) {
	c, s := pair(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_ = c.SetReadDeadline(time.Now().Add(time.Duration(1+time.Now().UnixNano()%20) * time.Millisecond))
				_ = c.SetReadDeadline(time.Now().Add(time.Hour))
			}
		}()
	}
	go func() {
		for range 200 {
			_, _ = s.Write([]byte("z"))
			time.Sleep(time.Millisecond)
		}
	}()
	b := make([]byte, 1)
	read := 0
	for read < 200 {
		n, err := c.Read(b)
		read += n
		if err != nil && !isTimeout(err) {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkSetReadDeadline compares moving the deadline forward per
// request on a plain connection and on a lazy one.
func BenchmarkSetReadDeadline(b *testing.B) {
	c, _ := pair(b)
	b.Run("net.TCPConn", func(b *testing.B) {
		raw := c.NetConn()
		for b.Loop() {
			_ = raw.SetReadDeadline(time.Now().Add(time.Minute))
		}
	})
	b.Run("deadline.Conn", func(b *testing.B) {
		// A read that waited once: the deadline is armed, as on a
		// keep-alive connection, and every later move is lazy.
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); !isTimeout(err) {
			b.Fatalf("read: %v, want a timeout", err)
		}
		for b.Loop() {
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		}
	})
	b.Run("deadline.Conn/fresh", func(b *testing.B) {
		// A new connection's: nothing armed until a read waits.
		f, _ := pair(b)
		for b.Loop() {
			_ = f.SetReadDeadline(time.Now().Add(time.Minute))
		}
	})
}

// After is a deadline d from now by the monotonic clock.
func TestAfter(t *testing.T) {
	before := time.Now()
	d := deadline.After(time.Second)
	after := time.Now()
	if d.Before(before.Add(time.Second)) || d.After(after.Add(time.Second)) {
		t.Fatalf("After(1s) = %v, want between %v and %v", d, before.Add(time.Second), after.Add(time.Second))
	}
	if u := time.Until(d); u <= 0 || u > time.Second {
		t.Fatalf("time.Until(After(1s)) = %v", u)
	}
}

func BenchmarkAfter(b *testing.B) {
	b.Run("time.Now().Add", func(b *testing.B) {
		for b.Loop() {
			_ = time.Now().Add(time.Minute)
		}
	})
	b.Run("deadline.After", func(b *testing.B) {
		for b.Loop() {
			_ = deadline.After(time.Minute)
		}
	})
}

// A read that finds its bytes and a write the socket takes at once arm
// nothing: a short-lived connection never touches the runtime's timers.
func TestNothingArmedWithoutWaiting(t *testing.T) {
	c, s := pair(t)
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Hour))
	_ = c.SetWriteDeadline(time.Now().Add(time.Hour))
	waitReadable(t, c, 5)
	b := make([]byte, 5)
	if n, err := c.Read(b); err != nil || string(b[:n]) != "hello" {
		t.Fatalf("read %q: %v", b[:n], err)
	}
	if n, err := c.Write([]byte("answer")); err != nil || n != 6 {
		t.Fatalf("write %d: %v", n, err)
	}
	if r, w := deadline.Armed(c); r || w {
		t.Errorf("armed: read %v, write %v; want neither (nothing waited)", r, w)
	}
	// The peer got the answer.
	buf := make([]byte, 6)
	if _, err := io.ReadFull(s, buf); err != nil || string(buf) != "answer" {
		t.Fatalf("peer read %q: %v", buf, err)
	}
}

// The first read that has to wait arms the deadline first, and times out
// at it.
func TestFirstWaitArmsTheDeadline(t *testing.T) {
	c, _ := pair(t)
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(150 * time.Millisecond))
	if r, _ := deadline.Armed(c); r {
		t.Fatal("armed before any read")
	}
	_, err := c.Read(make([]byte, 1))
	if !isTimeout(err) {
		t.Fatalf("read: %v, want a timeout", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("timed out after %v, before the deadline", took)
	}
	if r, _ := deadline.Armed(c); !r {
		t.Fatal("the read waited with nothing armed")
	}
}

// A deadline that has passed fails the operation at once, as on a
// net.Conn, even with bytes waiting or room to write.
func TestPassedDeadlineFailsAtOnce(t *testing.T) {
	c, s := pair(t)
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	waitReadable(t, c, 1)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if n, err := c.Read(make([]byte, 1)); !isTimeout(err) || n != 0 {
		t.Fatalf("read %d: %v, want a timeout", n, err)
	}
	_ = c.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := c.Write([]byte("y")); !isTimeout(err) || n != 0 {
		t.Fatalf("write %d: %v, want a timeout", n, err)
	}
}

// A deadline set while a read waits with nothing armed wakes it.
func TestDeadlineSetWhileWaiting(t *testing.T) {
	c, _ := pair(t)
	wokenBy(t, c, time.Now().Add(150*time.Millisecond))
}

// A write larger than the socket takes at once arms its deadline and
// goes on to the end; the peer gets every byte in order.
func TestFirstWriteThatWaits(t *testing.T) {
	c, s := pair(t)
	const size = 16 << 20
	src := make([]byte, size)
	for i := range src {
		src[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		time.Sleep(100 * time.Millisecond) // the writer fills the buffers first
		b, _ := io.ReadAll(s)
		got <- b
	}()
	_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
	n, err := c.Write(src)
	if err != nil || n != size {
		t.Fatalf("write %d of %d: %v", n, size, err)
	}
	if _, w := deadline.Armed(c); !w {
		t.Error("a write that waited did so with nothing armed")
	}
	c.Close()
	if b := <-got; !bytes.Equal(b, src) {
		t.Fatalf("peer got %d bytes, not the %d written in order", len(b), size)
	}
}

// A read after the peer's close reports io.EOF through the first try too.
func TestFirstReadAtEOF(t *testing.T) {
	c, s := pair(t)
	s.Close()
	_ = c.SetReadDeadline(time.Now().Add(time.Hour))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read: %v, want io.EOF", err)
	}
}

// waitReadable waits until n bytes are in c's socket buffer (FIONREAD),
// without reading them.
func waitReadable(t *testing.T, c *deadline.Conn, n int) {
	t.Helper()
	raw, err := c.NetConn().(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		var queued int32
		_ = raw.Control(func(fd uintptr) {
			_, _, _ = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&queued)))
		})
		if int(queued) >= n {
			return
		}
		runtime.Gosched()
	}
	t.Fatalf("%d bytes never arrived", n)
}
