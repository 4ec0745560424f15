package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat times (100 on Linux).
const clockTicks = 100

// cpuTicks returns the user and system time of pid (fields 14 and 15 of
// /proc/PID/stat) in clock ticks.
func cpuTicks(pid int) (user, sys int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	return parseStatTicks(string(b))
}

// parseStatTicks reads utime and stime from a /proc/PID/stat line; the
// command name in parentheses may hold spaces, so fields count after the
// last ')'.
func parseStatTicks(stat string) (user, sys int64, err error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("bad stat line %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("bad stat line %q", stat)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad stat line %q", stat)
	}
	return u, s, nil
}

// sumTicks returns the CPU time of all pids: user+system, and system.
func sumTicks(pids []int) (total, sys int64) {
	for _, p := range pids {
		if u, s, err := cpuTicks(p); err == nil {
			total += u + s
			sys += s
		}
	}
	return total, sys
}

// rssKiB returns the resident set (VmRSS) of all pids, in KiB.
func rssKiB(pids []int) int64 {
	var kb int64
	for _, p := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				kb += n
			}
		}
	}
	return kb
}

// children returns pid and its child processes (Nginx's workers).
func children(pid int) []int {
	pids := []int{pid}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return pids
	}
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
