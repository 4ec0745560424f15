package process

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// WritePID records the running process's PID in path (Nginx pid) and
// returns a function that removes it unless another process's PID has
// replaced it since. It refuses when path names another live process,
// except the old process of an upgrade (upgraded). The file is replaced
// whole, never seen half-written.
func WritePID(path string, upgraded bool) (remove func(), err error) {
	if pid, err := readPID(path); err == nil && pid != os.Getpid() && alive(pid) &&
		!(upgraded && pid == os.Getppid()) {
		return nil, fmt.Errorf("pid file %s: lb is already running as PID %d", path, pid)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	_, err = tmp.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
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
	"reload":  syscall.SIGHUP,
	"stop":    syscall.SIGTERM,
	"upgrade": syscall.SIGUSR2,
}

// Signal sends the named command (reload, stop, upgrade) to the lb whose PID is
// in path.
func Signal(path, name string) error {
	sig, ok := signals[name]
	if !ok {
		return fmt.Errorf("unknown signal %q (want reload, stop or upgrade)", name)
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
