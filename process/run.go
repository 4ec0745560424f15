package process

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"lb/upgrade"
)

// upgradeTimeout bounds how long a new process started by an upgrade may
// take to become ready before it is killed and the old one goes on.
const upgradeTimeout = time.Minute

// Run starts lb with the configuration at path and serves until SIGTERM
// or SIGINT (graceful stop; a second one exits at once). SIGHUP reloads
// the configuration; SIGUSR2 upgrades: the executable is started again
// with the listening sockets, and once it is ready this process hands it
// every connection as it falls idle and exits (Nginx's USR2 + QUIT in
// one step). With pidFile, the PID is written there for lb -s; the new
// process of an upgrade writes its own before it says it is ready.
func Run(path, pidFile string) error {
	// Signals are caught before the "listening" line and the PID file say
	// that lb runs: a SIGHUP sent the moment they appear would otherwise
	// end the process, and a SIGUSR2 would be dropped (Go ignores signals
	// nobody asked for). One sent while lb starts waits until it serves.
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	set, err := upgrade.Inherit()
	if err != nil {
		return err
	}
	p, err := StartWith(path, set)
	if err != nil {
		set.Failed(err)
		return err
	}
	log := p.logs.Error
	if pidFile != "" {
		remove, err := WritePID(pidFile, set.Upgraded())
		if err != nil {
			set.Failed(err)
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = p.Shutdown(ctx)
			return err
		}
		defer remove()
	}
	if set.Upgraded() {
		log.Info("upgrade: new process serving; the old one hands its connections over", zap.Int("pid", os.Getpid()), zap.Int("old_pid", os.Getppid()))
	}
	if err := set.Ready(); err != nil {
		log.Warn("upgrade: the old process did not hear this one is ready", zap.Error(err))
	}
	for sig := range sigs {
		switch sig {
		case syscall.SIGHUP:
			if err := p.Reload(); err != nil {
				log.Error("reload failed, still serving the previous configuration", zap.Error(err))
			} else {
				log.Info("configuration reloaded", zap.String("file", path))
			}
		case syscall.SIGUSR2:
			log.Info("upgrade: starting a new process", zap.Duration("timeout", upgradeTimeout))
			child, err := set.Spawn(upgradeTimeout)
			if err != nil {
				log.Error("upgrade failed, still serving", zap.Error(err))
				continue
			}
			log.Info("upgrade: new process ready; handing connections over and stopping", zap.Int("new_pid", child.Pid))
			return p.handOver(child, sigs)
		default:
			log.Info("shutting down", zap.String("signal", sig.String()))
			return p.stop(sigs, nil)
		}
	}
	return nil
}

// handOver passes every connection to child as soon as it is between
// requests, waits for the rest (requests in flight, tunnels) until
// shutdown_timeout, then stops.
func (p *Process) handOver(child *upgrade.Child, sigs <-chan os.Signal) error {
	return p.stop(sigs, func(ctx context.Context) {
		p.set.HandOver(child.Channel())
		if err := p.set.WaitConns(ctx); err != nil {
			p.logs.Error.Warn("upgrade: connections still open at shutdown_timeout are closed", zap.Int("connections", p.set.Conns()))
		}
		if err := p.set.HandOverErr(); err != nil {
			p.logs.Error.Error("upgrade: the new process stopped taking connections; the rest were served here", zap.Error(err))
		}
	})
}

// stop runs before (if any) and a graceful Shutdown within
// shutdown_timeout; a stop signal meanwhile exits at once.
func (p *Process) stop(sigs <-chan os.Signal, before func(context.Context)) error {
	log := p.logs.Error
	p.mu.Lock()
	timeout := p.cfg.ShutdownTimeout
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	go func() {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGTERM || sig == syscall.SIGINT {
					log.Warn("second signal: exiting now")
					os.Exit(1)
				}
				log.Warn("signal ignored while stopping", zap.String("signal", sig.String()))
			case <-ctx.Done():
				return
			}
		}
	}()
	if before != nil {
		before(ctx)
	}
	err := p.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil // graceful stop ran out of time; the rest were closed
	}
	return err
}
