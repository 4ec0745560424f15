// Package jsonstream splits a JSON array read from a stream into its
// elements, one at a time, in memory bounded by the largest element: the
// body of a bulk import is never held whole.
//
// The splitter only finds where each element ends (nesting depth,
// strings and escapes); it does not validate the element itself. Callers
// decode each element (json.Unmarshal), which rejects whatever is not
// valid JSON, so a body is accepted exactly when it is a valid JSON array.
// FuzzDecoder checks that against encoding/json.
package jsonstream

import (
	"errors"
	"fmt"
	"io"
)

// SyntaxError is a body that is not a JSON array of elements within the
// size limit. Index is the element being read or expected when it was
// found (the number of elements returned before it).
type SyntaxError struct {
	Index  int
	Offset int64 // bytes of the stream read up to the error
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("jsonstream: element %d (byte %d): %s", e.Index, e.Offset, e.Msg)
}

// ErrTooLarge is wrapped by the error for an element over the limit.
var ErrTooLarge = errors.New("element too large")

// Parser states.
const (
	stateStart = iota // before '['
	stateFirst        // after '[': an element or ']'
	stateNext         // after an element: ',' or ']'
	stateDone         // after ']' and trailing white space
)

// Decoder reads the elements of one JSON array. Not safe for concurrent
// use; the zero value is not usable: create it with NewDecoder.
type Decoder struct {
	r        io.Reader
	buf      []byte // read buffer; buf[pos:end] is unread
	pos, end int
	off      int64  // stream offset of buf[0]
	elem     []byte // the element being assembled, reused
	max      int
	index    int // elements returned so far
	state    int
	err      error // sticky
}

// NewDecoder returns a Decoder reading from r that refuses elements over
// maxElement bytes (at least 1).
func NewDecoder(r io.Reader, maxElement int) *Decoder {
	return &Decoder{r: r, buf: make([]byte, 32<<10), max: max(maxElement, 1)}
}

// Index returns how many elements Next has returned.
func (d *Decoder) Index() int { return d.index }

// Next returns the next element's bytes, valid until the next call. After
// the closing ']' (followed by white space only) it returns io.EOF. A body
// that is not such an array gives a *SyntaxError; a failing reader gives
// its error, wrapped. Errors are sticky.
func (d *Decoder) Next() ([]byte, error) {
	if d.err != nil {
		return nil, d.err
	}
	b, err := d.next()
	if err != nil {
		d.err = err
		return nil, err
	}
	d.index++
	return b, nil
}

func (d *Decoder) next() ([]byte, error) {
	for {
		c, err := d.skipSpace()
		if err != nil {
			if err == io.EOF {
				if d.state == stateDone {
					return nil, io.EOF
				}
				return nil, d.syntax("unexpected end of body")
			}
			return nil, err
		}
		switch d.state {
		case stateStart:
			if c != '[' {
				return nil, d.syntax("body is not a JSON array")
			}
			d.pos++
			d.state = stateFirst
		case stateFirst:
			if c == ']' {
				d.pos++
				d.state = stateDone
				continue
			}
			return d.element()
		case stateNext:
			d.pos++
			switch c {
			case ',':
				c, err := d.skipSpace()
				if err == nil && c == ']' {
					return nil, d.syntax("trailing comma")
				}
				if err != nil && err != io.EOF {
					return nil, err
				}
				return d.element()
			case ']':
				d.state = stateDone
			default:
				return nil, d.syntax(fmt.Sprintf("want ',' or ']' after an element, found %q", c))
			}
		case stateDone:
			return nil, d.syntax("data after the array")
		}
	}
}

// element reads one value starting at d.buf[d.pos].
func (d *Decoder) element() ([]byte, error) {
	d.elem = d.elem[:0]
	d.state = stateNext
	first := true
	depth := 0
	inString, escaped := false, false
	scalar := false
	for {
		if d.pos == d.end {
			if err := d.fill(); err != nil {
				if err == io.EOF {
					if scalar { // a scalar ends with the stream
						return d.elem, nil
					}
					return nil, d.syntax("unexpected end of body inside an element")
				}
				return nil, err
			}
		}
		// Scan the buffered bytes up to where the element ends.
		start := d.pos
		done := false
		i := d.pos
	scan:
		for ; i < d.end; i++ {
			c := d.buf[i]
			if first {
				first = false
				switch c {
				case '{', '[':
					depth = 1
				case '"':
					inString = true
				default:
					scalar = true
				}
				continue
			}
			switch {
			case scalar:
				if c == ',' || c == ']' || c == ' ' || c == '\t' || c == '\n' || c == '\r' {
					done = true
					break scan
				}
			case escaped:
				escaped = false
			case inString:
				if c == '\\' {
					escaped = true
				} else if c == '"' {
					inString = false
					if depth == 0 {
						i++
						done = true
						break scan
					}
				}
			case c == '"':
				inString = true
			case c == '{' || c == '[':
				depth++
			case c == '}' || c == ']':
				depth--
				if depth == 0 {
					i++
					done = true
					break scan
				}
			}
		}
		if len(d.elem)+(i-start) > d.max {
			return nil, d.syntax(fmt.Sprintf("%v: over %d bytes", ErrTooLarge, d.max))
		}
		d.elem = append(d.elem, d.buf[start:i]...)
		d.pos = i
		if done {
			return d.elem, nil
		}
	}
}

// skipSpace skips JSON white space and returns the next byte, unread.
func (d *Decoder) skipSpace() (byte, error) {
	for {
		for d.pos < d.end {
			switch c := d.buf[d.pos]; c {
			case ' ', '\t', '\n', '\r':
				d.pos++
			default:
				return c, nil
			}
		}
		if err := d.fill(); err != nil {
			return 0, err
		}
	}
}

// fill reads more of the stream into the empty buffer; io.EOF at its end.
func (d *Decoder) fill() error {
	d.off += int64(d.end)
	d.pos, d.end = 0, 0
	for range 100 { // io.Reader may return 0, nil; give up eventually
		n, err := d.r.Read(d.buf)
		d.end = n
		if n > 0 {
			return nil
		}
		if err == io.EOF {
			return io.EOF
		}
		if err != nil {
			return fmt.Errorf("jsonstream: reading element %d: %w", d.index, err)
		}
	}
	return fmt.Errorf("jsonstream: reading element %d: %w", d.index, io.ErrNoProgress)
}

func (d *Decoder) syntax(msg string) error {
	return &SyntaxError{Index: d.index, Offset: d.off + int64(d.pos), Msg: msg}
}
