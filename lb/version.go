package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set at build time by the Makefile:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc1234" ./lb
var (
	version = "dev"
	commit  = ""
)

// versionLine is what lb -version prints: version, commit and Go version.
// Without -ldflags, the commit comes from the build's VCS stamp, if any.
func versionLine() string {
	c := commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			dirty := ""
			for _, s := range bi.Settings {
				switch s.Key {
				case "vcs.revision":
					c = s.Value
				case "vcs.modified":
					if s.Value == "true" {
						dirty = "-dirty"
					}
				}
			}
			if c != "unknown" {
				c += dirty
			}
		}
	}
	return fmt.Sprintf("lb %s (commit %s) %s %s/%s", version, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
