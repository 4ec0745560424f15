package compress

import (
	"errors"
	"fmt"
	"strings"
)

// Defaults applied by DefaultPolicy and, for nil or missing fields, by
// Policy's methods.
const (
	// DefaultGzipLevel is gzip.DefaultCompression's level (6).
	DefaultGzipLevel = 6
	// DefaultBrotliLevel is brotli quality 4, the lead's choice pending the
	// benchmark table (BenchmarkLevels): with andybalholm/brotli (pure Go)
	// q4 matches or slightly beats gzip -6's ratio on JSON at about a third
	// of its speed; q5+ cost 2-20x more CPU for a few percent, q11 is for
	// precompressed assets only.
	DefaultBrotliLevel = 4
	// DefaultMinLength is the body length below which a response of known
	// length is not compressed. Nginx's gzip_min_length defaults to 20,
	// which lets through bodies where the ~20-byte gzip framing and the
	// per-response CPU outweigh the saving (a small body fits in one packet
	// either way); Caddy uses 512. 256 keeps small JSON answers compressed
	// while skipping the ones not worth it.
	DefaultMinLength = 256
)

// DefaultPrefer returns a new copy of the default server preference order:
// brotli, then gzip.
func DefaultPrefer() []Algorithm { return append([]Algorithm(nil), defaultPrefer...) }

// DefaultTypes returns a new copy of the content types compressed by default.
func DefaultTypes() []string { return append([]string(nil), defaultTypes...) }

// defaultPrefer and defaultTypes are read-only.
var defaultPrefer = []Algorithm{Brotli, Gzip}

var defaultTypes = []string{
	"text/*",
	"application/json",
	"application/*+json",
	"application/javascript",
	"application/x-javascript",
	"application/ecmascript",
	"application/xml",
	"application/*+xml",
	"application/manifest+json",
	"application/wasm",
	"application/x-ndjson",
	"application/graphql-response+json",
	"image/svg+xml",
	"image/x-icon",
	"image/vnd.microsoft.icon",
	"font/ttf",
	"font/otf",
	"application/vnd.ms-fontobject",
}

// alwaysExcluded and compressibleImages are read-only.

// alwaysExcluded are types that are already compressed; they are never
// compressed whatever Types says. "image/*" here is overridden by the
// exceptions below it in compressibleImages.
var alwaysExcluded = []string{
	"image/*",
	"video/*",
	"audio/*",
	"application/zip",
	"application/gzip",
	"application/x-gzip",
	"application/x-brotli",
	"application/zstd",
	"application/x-bzip2",
	"application/x-xz",
	"application/x-7z-compressed",
	"application/x-rar-compressed",
	"application/octet-stream",
	"application/pdf",
	"font/woff",
	"font/woff2",
}

// compressibleImages are image types that are text or uncompressed and are
// exempt from the image/* exclusion (they still have to be in Types).
var compressibleImages = []string{
	"image/svg+xml",
	"image/x-icon",
	"image/vnd.microsoft.icon",
	"image/bmp",
}

// Policy decides which responses lb compresses and how. It is plain data,
// compiled from configuration (global, overridden per route); it must not
// be modified once in use, after which it is safe for concurrent use. It may
// be copied.
//
// Zero values: nil Prefer means DefaultPrefer(); a missing Levels entry means
// DefaultGzipLevel / DefaultBrotliLevel; nil or empty Types means
// DefaultTypes(); MinLength 0 means no minimum (DefaultPolicy sets
// DefaultMinLength); nil ExcludePaths excludes nothing.
type Policy struct {
	// Prefer is the server preference order, e.g. [Brotli, Gzip].
	Prefer []Algorithm
	// Levels is the level per algorithm: gzip -2 (Huffman only) to 9,
	// brotli 0 to 11.
	Levels map[Algorithm]int
	// MinLength: bodies of known length shorter than this are not
	// compressed.
	MinLength int
	// Types are media types that may be compressed, case-insensitive, with
	// at most one '*' wildcard each: "text/*", "application/*+json",
	// "image/svg+xml", "*/*".
	Types []string
	// ExcludePaths are path prefixes never compressed, matched on path
	// segment boundaries: "/api" excludes "/api" and "/api/x" but not
	// "/apix"; "/static/" excludes everything under /static/.
	ExcludePaths []string
}

// DefaultPolicy returns a new Policy with every default filled in.
func DefaultPolicy() *Policy {
	return &Policy{
		Prefer:    DefaultPrefer(),
		Levels:    map[Algorithm]int{Gzip: DefaultGzipLevel, Brotli: DefaultBrotliLevel},
		MinLength: DefaultMinLength,
		Types:     DefaultTypes(),
	}
}

// ErrInvalidPolicy is wrapped by every error Validate returns.
var ErrInvalidPolicy = errors.New("compress: invalid policy")

// Validate rejects, never repairs: unknown or duplicated algorithms, levels
// out of range, a negative MinLength, type patterns that are empty or have
// more than one '*', and exclude paths not starting with '/'.
func (p *Policy) Validate() error {
	seen := [numAlgorithms]bool{}
	for _, a := range p.Prefer {
		if a == Identity || !a.Valid() {
			return fmt.Errorf("%w: prefer: unsupported algorithm %d", ErrInvalidPolicy, a)
		}
		if seen[a] {
			return fmt.Errorf("%w: prefer: %s listed twice", ErrInvalidPolicy, a)
		}
		seen[a] = true
	}
	for a, l := range p.Levels {
		lo, hi, ok := levelRange(a)
		if !ok {
			return fmt.Errorf("%w: levels: unsupported algorithm %d", ErrInvalidPolicy, a)
		}
		if l < lo || l > hi {
			return fmt.Errorf("%w: levels: %s level %d out of range [%d, %d]", ErrInvalidPolicy, a, l, lo, hi)
		}
	}
	if p.MinLength < 0 {
		return fmt.Errorf("%w: min_length %d is negative", ErrInvalidPolicy, p.MinLength)
	}
	for _, t := range p.Types {
		if t == "" || strings.Count(t, "*") > 1 || strings.ContainsAny(t, " \t;,") {
			return fmt.Errorf("%w: types: bad pattern %q", ErrInvalidPolicy, t)
		}
	}
	for _, e := range p.ExcludePaths {
		if !strings.HasPrefix(e, "/") {
			return fmt.Errorf("%w: exclude_paths: %q does not start with '/'", ErrInvalidPolicy, e)
		}
	}
	return nil
}

// levelRange returns the valid levels of an algorithm.
func levelRange(a Algorithm) (lo, hi int, ok bool) {
	switch a {
	case Gzip:
		return gzipMinLevel, gzipMaxLevel, true
	case Brotli:
		return brotliMinLevel, brotliMaxLevel, true
	}
	return 0, 0, false
}

// Level returns the configured level for a, or its default.
func (p *Policy) Level(a Algorithm) int {
	if l, ok := p.Levels[a]; ok {
		return l
	}
	switch a {
	case Gzip:
		return DefaultGzipLevel
	case Brotli:
		return DefaultBrotliLevel
	}
	return 0
}

// PreferOrder returns Prefer, or the default order when nil. The result must
// not be modified.
func (p *Policy) PreferOrder() []Algorithm {
	if p.Prefer == nil {
		return defaultPrefer
	}
	return p.Prefer
}

// Negotiate is Negotiate with the policy's preference order.
func (p *Policy) Negotiate(acceptEncoding []byte) (Algorithm, bool) {
	return Negotiate(acceptEncoding, p.PreferOrder())
}
