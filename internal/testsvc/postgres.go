package testsvc

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// PGCluster is a PostgreSQL primary and one streaming replica (made with
// pg_basebackup -R -X stream), each on a free loopback port, in one
// temporary folder owned by the postgres user. Not safe for concurrent
// StopReplica/StartReplica; the DSN methods are.
type PGCluster struct {
	tb             testing.TB
	bindir         string
	dir            string
	asPostgres     bool // running as root: every program via runuser -u postgres
	primaryPort    int
	replicaPort    int
	primaryRunning bool
	replicaRunning bool
}

// pgBindir finds the folder of initdb and pg_ctl: pg_config --bindir,
// else the newest /usr/lib/postgresql/*/bin (Debian keeps them off PATH).
func pgBindir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := strings.TrimSpace(string(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("no initdb in pg_config --bindir, /usr/lib/postgresql/*/bin or PATH")
	}
	sort.Slice(m, func(i, j int) bool { // numeric version order: 9 < 15 < 16
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(m[j]))))
		return vi < vj
	})
	return filepath.Dir(m[len(m)-1]), nil
}

// Postgres starts a primary and a streaming replica (about 2 s) and stops
// them, replica first, when the test ends.
func Postgres(tb testing.TB) *PGCluster {
	tb.Helper()
	bindir, err := pgBindir()
	if err != nil {
		need(tb, "PostgreSQL", err)
	}
	c := &PGCluster{tb: tb, bindir: bindir, asPostgres: os.Geteuid() == 0}
	// Not tb.TempDir: its parent folders are 0700 root, which the
	// postgres user cannot enter.
	c.dir, err = os.MkdirTemp("", "lbpg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(c.dir) })
	if c.asPostgres {
		u, err := user.Lookup("postgres")
		if err != nil {
			need(tb, "the postgres user", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
	}
	tb.Cleanup(c.stopAll) // registered after RemoveAll, so it runs before it

	c.primaryPort, c.replicaPort = freePort(tb), freePort(tb)
	primary, replica := filepath.Join(c.dir, "primary"), filepath.Join(c.dir, "replica")
	c.run("initdb", "-D", primary, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions")
	c.appendFile(filepath.Join(primary, "postgresql.conf"), fmt.Sprintf(`
wal_level = replica
max_wal_senders = 4
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
fsync = off
full_page_writes = off
max_connections = 100
shared_buffers = 32MB
`, c.primaryPort, c.dir))
	c.appendFile(filepath.Join(primary, "pg_hba.conf"), "\nhost replication all 127.0.0.1/32 trust\n")
	c.firstStart("primary", &c.primaryPort, &c.primaryRunning)
	c.run("pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.primaryPort), "-U", "postgres",
		"-D", replica, "-R", "-X", "stream", "-c", "fast")
	c.appendFile(filepath.Join(replica, "postgresql.conf"), fmt.Sprintf("\nport = %d\n", c.replicaPort))
	c.firstStart("replica", &c.replicaPort, &c.replicaRunning)
	return c
}

func dsn(port int) string {
	return "postgres://postgres@127.0.0.1:" + strconv.Itoa(port) + "/postgres?sslmode=disable"
}

// PrimaryDSN is the primary's connection URL (user postgres, trust auth).
func (c *PGCluster) PrimaryDSN() string { return dsn(c.primaryPort) }

// ReplicaDSN is the replica's connection URL.
func (c *PGCluster) ReplicaDSN() string { return dsn(c.replicaPort) }

// PrimaryAddr and ReplicaAddr are host:port, as data.Source names them.
func (c *PGCluster) PrimaryAddr() string { return addr(c.primaryPort) }

// ReplicaAddr is the replica's host:port.
func (c *PGCluster) ReplicaAddr() string { return addr(c.replicaPort) }

// StopReplica stops the replica (fast shutdown); the primary keeps
// running and the replica catches up after StartReplica.
func (c *PGCluster) StopReplica() { c.tb.Helper(); c.stop("replica", &c.replicaRunning) }

// StartReplica starts the stopped replica on its port again.
func (c *PGCluster) StartReplica() { c.tb.Helper(); c.start("replica", &c.replicaRunning) }

// StopPrimary stops the primary (fast shutdown); the replica keeps
// serving reads and reconnects after StartPrimary.
func (c *PGCluster) StopPrimary() { c.tb.Helper(); c.stop("primary", &c.primaryRunning) }

// StartPrimary starts the stopped primary on its port again.
func (c *PGCluster) StartPrimary() { c.tb.Helper(); c.start("primary", &c.primaryRunning) }

func (c *PGCluster) stop(name string, running *bool) {
	c.tb.Helper()
	if *running {
		c.pgctl(name, "stop")
		*running = false
	}
}

func (c *PGCluster) start(name string, running *bool) {
	c.tb.Helper()
	if !*running {
		c.pgctl(name, "start")
		*running = true
	}
}

// stopAll stops the replica, then the primary; failures are reported
// but do not stop the other.
func (c *PGCluster) stopAll() {
	for _, s := range []struct {
		name    string
		running *bool
	}{{"replica", &c.replicaRunning}, {"primary", &c.primaryRunning}} {
		if !*s.running {
			continue
		}
		if out, err := c.command("pg_ctl", "-D", filepath.Join(c.dir, s.name), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
			c.tb.Errorf("testsvc: stop %s: %v\n%s", s.name, err, out)
			_ = c.command("pg_ctl", "-D", filepath.Join(c.dir, s.name), "-m", "immediate", "stop").Run()
		}
		*s.running = false
	}
}

// pgctl starts or stops one of the servers and waits for it.
func (c *PGCluster) pgctl(name, action string) {
	c.tb.Helper()
	if err := c.pgctlErr(name, action); err != nil {
		c.tb.Fatal(err)
	}
}

func (c *PGCluster) pgctlErr(name, action string) error {
	args := []string{"-D", filepath.Join(c.dir, name), "-w", "-t", "60"}
	if action == "start" {
		args = append(args, "-l", filepath.Join(c.dir, name+".log"), "start")
	} else {
		args = append(args, "-m", "fast", "stop")
	}
	if out, err := c.command("pg_ctl", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("testsvc: pg_ctl %s %s: %v\n%s\n%s", action, name, err, out,
			tail(filepath.Join(c.dir, name+".log"), 2000))
	}
	return nil
}

// firstStart starts a new server; if its port was taken between
// freePort and the bind, it moves to another port (at most 3 tries).
func (c *PGCluster) firstStart(name string, port *int, running *bool) {
	c.tb.Helper()
	for attempt := 1; ; attempt++ {
		err := c.pgctlErr(name, "start")
		if err == nil {
			*running = true
			return
		}
		if attempt == 3 || !strings.Contains(err.Error(), "in use") {
			c.tb.Fatal(err)
		}
		*port = freePort(c.tb)
		c.appendFile(filepath.Join(c.dir, name, "postgresql.conf"), fmt.Sprintf("\nport = %d\n", *port))
	}
}

// command prepares a PostgreSQL program, run as postgres when we are root.
func (c *PGCluster) command(prog string, args ...string) *exec.Cmd {
	path := filepath.Join(c.bindir, prog)
	var cmd *exec.Cmd
	if c.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = c.dir
	return cmd
}

func (c *PGCluster) run(prog string, args ...string) {
	c.tb.Helper()
	if out, err := c.command(prog, args...).CombinedOutput(); err != nil {
		c.tb.Fatalf("testsvc: %s: %v\n%s", prog, err, out)
	}
}

// appendFile appends to a file the postgres user owns; we may write it
// as root, and ownership is unchanged by appending.
func (c *PGCluster) appendFile(path, text string) {
	c.tb.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		c.tb.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		c.tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		c.tb.Fatal(err)
	}
}
