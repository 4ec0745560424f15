// Package upgrade hands a running lb's sockets to a new lb process: the
// listening sockets when the new process starts, so that no connection
// waits on a closed port, and then every client connection the old
// process holds idle between requests, so that none is closed under a
// request already on the wire. It is lb's answer to Nginx's USR2 binary
// upgrade and HAProxy's socket transfer (expose-fd listeners), which pass
// listeners only and close idle connections.
//
// The old process starts the new one with the listeners inherited as
// extra files and one end of a Unix SOCK_SEQPACKET socket pair; the new
// process serves, then says "ready" over that socket; the old one stops
// accepting and sends each idle connection's descriptor over the same
// socket (SCM_RIGHTS), tagged with the key of the listener it came
// from, until it has none left.
package upgrade

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
)

// The environment of a process started by an upgrade.
const (
	// envListeners lists the inherited listeners' keys, comma
	// separated, in the order of their descriptors (from fdListeners).
	envListeners = "LB_UPGRADE_LISTENERS"
	// envChannel is set when descriptor fdChannel is the channel to the
	// old process.
	envChannel = "LB_UPGRADE_CHANNEL"
)

// Descriptors of a process started by an upgrade: after stdin, stdout
// and stderr come the channel and then the listeners.
const (
	fdChannel   = 3
	fdListeners = 4
)

// Messages on the channel besides handed-over connections.
const (
	msgReady  = "ready"
	msgFailed = "failed: "
)

// maxMessage bounds one message: a listener key or a failure.
const maxMessage = 4096

// socketPair returns the two ends of a Unix SOCK_SEQPACKET socket pair,
// which keeps message boundaries (one connection per message).
func socketPair() (mine *net.UnixConn, theirs *os.File, err error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("upgrade channel: %w", err)
	}
	theirs = os.NewFile(uintptr(fds[1]), "upgrade-channel")
	f := os.NewFile(uintptr(fds[0]), "upgrade-channel")
	defer f.Close()
	mine, err = fileUnixConn(f)
	if err != nil {
		theirs.Close()
		return nil, nil, err
	}
	return mine, theirs, nil
}

func fileUnixConn(f *os.File) (*net.UnixConn, error) {
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("upgrade channel: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, errors.New("upgrade channel: not a Unix socket")
	}
	return uc, nil
}

// sendConn sends c's descriptor over ch, tagged with its listener's key.
// The kernel duplicates the descriptor into the receiver; the caller still
// closes its own.
func sendConn(ch *net.UnixConn, addr string, c syscall.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	err = rc.Control(func(fd uintptr) {
		_, _, sendErr = ch.WriteMsgUnix([]byte(addr), syscall.UnixRights(int(fd)), nil)
	})
	if err != nil {
		return err
	}
	return sendErr
}

// message is one message received on the channel: text, and a
// connection when one came with it.
type message struct {
	text string
	conn net.Conn
}

// receive reads one message from ch.
func receive(ch *net.UnixConn, buf, oob []byte) (message, error) {
	n, oobn, flags, _, err := ch.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, err
	}
	if n == 0 && oobn == 0 {
		return message{}, errors.New("upgrade channel closed") // peer's end closed
	}
	m := message{text: string(buf[:n])}
	if oobn == 0 {
		return m, nil
	}
	cmsgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return m, fmt.Errorf("upgrade channel: %w", err)
	}
	var fds []int
	for i := range cmsgs {
		more, err := syscall.ParseUnixRights(&cmsgs[i])
		if err == nil {
			fds = append(fds, more...)
		}
	}
	for i, fd := range fds {
		syscall.CloseOnExec(fd)
		f := os.NewFile(uintptr(fd), "handed-over")
		if i == 0 && flags&syscall.MSG_CTRUNC == 0 {
			m.conn, err = net.FileConn(f)
		}
		f.Close() // FileConn holds its own duplicate
	}
	if err != nil {
		return m, fmt.Errorf("handed-over connection: %w", err)
	}
	return m, nil
}

// splitAddrs parses envListeners.
func splitAddrs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}
