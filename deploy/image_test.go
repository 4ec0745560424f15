package deploy_test

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The Dockerfile cannot always be built here (no Docker daemon, no
// registry), so these tests check what can be checked without one: its
// stages and flags, that the files it copies exist and are not excluded by
// .dockerignore, and that its own `go build` commands, run here as
// written, give static binaries that work. With a Docker daemon,
// TestDockerBuild builds and runs the image for real.

const root = "../"

// instruction is one Dockerfile instruction: its keyword (upper case)
// and the rest of its line(s), continuations joined.
type instruction struct {
	cmd, args string
	line      int
}

// readDockerfile splits the repository's Dockerfile into instructions:
// comments and blank lines dropped, lines ending in a backslash joined
// with the next. It is what this test needs, not a full Dockerfile parser
// (no heredocs, no escape directive).
func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	start := 0
	for i, l := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(l)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if rest, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args), start})
		cur.Reset()
	}
	if cur.Len() != 0 {
		t.Fatal("Dockerfile ends in a line continuation")
	}
	return out
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	from, name string
	body       []instruction
}

func stages(t *testing.T) []stage {
	var out []stage
	for _, in := range readDockerfile(t) {
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			if in.cmd != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.cmd)
			}
			continue
		}
		out[len(out)-1].body = append(out[len(out)-1].body, in)
	}
	return out
}

// goBuilds returns the `go build` commands of a stage's RUN instructions
// as argument lists (after "go"), with their RUN flags (--mount=…) dropped.
func goBuilds(s stage) [][]string {
	var out [][]string
	for _, in := range s.body {
		if in.cmd != "RUN" {
			continue
		}
		for part := range strings.SplitSeq(in.args, "&&") {
			w := shellWords(part)
			for len(w) > 0 && strings.HasPrefix(w[0], "--") {
				w = w[1:]
			}
			if len(w) > 2 && w[0] == "go" && w[1] == "build" {
				out = append(out, w[1:])
			}
		}
	}
	return out
}

// shellWords splits a command at blanks, keeping double-quoted words
// together (their quotes removed); the Dockerfile uses nothing more.
func shellWords(s string) []string {
	var words []string
	var w strings.Builder
	in, quoted := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			in = true
		case (r == ' ' || r == '\t') && !quoted:
			if in {
				words = append(words, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words
}

// goVersion is the go directive of go.mod, e.g. "1.26.8".
func goVersion(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+(\.\d+)?)$`).FindSubmatch(b)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	return string(m[1])
}

// TestDockerfileStages: a Go build stage on go.mod's Go release, static
// binaries (no cgo, -trimpath, version and commit stamped) of both
// programs, and a distroless non-root runtime stage that copies exactly
// them and starts lb on /etc/lb/config.yaml.
func TestDockerfileStages(t *testing.T) {
	st := stages(t)
	if len(st) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2 (build, runtime)", len(st))
	}
	build, run := st[0], st[1]
	v := goVersion(t)
	minor := v[:strings.LastIndexByte(v, '.')]
	if strings.Count(v, ".") == 1 {
		minor = v
	}
	if build.from != "golang:"+minor || build.name == "" {
		t.Errorf("build stage FROM %s AS %q, want golang:%s (go.mod says go %s) with a name", build.from, build.name, minor, v)
	}
	if run.from != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", run.from)
	}

	cgoOff := false
	for _, in := range build.body {
		if in.cmd == "ENV" && regexp.MustCompile(`\bCGO_ENABLED=0\b`).MatchString(in.args) {
			cgoOff = true
		}
	}
	if !cgoOff {
		t.Error("build stage does not set ENV CGO_ENABLED=0 (the runtime image has no libc)")
	}
	outs := map[string]string{} // package → output path
	for _, args := range goBuilds(build) {
		joined := strings.Join(args, " ")
		for _, want := range []string{"-trimpath", "-X main.version=${VERSION}", "-X main.commit=${COMMIT}"} {
			if !strings.Contains(joined, want) {
				t.Errorf("go %s: missing %s", joined, want)
			}
		}
		i := slices.Index(args, "-o")
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("go %s: no -o", joined)
		}
		outs[args[len(args)-1]] = args[i+1]
	}
	if len(outs) != 2 || outs["./lb"] == "" || outs["./backend"] == "" {
		t.Fatalf("go build commands build %v, want ./lb and ./backend", outs)
	}

	var copied []string
	user, entry := "", ""
	for _, in := range run.body {
		switch in.cmd {
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) > 0 && f[0] == "--from="+build.name {
				copied = append(copied, f[1:len(f)-1]...)
			}
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entry = in.args
		}
	}
	slices.Sort(copied)
	if want := []string{outs["./backend"], outs["./lb"]}; !slices.Equal(copied, want) {
		t.Errorf("runtime stage copies %v from the build stage, want %v", copied, want)
	}
	if user != "nonroot:nonroot" && user != "65532:65532" {
		t.Errorf("runtime USER %q, want nonroot", user)
	}
	if entry != `["/lb", "-config", "/etc/lb/config.yaml"]` {
		t.Errorf("ENTRYPOINT %s, want exec form of /lb -config /etc/lb/config.yaml", entry)
	}
}

// dockerignored reports whether .dockerignore excludes path (slash
// separated, relative to the context): a pattern matches the path or one
// of its parent folders; "**/" matches any number of folders.
func dockerignored(patterns []string, path string) bool {
	for _, p := range patterns {
		re := regexp.QuoteMeta(p)
		re = strings.ReplaceAll(re, `\*\*/`, `(.*/)?`)
		re = strings.ReplaceAll(re, `\*`, `[^/]*`)
		if regexp.MustCompile(`^` + re + `(/.*)?$`).MatchString(path) {
			return true
		}
	}
	return false
}

// TestDockerContextHasWhatTheBuildNeeds: every file COPY names exists,
// and .dockerignore excludes none of the Go files, embedded files,
// go.mod/go.sum or config.yaml that the build reads, while it does keep
// out the repository's history and test data.
func TestDockerContextHasWhatTheBuildNeeds(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			if strings.HasPrefix(l, "!") {
				t.Fatalf(".dockerignore: %q: exceptions are not understood by this test", l)
			}
			patterns = append(patterns, strings.TrimSuffix(l, "/"))
		}
	}
	for _, p := range []string{".git", "lb/main_test.go", "testdata/good.yaml", "config/testdata/good.yaml"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}

	needed := []string{"go.mod", "go.sum"}
	for _, st := range stages(t) {
		for _, in := range st.body {
			if in.cmd != "COPY" || strings.HasPrefix(in.args, "--from=") {
				continue
			}
			f := strings.Fields(in.args)
			for _, src := range f[:len(f)-1] {
				if src != "." {
					needed = append(needed, src)
				}
			}
		}
	}
	// Every file the Go build of the two programs reads.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}
{{end}}{{end}}`, "./lb", "./backend")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	abs, _ := filepath.Abs(root)
	for f := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if rel, err := filepath.Rel(abs, f); err == nil && !strings.HasPrefix(rel, "..") {
			needed = append(needed, filepath.ToSlash(rel))
		} // else: a module from the cache, downloaded in the image
	}
	if len(needed) < 20 {
		t.Fatalf("found only %d files the build needs: %v", len(needed), needed)
	}
	for _, f := range needed {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("the build needs %s: %v", f, err)
		}
		if dockerignored(patterns, f) {
			t.Errorf(".dockerignore excludes %s, which the build needs", f)
		}
	}
}

// TestDockerfileBuildCommands runs the build stage's own `go build`
// commands here, as written (CGO_ENABLED=0, the build arguments filled
// in), and checks the binaries: statically linked (the distroless static
// image has no libc or loader), stamped, and lb accepts the configuration
// the image ships.
func TestDockerfileBuildCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both programs")
	}
	st := stages(t)
	out := t.TempDir()
	const version, commit = "v0.0.0-imagetest", "0123abcd"
	for _, args := range goBuilds(st[0]) {
		args = slices.Clone(args)
		for i, a := range args {
			a = strings.ReplaceAll(a, "${VERSION}", version)
			a = strings.ReplaceAll(a, "${COMMIT}", commit)
			if strings.HasPrefix(a, "/out/") {
				a = filepath.Join(out, strings.TrimPrefix(a, "/out/"))
			}
			args[i] = a
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		begin := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		t.Logf("go %s: %v", strings.Join(args, " "), time.Since(begin).Round(time.Millisecond))
	}
	for _, name := range []string{"lb", "backend"} {
		bin := filepath.Join(out, name)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (PT_INTERP); the runtime image has no loader", name)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) != 0 {
			t.Errorf("%s needs shared libraries %v", name, libs)
		}
		f.Close()
		fi, _ := os.Stat(bin)
		t.Logf("%s: %.1f MiB", name, float64(fi.Size())/(1<<20))
		data, _ := os.ReadFile(bin)
		if bytes.Contains(data, []byte(filepath.Clean(mustAbs(t, root)))) {
			t.Errorf("%s holds the source folder's path: -trimpath not in effect", name)
		}
	}
	lb := filepath.Join(out, "lb")
	if b, err := exec.Command(lb, "-check", "-config", filepath.Join(root, "config.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("lb -check on the image's config.yaml: %v\n%s", err, b)
	}
	// -version, where lb has it, prints what the build stamped.
	if b, err := exec.Command(lb, "-version").CombinedOutput(); err == nil {
		if !strings.Contains(string(b), version) || !strings.Contains(string(b), commit) {
			t.Errorf("lb -version = %q, want %s and %s", b, version, commit)
		}
	} else {
		t.Logf("lb has no -version yet (%v): stamping not checked", err)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDockerBuild builds the image and runs `lb -check` in it, where a
// Docker daemon answers; elsewhere it is skipped (make test does not need
// Docker).
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image")
	}
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("no docker command")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skipf("no Docker daemon here (docker info: %v): the image is checked by the other tests of this file only", err)
	}
	tag := "lb-imagetest:" + strings.ToLower(time.Now().Format("20060102150405"))
	cmd := exec.Command("docker", "build", "-t", tag, "--build-arg", "VERSION=imagetest", ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v\n%s", err, b)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", tag).Run() })
	if b, err := exec.Command("docker", "run", "--rm", tag, "-check").CombinedOutput(); err != nil || !strings.Contains(string(b), "configuration ok") {
		t.Fatalf("docker run %s -check: %v\n%s", tag, err, b)
	}
	if b, err := exec.Command("docker", "run", "--rm", "--entrypoint", "/backend", tag, "-h").CombinedOutput(); !strings.Contains(string(b), "-drain-grace") {
		t.Fatalf("docker run --entrypoint /backend %s -h: %v\n%s", tag, err, b)
	}
}
