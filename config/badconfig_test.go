package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/badconfig/*.err from the current output")

// TestBadConfigs loads each ../testdata/badconfig/NAME.yaml and compares the
// error, word for word, with NAME.err next to it: one problem per line, in
// line order, each naming the file as given to Load. Run with -update to
// rewrite the .err files after a deliberate change, then review the diff.
func TestBadConfigs(t *testing.T) {
	files, err := filepath.Glob("../testdata/badconfig/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found %d bad configs, want at least 20", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			path := "../testdata/badconfig/" + name + ".yaml"
			errFile := strings.TrimSuffix(path, ".yaml") + ".err"
			c, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%q) = %+v, nil; want an error", path, c)
			}
			if c != nil {
				t.Errorf("Load(%q) returned a Config along with its error", path)
			}
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(errFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, readErr := os.ReadFile(errFile)
			if readErr != nil {
				t.Fatalf("%v (run go test -update to create it)", readErr)
			}
			if got != string(want) {
				t.Errorf("Load(%q) error:\n%s\nwant:\n%s", path, got, want)
			}
			checkErrors(t, err)
		})
	}
}

// checkErrors asserts the shape of an error from Parse: a join of *Error
// values, sorted by line, with non-negative lines.
func checkErrors(t *testing.T, err error) {
	t.Helper()
	var first *Error
	if !errors.As(err, &first) {
		t.Fatalf("error %q does not wrap a *Error", err)
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %T is not a joined error", err)
	}
	last := 0
	for _, e := range joined.Unwrap() {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("joined error %q is %T, want *Error", e, e)
		}
		if ce.Line < last {
			t.Errorf("errors out of line order: line %d after line %d", ce.Line, last)
		}
		last = ce.Line
	}
}
