// Command bench measures lb next to Nginx and HAProxy on this machine in
// one run: the same origins, the same client (wrk), each proxy pinned to
// one CPU with one worker, the client and origins on the other. It writes
// bench/RESULTS.md and bench/results.svg. `make bench` runs it.
//
// The figure that holds on a shared, noisy machine is each proxy's CPU
// time per request (user+system from /proc/PID/stat over the measured
// interval, divided by the requests served); requests per second and
// latencies are given too, and ratios rather than absolute times are
// what the summary quotes.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// workload is one wrk configuration.
type workload struct {
	name    string
	path    string
	conns   int
	headers []string
	post    bool
	lbOnly  bool // brotli: only lb has it
	goal    bool // the 0.9 × CPU goal applies
	floor   bool // the Go floor (bench/floor) can relay it
}

var workloads = []workload{
	{name: "keep-alive small GET", path: "/small", conns: 64, goal: true, floor: true},
	{name: "keep-alive 16 KiB GET", path: "/16k", conns: 64, goal: true, floor: true},
	{name: "64 KiB JSON, gzip", path: "/64k", conns: 64, headers: []string{"Accept-Encoding: gzip"}, goal: true},
	{name: "64 KiB JSON, brotli", path: "/64k", conns: 64, headers: []string{"Accept-Encoding: br"}, lbOnly: true},
	{name: "new connection per request", path: "/small", conns: 64, headers: []string{"Connection: close"}, goal: true, floor: true},
	{name: "1 KiB POST", path: "/echo", conns: 64, post: true},
}

// sample is one measured run of one target.
type sample struct {
	wrk   wrkResult
	ticks int64 // proxy CPU ticks over the run; 0 for the baseline
	sys   int64 // of which in the kernel
}

func (s sample) cpuPerReqUS() float64 { return s.perReqUS(s.ticks) }

// sysPerReqUS is the kernel's part of cpuPerReqUS.
func (s sample) sysPerReqUS() float64 { return s.perReqUS(s.sys) }

func (s sample) perReqUS(ticks int64) float64 {
	if s.wrk.Requests == 0 {
		return 0
	}
	return float64(ticks) * (1e6 / clockTicks) / float64(s.wrk.Requests)
}

func main() {
	out := flag.String("out", "bench", "folder for RESULTS.md and results.svg")
	dur := flag.Duration("duration", 3*time.Second, "length of one measured run")
	warm := flag.Duration("warmup", 2*time.Second, "warm-up before each target's runs")
	runs := flag.Int("runs", 9, "measured runs per target and workload (interleaved)")
	prewarm := flag.Duration("prewarm", 1500*time.Millisecond, "unmeasured load on a target right before each of its measured runs")
	idleN := flag.Int("idle", 10000, "idle keep-alive connections for the memory figure")
	only := flag.String("only", "", "run only workloads whose name contains this")
	proxyCPU := flag.String("proxy-cpu", "0", "CPU the proxies run on")
	clientCPU := flag.String("client-cpu", "1", "CPU wrk and the origins run on")
	lbExe := flag.String("lb", "", "lb executable to measure (default: built from this tree)")
	flag.Parse()
	defer stopStarted()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		fatalf("interrupted")
	}()

	for _, tool := range []string{"nginx", "haproxy", "wrk", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			fatalf("%s not found: make bench installs it (apt-get install nginx haproxy wrk)", tool)
		}
	}
	// 10,000 idle connections take two descriptors each in a proxy
	// (HAProxy reserves them up front): raise the limit when allowed.
	lim := syscall.Rlimit{Cur: 65536, Max: 65536}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
		if n := int(lim.Max/2) - 1000; *idleN > n {
			log.Printf("descriptor limit %d: %d idle connections instead of %d", lim.Max, n, *idleN)
			*idleN = n
		}
	}
	maxConns = *idleN + 500
	dir, err := os.MkdirTemp("", "lb-bench-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	tmpDir = dir
	bins := filepath.Join(dir, "bin")
	pkgs := []string{"lb", "bench/origin", "bench/bare", "bench/floor"}
	if *lbExe != "" {
		pkgs = pkgs[1:]
	} else {
		*lbExe = filepath.Join(bins, "lb")
	}
	for _, pkg := range pkgs {
		ldflags := "-s -w"
		if out, err := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", filepath.Join(bins, filepath.Base(pkg)), "lb/"+pkg).CombinedOutput(); err != nil {
			fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	if err := writeScripts(dir); err != nil {
		fatalf("%v", err)
	}
	origins, stopOrigins, err := startOrigins(dir, *clientCPU, filepath.Join(bins, "origin"), 3)
	if err != nil {
		fatalf("%v", err)
	}
	defer stopOrigins()

	direct := &target{name: "direct", url: "http://" + origins[0], pids: func() []int { return nil }, stop: func() {}}
	// The Go floor (bench/floor) runs on the GETs without a body it can
	// relay (workload.floor); it stays out of the idle-connection test.
	floor, err := startReference(dir, *proxyCPU, filepath.Join(bins, "floor"), "floor", origins)
	if err != nil {
		fatalf("%v", err)
	}
	defer floor.stop()
	starts := []func() (*target, error){
		func() (*target, error) { return startNginx(dir, *proxyCPU, origins) },
		func() (*target, error) { return startHAProxy(dir, *proxyCPU, origins) },
		func() (*target, error) { return startLB(dir, *proxyCPU, *lbExe, origins) },
		func() (*target, error) {
			return startReference(dir, *proxyCPU, filepath.Join(bins, "bare"), "fasthttp", origins)
		},
	}
	var targets []*target
	stopAll := func() {
		for _, t := range targets {
			t.stop()
		}
		targets = nil
	}
	startAll := func() {
		for _, start := range starts {
			t, err := start()
			if err != nil {
				stopAll()
				fatalf("%v", err)
			}
			targets = append(targets, t)
		}
		time.Sleep(3 * time.Second) // first health checks
	}
	startAll()
	defer func() { stopAll() }()

	rep := &report{
		Date:     time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Machine:  machine(),
		Versions: versions(),
		Duration: *dur, Runs: *runs, Prewarm: *prewarm,
		Results: map[string]map[string][]sample{},
		Encoded: map[string]map[string]encoded{},
	}
	for _, w := range workloads {
		if *only != "" && !strings.Contains(w.name, *only) {
			continue
		}
		// The baseline straight to an origin where it compares (the
		// origins do not compress); the featureless fasthttp proxy where
		// it does the same work (it does not compress either).
		compressed := len(w.headers) > 0 && strings.HasPrefix(w.headers[0], "Accept-Encoding")
		var all []*target
		switch {
		case w.lbOnly:
			all = []*target{targets[2]}
		case compressed:
			all = targets[:3]
		case w.post, len(w.headers) > 0:
			all = targets
		default:
			all = append([]*target{direct}, targets...)
		}
		if w.floor {
			all = append(all[:len(all):len(all)], floor)
		}
		rep.Order = append(rep.Order, w.name)
		rep.Results[w.name] = map[string][]sample{}
		if compressed {
			// What each sends, next to the CPU it spends on it.
			sizes := map[string]encoded{}
			for _, t := range append([]*target{direct}, all...) {
				e, err := fetchEncoded(t.url+w.path, w.headers)
				if err != nil {
					fatalf("%s %s: %v", w.name, t.name, err)
				}
				sizes[t.name] = e
			}
			rep.Encoded[w.name] = sizes
		}
		log.Printf("%s: warm-up", w.name)
		for _, t := range all {
			if _, err := runWrk(dir, *clientCPU, w, t.url, *warm); err != nil {
				fatalf("%s %s: %v", w.name, t.name, err)
			}
		}
		for i := range *runs {
			for _, t := range all {
				// A process idle while the others ran is slower for a few
				// seconds once loaded again (caches, and the host's
				// placement of the CPU: this machine is shared), whichever
				// proxy it is: load it unmeasured first.
				if *prewarm > 0 {
					if _, err := runWrk(dir, *clientCPU, w, t.url, *prewarm); err != nil {
						fatalf("%s %s: %v", w.name, t.name, err)
					}
				}
				before, beforeSys := sumTicks(t.pids())
				r, err := runWrk(dir, *clientCPU, w, t.url, *dur)
				if err != nil {
					fatalf("%s %s: %v", w.name, t.name, err)
				}
				after, afterSys := sumTicks(t.pids())
				s := sample{wrk: r, ticks: after - before, sys: afterSys - beforeSys}
				rep.Results[w.name][t.name] = append(rep.Results[w.name][t.name], s)
				log.Printf("%s run %d %-8s %8.0f req/s  p99 %5.2f ms  errors %d  CPU %.1f µs/req",
					w.name, i+1, t.name, r.rps(), float64(r.P99)/1000, r.Errors, s.cpuPerReqUS())
			}
		}
	}
	if *idleN > 0 && (*only == "" || strings.Contains("idle connections", *only)) {
		// Fresh proxies: memory left by the workloads above would blur
		// what the idle connections add.
		stopAll()
		startAll()
		rep.Idle = map[string]idleResult{}
		for _, t := range targets {
			r, err := idleConns(t, *idleN)
			if err != nil {
				fatalf("idle connections, %s: %v", t.name, err)
			}
			rep.Idle[t.name] = r
			log.Printf("idle: %s %.2f KiB per connection (%d → %d KiB)", t.name, r.perConnKiB(), r.BeforeKiB, r.AfterKiB)
		}
	}
	if err := rep.write(*out); err != nil {
		fatalf("%v", err)
	}
	log.Printf("wrote %s/RESULTS.md and %s/results.svg", *out, *out)
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	kernel := version("uname", "-r")
	return fmt.Sprintf("%s, %s CPUs, Linux %s", cpu, strings.TrimSpace(version("nproc")), kernel)
}

func versions() []string {
	commit := strings.TrimSpace(version("git", "rev-parse", "--short", "HEAD"))
	v := []string{
		"lb " + commit + " (" + strings.TrimSpace(version("go", "version")) + ")",
		version("nginx", "-v"),
		version("haproxy", "-v"),
		version("wrk", "-v"),
	}
	sort.Strings(v[1:])
	return v
}

// tmpDir is the run's temporary folder, which fatalf removes too.
var tmpDir string

// fatalf stops every process the bench started, then exits with the
// message (log.Fatalf would skip the deferred stops and leave the
// proxies and origins running).
func fatalf(format string, args ...any) {
	stopStarted()
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	log.Fatalf(format, args...)
}
