package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// report is one bench run, written as RESULTS.md and results.svg.
type report struct {
	Date     string
	Machine  string
	Versions []string
	Duration time.Duration
	Runs     int
	Prewarm  time.Duration
	Order    []string                       // workloads in run order
	Results  map[string]map[string][]sample // workload → target → runs
	Encoded  map[string]map[string]encoded  // compressed workload → target → its answer
	Idle     map[string]idleResult
}

// proxies in the order of the tables.
var proxies = []string{"direct", "nginx", "haproxy", "lb", "fasthttp", "floor"}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// stat is the median over runs of one figure.
func stat(ss []sample, f func(sample) float64) float64 {
	xs := make([]float64, len(ss))
	for i, s := range ss {
		xs[i] = f(s)
	}
	return median(xs)
}

func cpu(ss []sample) float64 { return stat(ss, sample.cpuPerReqUS) }

// spread is the lowest and highest of one figure over runs.
func spread(ss []sample, f func(sample) float64) (lo, hi float64) {
	for i, s := range ss {
		v := f(s)
		if i == 0 || v < lo {
			lo = v
		}
		if i == 0 || v > hi {
			hi = v
		}
	}
	return lo, hi
}

func (r *report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark results\n\nWritten by `make bench` (`go run ./bench`) on %s.\n\n", r.Date)
	fmt.Fprintf(&b, "- Machine: %s\n", r.Machine)
	for _, v := range r.Versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	fmt.Fprintf(&b, "- Each proxy: one worker pinned to CPU 0 (Nginx `worker_processes 1`, HAProxy `nbthread 1`, lb `GOMAXPROCS=1`); wrk (`-t1`) and three origins on CPU 1. Access logs off on all three; gzip level %d on all three (HAProxy's libslz has one level); lb with active health checks and its metrics on, HAProxy with `check`.\n", gzipLevel)
	fmt.Fprintf(&b, "- Each figure is the median of %d runs of %s, interleaved across proxies after a warm-up; each run follows %s of unmeasured load on the same proxy. **CPU µs/req** is the proxy's user+system time over the run (from `/proc/PID/stat`) divided by the requests it served: the figure that holds on a shared machine. Its range over the runs is in the tables below: on this shared machine the same process swings by up to 2× from one run to the next, so compare medians and read ratios as ±20%%.\n\n", r.Runs, r.Duration, r.Prewarm)

	b.WriteString("## Summary: CPU per request\n\n")
	b.WriteString("| workload | lb | Nginx | HAProxy | bare fasthttp | Go floor (÷ best) | lb / Nginx | lb / HAProxy | goal: lb ≤ 0.9 × best |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, w := range r.Order {
		res := r.Results[w]
		l, n, h := cpu(res["lb"]), cpu(res["nginx"]), cpu(res["haproxy"])
		if len(res["nginx"]) == 0 {
			fmt.Fprintf(&b, "| %s | %.1f µs | — | — | — | — | — | — | (lb only) |\n", w, l)
			continue
		}
		bare := "—"
		if ss := res["fasthttp"]; len(ss) > 0 {
			bare = fmt.Sprintf("%.1f µs", cpu(ss))
		}
		best := min(n, h)
		floor := "—"
		if ss := res["floor"]; len(ss) > 0 {
			floor = fmt.Sprintf("%.1f µs (%.2f ×)", cpu(ss), cpu(ss)/best)
		}
		goal := "—"
		if wl := workloadNamed(w); wl.goal {
			mark := "✗"
			if l <= 0.9*best {
				mark = "✓"
			}
			goal = fmt.Sprintf("%s %.2f ×", mark, l/best)
		}
		fmt.Fprintf(&b, "| %s | %.1f µs | %.1f µs | %.1f µs | %s | %s | %.2f | %.2f | %s |\n", w, l, n, h, bare, floor, l/n, l/h, goal)
	}
	if r.ran("floor") {
		b.WriteString("\nGo floor: `bench/floor`, a byte relay in Go with no HTTP engine, no limits, no timeouts, no health checks. It pays what Go's runtime, its network poller and its accept path cost on their own; its ratio to the better peer shows how much of the 0.9 × budget those leave for everything a proxy does.\n")
	}
	for _, w := range r.Order {
		if line := r.encodedLine(w); line != "" && len(r.Results[w]["nginx"]) > 0 {
			fmt.Fprintf(&b, "\n%s: %s\n", w, line)
		}
	}
	r.splitTable(&b)
	if len(r.Idle) > 0 {
		b.WriteString("\n## Memory per idle keep-alive connection\n\n")
		n := 0
		for _, v := range r.Idle {
			n = v.Conns
		}
		fmt.Fprintf(&b, "%d client connections, each after one request, held idle; growth of the proxy's resident memory (VmRSS) divided by the connections. Goal for lb: at most 5 KiB.\n\n| proxy | KiB per connection | RSS before → after |\n|---|---|---|\n", n)
		for _, p := range proxies[1:] {
			if v, ok := r.Idle[p]; ok {
				fmt.Fprintf(&b, "| %s | %.2f | %d → %d KiB |\n", p, v.perConnKiB(), v.BeforeKiB, v.AfterKiB)
			}
		}
	}
	b.WriteString("\n## Every workload\n")
	for _, w := range r.Order {
		fmt.Fprintf(&b, "\n### %s\n\n| target | req/s | p50 | p99 | p99.9 | errors | CPU µs/req | range |\n|---|---|---|---|---|---|---|---|\n", w)
		for _, p := range proxies {
			ss := r.Results[w][p]
			if len(ss) == 0 {
				continue
			}
			rps := stat(ss, func(s sample) float64 { return s.wrk.rps() })
			ms := func(f func(wrkResult) int64) string {
				return fmt.Sprintf("%.2f ms", stat(ss, func(s sample) float64 { return float64(f(s.wrk)) })/1000)
			}
			var errs int64
			for _, s := range ss {
				errs += s.wrk.Errors
			}
			c, rng := "—", "—"
			if p != "direct" {
				c = fmt.Sprintf("%.1f", cpu(ss))
				lo, hi := spread(ss, sample.cpuPerReqUS)
				rng = fmt.Sprintf("%.1f–%.1f", lo, hi)
			}
			name := p
			switch p {
			case "direct":
				name = "direct to an origin (baseline)"
			case "fasthttp":
				name = "bare fasthttp proxy (reference, no features)"
			case "floor":
				name = "Go floor: byte relay, no HTTP engine (reference)"
			}
			fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %d | %s | %s |\n", name, rps,
				ms(func(w wrkResult) int64 { return w.P50 }), ms(func(w wrkResult) int64 { return w.P99 }),
				ms(func(w wrkResult) int64 { return w.P999 }), errs, c, rng)
		}
		if line := r.encodedLine(w); line != "" {
			fmt.Fprintf(&b, "\nBody as sent: %s\n", line)
		}
	}
	b.WriteString("\n![CPU per request](results.svg)\n")
	if err := os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "results.svg"), []byte(r.svg()), 0o644)
}

func workloadNamed(name string) workload {
	for _, w := range workloads {
		if w.name == name {
			return w
		}
	}
	return workload{}
}

// svg draws CPU µs per request as grouped horizontal bars.
func (r *report) svg() string {
	colors := map[string]string{"nginx": "#2e8b57", "haproxy": "#4169e1", "lb": "#e8590c", "fasthttp": "#999999", "floor": "#cccccc"}
	// The scale fits the workloads all proxies run; a longer bar (brotli,
	// lb's alone) is cut at the edge, its figure written beside it.
	var maxV float64
	for _, w := range r.Order {
		if workloadNamed(w).lbOnly {
			continue
		}
		for _, p := range proxies[1:] {
			maxV = max(maxV, cpu(r.Results[w][p]))
		}
	}
	if maxV == 0 {
		maxV = 1
	}
	const left, width, bar, gap = 230, 440, 14, 18
	height := 60 + len(r.Order)*(5*bar+gap)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", left+width+90, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">Proxy CPU time per request (µs, lower is better) — %s</text>`+"\n", r.Date)
	y := 40
	for _, w := range r.Order {
		fmt.Fprintf(&b, `<text x="10" y="%d">%s</text>`+"\n", y+bar+4, w)
		for _, p := range proxies[1:] {
			ss := r.Results[w][p]
			if len(ss) == 0 {
				y += bar
				continue
			}
			v := cpu(ss)
			wpx := min(int(v/maxV*width), width)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/><text x="%d" y="%d">%s %.1f</text>`+"\n",
				left, y, max(wpx, 1), bar-2, colors[p], left+wpx+4, y+bar-4, p, v)
			y += bar
		}
		y += gap
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// encodedLine lists what each target sent on compressed workload w, with
// its size against the uncompressed answer; "" when w compresses nothing.
func (r *report) encodedLine(w string) string {
	sizes := r.Encoded[w]
	if len(sizes) == 0 {
		return ""
	}
	var parts []string
	plain := sizes["direct"].Bytes
	for _, p := range proxies[1:] {
		e, ok := sizes[p]
		if !ok {
			continue
		}
		coding := e.Coding
		if coding == "" {
			coding = "identity"
		}
		part := fmt.Sprintf("%s %d bytes %s", p, e.Bytes, coding)
		if plain > 0 {
			part += fmt.Sprintf(" (%.1f%%)", 100*float64(e.Bytes)/float64(plain))
		}
		parts = append(parts, part)
	}
	return fmt.Sprintf("%s; uncompressed %d bytes.", strings.Join(parts, ", "), plain)
}

// ran reports whether target p has results in any workload.
func (r *report) ran(p string) bool {
	for _, res := range r.Results {
		if len(res[p]) > 0 {
			return true
		}
	}
	return false
}

// splitTable writes, for the workloads with a goal, each proxy's CPU per
// request split into user space and kernel, and the user time lb would
// have to reach, its kernel time as measured, to meet the goal.
func (r *report) splitTable(b *strings.Builder) {
	var rows []string
	for _, w := range r.Order {
		res := r.Results[w]
		if !workloadNamed(w).goal || len(res["nginx"]) == 0 || len(res["haproxy"]) == 0 || len(res["lb"]) == 0 {
			continue
		}
		row := "| " + w
		for _, p := range []string{"lb", "nginx", "haproxy", "floor"} {
			ss := res[p]
			if len(ss) == 0 {
				row += " | — | —"
				continue
			}
			sys := stat(ss, sample.sysPerReqUS)
			user := stat(ss, func(s sample) float64 { return s.cpuPerReqUS() - s.sysPerReqUS() })
			row += fmt.Sprintf(" | %.1f | %.1f", user, sys)
		}
		budget := 0.9*min(cpu(res["nginx"]), cpu(res["haproxy"])) - stat(res["lb"], sample.sysPerReqUS)
		if budget > 0 {
			row += fmt.Sprintf(" | %.1f µs |\n", budget)
		} else {
			row += " | none: lb's kernel time alone is over the goal |\n"
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n## User space and kernel\n\n")
	b.WriteString("CPU µs per request split into user and kernel (system) time, medians over the runs. The kernel's part is mostly the same work for every proxy (reading and writing the same bytes on loopback, most of it each write waking its reader on the other CPU), give or take a system call or two per request. The last column is the user time lb would need, with its kernel time as measured, to be at 0.9 × the better peer's CPU: compare it with that peer's own user time, and with the Go floor's, which is what Go's runtime, poller and accept path spend with no HTTP engine at all.\n\n")
	b.WriteString("| workload | lb user | lb kernel | Nginx user | Nginx kernel | HAProxy user | HAProxy kernel | Go floor user | Go floor kernel | lb user time the goal needs |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, row := range rows {
		b.WriteString(row)
	}
}
