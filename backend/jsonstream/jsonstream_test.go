package jsonstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// all returns the elements of data read through a one-byte-at-a-time
// reader (every element then crosses buffer refills), and the final error.
func all(data []byte, maxElement int) ([]string, error) {
	d := NewDecoder(iotest.OneByteReader(bytes.NewReader(data)), maxElement)
	var out []string
	for {
		b, err := d.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, string(b))
	}
}

func TestDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		errIndex int // -1: no error
		errMsg   string
	}{
		{"empty array", " [ ] \n", nil, -1, ""},
		{"objects", `[{"name":"a"}, {"name":"b","value":[1,{"x":"]}"}]}]`, []string{`{"name":"a"}`, `{"name":"b","value":[1,{"x":"]}"}]}`}, -1, ""},
		{"scalars and strings", `[1,"a\"]",true , null,[]]`, []string{"1", `"a\"]"`, "true", "null", "[]"}, -1, ""},
		{"not an array", `{"a":1}`, nil, 0, "not a JSON array"},
		{"empty body", ``, nil, 0, "unexpected end"},
		{"missing comma", `[{"a":1} {"b":2}]`, []string{`{"a":1}`}, 1, "want ',' or ']'"},
		{"trailing comma", `[1,2,]`, []string{"1", "2"}, 2, "trailing comma"},
		{"truncated element", `[{"a":1},{"b":`, []string{`{"a":1}`}, 1, "end of body inside"},
		{"truncated array", `[{"a":1}`, []string{`{"a":1}`}, 1, "unexpected end of body"},
		{"data after", `[1] 2`, []string{"1"}, 1, "data after the array"},
		{"too large", `[{"a":1},{"name":"0123456789012345678901234567890123456789"}]`, []string{`{"a":1}`}, 1, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := all([]byte(tc.in), 40)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("elements = %q, want %q", got, tc.want)
			}
			if tc.errIndex < 0 {
				if err != nil {
					t.Fatalf("err = %v, want none", err)
				}
				return
			}
			var se *SyntaxError
			if !errors.As(err, &se) || se.Index != tc.errIndex || !strings.Contains(se.Msg, tc.errMsg) {
				t.Fatalf("err = %v, want a SyntaxError at element %d saying %q", err, tc.errIndex, tc.errMsg)
			}
		})
	}
}

// TestReaderErrorIsNotSyntax: a failing stream is reported as such, not
// as a malformed body.
func TestReaderErrorIsNotSyntax(t *testing.T) {
	boom := errors.New("boom")
	d := NewDecoder(io.MultiReader(strings.NewReader(`[{"a":1},{"b"`), iotest.ErrReader(boom)), 1<<10)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Next()
	var se *SyntaxError
	if !errors.Is(err, boom) || errors.As(err, &se) {
		t.Fatalf("err = %v, want the reader's error", err)
	}
	if _, again := d.Next(); again != err {
		t.Fatalf("second Next() = %v, want the same sticky error", again)
	}
}

// TestLargeStreamInSmallMemory: a 16 MiB array is split with allocations
// that do not grow with its size.
func TestLargeStreamInSmallMemory(t *testing.T) {
	elem := []byte(`{"name":"item","value":{"pad":"` + strings.Repeat("x", 1000) + `"}},`)
	n := 16 << 20 / len(elem)
	r := io.MultiReader(strings.NewReader("["), &repeat{b: elem, n: n - 1}, strings.NewReader(`{"name":"last"}]`))
	d := NewDecoder(r, 4<<10)
	allocs := testing.AllocsPerRun(1, func() {
		for {
			_, err := d.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	if d.Index() != n {
		t.Fatalf("read %d elements, want %d", d.Index(), n)
	}
	if allocs > 100 {
		t.Fatalf("%v allocations for %d elements, want a few", allocs, n)
	}
}

// repeat yields b n times.
type repeat struct {
	b   []byte
	n   int
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	if r.off == len(r.b) {
		r.off = 0
		r.n--
	}
	return n, nil
}

// FuzzDecoder checks the splitter against encoding/json: a body is
// accepted (every element valid JSON, then io.EOF) exactly when it is a
// valid JSON array with no element over the limit, and the elements are
// the array's.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		`[]`, `[1, "two", {"three": [3]}, [4], null, true, -5.5e3]`,
		`[{"name":"a","value":{"k":"v\"]}"}}]`, `[{"a":1} {"b":2}]`, `[1,]`, `[`, `{}`, `[1] x`,
		`["\u00e9\\", "]"]`, ` [ { } , [ ] ] `, `[{"name":"` + strings.Repeat("y", 80) + `"}]`,
	} {
		f.Add([]byte(s))
	}
	const limit = 64
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := all(data, limit)
		ok := err == nil
		for _, e := range got {
			if !json.Valid([]byte(e)) {
				ok = false
			}
		}
		var want []json.RawMessage
		isArray := bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("[")) && json.Unmarshal(data, &want) == nil
		fits := true
		for _, e := range want {
			if len(e) > limit {
				fits = false
			}
		}
		if ok != (isArray && fits) {
			t.Fatalf("accepted = %v (err %v, elements %q), want %v for %q", ok, err, got, isArray && fits, data)
		}
		if ok {
			if len(got) != len(want) {
				t.Fatalf("%d elements, want %d", len(got), len(want))
			}
			for i := range got {
				if got[i] != string(want[i]) {
					t.Fatalf("element %d = %q, want %q", i, got[i], want[i])
				}
			}
		}
	})
}
