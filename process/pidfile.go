package process

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// WritePID records the running process's PID in path (Nginx pid) and
// returns a function that removes it. It refuses when path names another
// live process.
func WritePID(path string) (remove func(), err error) {
	if pid, err := readPID(path); err == nil && pid != os.Getpid() && alive(pid) {
		return nil, fmt.Errorf("pid file %s: lb is already running as PID %d", path, pid)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	return func() {
		if pid, err := readPID(path); err == nil && pid == os.Getpid() {
			_ = os.Remove(path)
		}
	}, nil
}

// signals are the commands of lb -s, as in nginx -s.
var signals = map[string]syscall.Signal{
	"reload": syscall.SIGHUP,
	"stop":   syscall.SIGTERM,
}

// Signal sends the named command (reload, stop) to the lb whose PID is
// in path.
func Signal(path, name string) error {
	sig, ok := signals[name]
	if !ok {
		return fmt.Errorf("unknown signal %q (want reload or stop)", name)
	}
	if path == "" {
		return errors.New("-s needs -pid FILE, the running lb's pid file")
	}
	pid, err := readPID(path)
	if err != nil {
		return err
	}
	if err := syscall.Kill(pid, sig); err != nil {
		return fmt.Errorf("signal %s to PID %d (from %s): %w", name, pid, path, err)
	}
	return nil
}

func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: no PID in it", path)
	}
	return pid, nil
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
