package data

import (
	"errors"
	"strconv"
	"strings"
)

var errBadLSN = errors.New("data: malformed LSN")

// ParseLSN parses PostgreSQL's textual pg_lsn "X/Y" (two hex numbers of
// up to 8 digits) into its 64-bit value (X<<32 | Y), the form in which
// positions compare.
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || len(hi) == 0 || len(hi) > 8 || len(lo) == 0 || len(lo) > 8 {
		return 0, errBadLSN
	}
	h, err := strconv.ParseUint(hi, 16, 32)
	if err != nil {
		return 0, errBadLSN
	}
	l, err := strconv.ParseUint(lo, 16, 32)
	if err != nil {
		return 0, errBadLSN
	}
	return h<<32 | l, nil
}

// FormatLSN is the inverse of ParseLSN, in PostgreSQL's spelling
// (upper-case hex, no leading zeros).
func FormatLSN(v uint64) string {
	return strings.ToUpper(strconv.FormatUint(v>>32, 16) + "/" + strconv.FormatUint(v&0xffffffff, 16))
}
