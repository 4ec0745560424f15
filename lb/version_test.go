package main_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestVersionFromLdflags builds lb as the Makefile does, with the version
// and commit set by -ldflags, and checks what lb -version prints; the
// test binary built without them says "dev".
func TestVersionFromLdflags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "lb")
	out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7 -X main.commit=abc1234", "-o", bin, "lb/lb").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("lb -version: %v\n%s", err, out)
	}
	want := "lb v9.8.7 (commit abc1234) " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if string(out) != want {
		t.Fatalf("lb -version printed %q, want %q", out, want)
	}
	out, err = exec.Command(filepath.Join(binDir, "lb"), "-version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "lb dev (commit ") || !strings.Contains(string(out), runtime.Version()) {
		t.Fatalf("lb -version without ldflags printed %q (%v), want lb dev (commit ...) %s", out, err, runtime.Version())
	}
}
