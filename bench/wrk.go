package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// wrkScript prints wrk's summary as one JSON line (latencies in µs).
const wrkScript = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\nWRKJSON {"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p99":%d,"p999":%d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
`

// postScript makes every request a 1 KiB POST.
const postScript = `
wrk.method = "POST"
wrk.body = string.rep("x", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
` + wrkScript

// wrkResult is one wrk run.
type wrkResult struct {
	Requests   int64 `json:"requests"`
	DurationUS int64 `json:"duration_us"`
	Errors     int64 `json:"errors"`
	P50        int64 `json:"p50"`
	P99        int64 `json:"p99"`
	P999       int64 `json:"p999"`
}

func (r wrkResult) rps() float64 {
	if r.DurationUS == 0 {
		return 0
	}
	return float64(r.Requests) / (float64(r.DurationUS) / 1e6)
}

// parseWrk finds the summary line in wrk's output.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	i := bytes.LastIndex(out, []byte("WRKJSON "))
	if i < 0 {
		return r, fmt.Errorf("no summary in wrk output:\n%s", out)
	}
	line := out[i+len("WRKJSON "):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return r, json.Unmarshal(line, &r)
}

// writeScripts writes the Lua scripts into dir.
func writeScripts(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "report.lua"), []byte(wrkScript), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "post.lua"), []byte(postScript), 0o644)
}

// runWrk runs wrk on the client CPU against url for d.
func runWrk(dir, cpu string, w workload, url string, d time.Duration) (wrkResult, error) {
	script := "report.lua"
	if w.post {
		script = "post.lua"
	}
	args := []string{"-c", cpu, "wrk", "-t1", "-c" + strconv.Itoa(w.conns), "-d" + fmt.Sprintf("%.0fs", d.Seconds()),
		"--timeout", "5s", "-s", filepath.Join(dir, script)}
	for _, h := range w.headers {
		args = append(args, "-H", h)
	}
	args = append(args, url+w.path)
	out, err := exec.Command("taskset", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	return parseWrk(out)
}
