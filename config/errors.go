package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Parse and Load return
// every problem they find as an errors.Join of *Error values sorted by line,
// so err.Error() reads one problem per line; use errors.As to get the first
// *Error, or the Unwrap() []error method of the joined error to get them all.
//
// An Error is a plain value: it may be copied and shared freely.
type Error struct {
	// File is the path given to Load or the name given to Parse.
	File string
	// Line is the 1-based line the problem is about, or 0 when it concerns
	// the whole file or a top-level key that is missing.
	Line int
	// Key is the dotted path of the key concerned, e.g.
	// "pools.web.servers[0].weight" or "routes[2].match.host" (list items
	// as [i], counted from 0; pools by name). Empty for file-level problems.
	Key string
	// Msg says what is wrong and names the offending value.
	Msg string
}

// Error formats the problem as "FILE:LINE: KEY: MSG". A zero Line is left
// out ("FILE: KEY: MSG"), as is an empty Key ("FILE:LINE: MSG") and an empty
// File ("LINE: KEY: MSG").
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		if e.File != "" {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(e.Line))
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// errorList collects the problems found in one file.
type errorList struct {
	file string
	errs []*Error
}

// add records a problem.
func (l *errorList) add(line int, key, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when no problem was recorded, otherwise the problems
// sorted by line (stable, so problems on one line keep the order they were
// found in), exact duplicates removed, joined with errors.Join.
func (l *errorList) err() error {
	if len(l.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(l.errs, func(a, b *Error) int { return a.Line - b.Line })
	l.errs = slices.CompactFunc(l.errs, func(a, b *Error) bool { return *a == *b })
	errs := make([]error, len(l.errs))
	for i, e := range l.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// yamlLineRE matches the messages of gopkg.in/yaml.v3 syntax errors, which
// have no error type of their own: "yaml: line 3: mapping values are not
// allowed in this context".
var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line ([0-9]+): (.*)$`)

// syntaxError turns an error from the YAML parser into an *Error carrying
// the line the parser named (0 when it named none).
func syntaxError(file string, err error) *Error {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		if n, convErr := strconv.Atoi(m[1]); convErr == nil {
			line = n
		}
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return &Error{File: file, Line: line, Msg: "syntax error: " + msg}
}
