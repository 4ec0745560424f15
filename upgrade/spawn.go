package upgrade

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// closedSilently is the failure of a new process that closed the channel
// without saying why.
const closedSilently = "closed its end of the upgrade channel without a word"

// Child is a new process started by Spawn.
type Child struct {
	Pid    int
	ch     *net.UnixConn
	exited chan struct{}
	err    error // why it exited; set before exited closes
}

// Spawn starts the running executable again, with the same arguments,
// environment and standard streams and the set's listening sockets, and
// waits until the new process is ready (then HandOver passes it the
// connections), has failed, or timeout has passed (then it is killed).
// The set keeps serving throughout; on error nothing has changed.
func (s *Set) Spawn(timeout time.Duration) (*Child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the executable: %w", err)
	}
	addrs, files, err := s.listenerFiles()
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	mine, theirs, err := socketPair()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = append([]*os.File{theirs}, files...)
	cmd.Env = append(cleanEnv(os.Environ()), envChannel+"=1", envListeners+"="+strings.Join(addrs, ","))
	err = cmd.Start()
	theirs.Close()
	if err != nil {
		mine.Close()
		return nil, fmt.Errorf("starting %s: %w", exe, err)
	}
	c := &Child{Pid: cmd.Process.Pid, ch: mine, exited: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.exited)
	}()

	answer := make(chan message, 1)
	go func() {
		buf, oob := make([]byte, maxMessage), make([]byte, 64)
		m, err := receive(mine, buf, oob)
		if err != nil {
			m.text = msgFailed + closedSilently
		}
		answer <- m
	}()
	fail := func(err error) (*Child, error) {
		_ = cmd.Process.Kill()
		<-c.exited
		mine.Close()
		return nil, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case m := <-answer:
		if m.conn != nil {
			m.conn.Close()
		}
		if m.text == msgReady {
			return c, nil
		}
		return fail(fmt.Errorf("new process %d: %s", c.Pid, strings.TrimPrefix(m.text, msgFailed)))
	case <-c.exited:
		// It may have said why before it exited.
		reason := ""
		select {
		case m := <-answer:
			if m.conn != nil {
				m.conn.Close()
			}
			if strings.HasPrefix(m.text, msgFailed) && m.text != msgFailed+closedSilently {
				reason = ": " + strings.TrimPrefix(m.text, msgFailed)
			}
		case <-time.After(time.Second):
		}
		mine.Close()
		return nil, fmt.Errorf("new process %d exited before it was ready (%v)%s", c.Pid, c.err, reason)
	case <-timer.C:
		return fail(fmt.Errorf("new process %d not ready within %s: killed", c.Pid, timeout))
	}
}

// Channel returns the channel to pass to HandOver.
func (c *Child) Channel() *net.UnixConn { return c.ch }

// Exited returns a channel closed when the child has exited, if it exits
// before this process does.
func (c *Child) Exited() <-chan struct{} { return c.exited }

// cleanEnv drops a previous upgrade's variables.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, envChannel+"=") || strings.HasPrefix(kv, envListeners+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
