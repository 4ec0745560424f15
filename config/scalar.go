package config

import (
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// checkTag rejects explicit YAML tags other than the standard ones (such
// as "!env" or "!!binary"): lb would otherwise read them as plain text.
func (d *decoder) checkTag(n *yaml.Node, path string) bool {
	tag := n.ShortTag()
	switch n.Kind {
	case yaml.MappingNode:
		if tag == "!!map" {
			return true
		}
	case yaml.SequenceNode:
		if tag == "!!seq" {
			return true
		}
	case yaml.ScalarNode:
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!timestamp":
			return true
		}
	}
	d.fail(n.Line, path, "unsupported YAML tag %q", tag)
	return false
}

// expect checks that n is of the given kind (a mapping or a list).
func (d *decoder) expect(n *yaml.Node, kind yaml.Kind, path string) bool {
	if n.Kind == kind {
		return true
	}
	want := "a mapping"
	if kind == yaml.SequenceNode {
		want = "a list"
	}
	d.fail(n.Line, path, "must be %s, got %s", want, describe(n))
	return false
}

// describe names a node's value for an error message: "a list", "a
// mapping", or the scalar quoted (shortened when long).
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "null"
		}
		return quote(n.Value)
	}
	return "nothing"
}

// quote quotes s for an error message, keeping at most 60 runes of it.
func quote(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		s = string([]rune(s)[:57]) + "..."
	}
	return strconv.Quote(s)
}

// str decodes any scalar as the text written (so "010" stays "010").
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, path, "must be a string, got %s", describe(n))
		return "", false
	}
	return n.Value, true
}

// integer decodes a YAML integer (decimal, 0x, 0o or 0b).
func (d *decoder) integer(n *yaml.Node, path string) (int64, bool) {
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		d.fail(n.Line, path, "must be an integer, got %s", describe(n))
		return 0, false
	}
	return i, true
}

// boolean decodes true or false (also True, TRUE, False, FALSE).
func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	var b bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
		d.fail(n.Line, path, "must be true or false, got %s", describe(n))
		return false, false
	}
	return b, true
}

// duration decodes a positive Go duration string such as "5s" or "1m30s".
// A bare number is refused: its unit would be a guess.
func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, bool) {
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int", "!!float":
			d.fail(n.Line, path, "duration %s needs a unit, e.g. \"5s\"", n.Value)
			return 0, false
		case "!!str":
			dur, err := time.ParseDuration(n.Value)
			if err != nil {
				break
			}
			if dur <= 0 {
				d.fail(n.Line, path, "must be positive, got %s", quote(n.Value))
				return 0, false
			}
			return dur, true
		}
	}
	d.fail(n.Line, path, "bad duration %s (want a number with a unit, e.g. \"5s\", \"500ms\", \"1m30s\")", describe(n))
	return 0, false
}

// byteSize decodes a positive size: an integer number of bytes, or a string
// with a unit (see parseByteSize).
func (d *decoder) byteSize(n *yaml.Node, path string) (ByteSize, bool) {
	var size ByteSize
	ok := false
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!int":
			var i int64
			ok = n.Decode(&i) == nil
			size = ByteSize(i)
		case "!!str":
			size, ok = parseByteSize(n.Value)
		}
	}
	if !ok {
		d.fail(n.Line, path, "bad size %s (want a number of bytes with an optional unit: KiB, MiB, GiB or k, m, g, e.g. \"16KiB\")", describe(n))
		return 0, false
	}
	if size <= 0 {
		d.fail(n.Line, path, "must be positive, got %s", quote(n.Value))
		return 0, false
	}
	return size, true
}

// byteUnits are the units a size may carry: powers of 1024 all.
var byteUnits = map[string]int64{
	"": 1, "B": 1,
	"k": 1 << 10, "K": 1 << 10, "KiB": 1 << 10,
	"m": 1 << 20, "M": 1 << 20, "MiB": 1 << 20,
	"g": 1 << 30, "G": 1 << 30, "GiB": 1 << 30,
}

// parseByteSize parses "512", "16KiB", "16 KiB", "8m" and the like: decimal
// digits and an optional unit from byteUnits, maybe after one space. It reports
// false for anything else, including sizes that overflow an int64.
func parseByteSize(s string) (ByteSize, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	unit := s[i:]
	if len(unit) > 1 && unit[0] == ' ' {
		unit = unit[1:]
	}
	mult, ok := byteUnits[unit]
	if i == 0 || !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, false
	}
	return ByteSize(n * mult), true
}

// suggest returns ` (did you mean "x"?)` for the field name closest to an
// unknown key, when one is close enough to be a likely typo.
func suggest(key string, fields []field) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if dist := editDistance(key, f.name); dist < bestDist {
			best, bestDist = f.name, dist
		}
	}
	if best == "" || bestDist >= len(key) {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return math.MaxInt
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
