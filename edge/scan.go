// Package edge guards lb's listeners: it checks the framing of every
// request on the raw byte stream before fasthttp parses it, and bounds
// what a client may send.
//
// fasthttp is lenient where a proxy must not be (FASTHTTP.md): it accepts
// "Transfer-Encoding: identity" and then reads the body as the next
// request, folds obs-fold lines, accepts spaces in header names and after
// chunk sizes, and lets a Content-Length sit next to Transfer-Encoding.
// Rather than patch each case after fasthttp has normalised the request,
// a Scanner follows the HTTP/1.1 message framing of RFC 9112 on the bytes
// as they arrive and stops the connection at the first byte that breaks
// it: the request is then refused before any of it reaches the handler,
// and nothing after it is ever parsed as a request.
package edge

import "fmt"

// Error is a request refused by the Scanner. Status is the HTTP status
// the client gets; Reason is a short fixed text for the log. The
// connection is closed after the answer.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("edge: %d %s", e.Status, e.Reason) }

// The refusals, one value each: comparing them allocates nothing.
var (
	ErrRequestLine      = &Error{400, "malformed request line"}
	ErrVersion          = &Error{505, "unsupported HTTP version"}
	ErrURITooLong       = &Error{414, "request target over max_uri_bytes"}
	ErrHeadTooLarge     = &Error{431, "request head over max_header_bytes"}
	ErrBareLF           = &Error{400, "bare LF or CR"}
	ErrFieldName        = &Error{400, "invalid header field name"}
	ErrFieldValue       = &Error{400, "invalid character in header field value"}
	ErrObsFold          = &Error{400, "obsolete line folding"}
	ErrHost             = &Error{400, "missing or duplicate Host"}
	ErrContentLength    = &Error{400, "invalid Content-Length"}
	ErrDuplicateLength  = &Error{400, "duplicate Content-Length"}
	ErrLengthAndChunked = &Error{400, "both Content-Length and Transfer-Encoding"}
	ErrTransferEncoding = &Error{400, "Transfer-Encoding other than chunked"}
	ErrChunkSize        = &Error{400, "invalid chunk size"}
	ErrChunkExtension   = &Error{400, "invalid chunk extension"}
	ErrChunkEnd         = &Error{400, "chunk data not followed by CRLF"}
	ErrTrailerTooLarge  = &Error{431, "trailer section over max_header_bytes"}
	ErrTooManyConns     = &Error{429, "connections of this client over max_conns_per_ip"}
)

// Limits bound a request's head. Zero means no limit of the Scanner's
// own (fasthttp's read buffer still bounds the head).
type Limits struct {
	// MaxHeaderBytes bounds the request line and header section, and
	// separately the trailer section of a chunked body (431 over it).
	// Nginx large_client_header_buffers; HAProxy tune.bufsize.
	MaxHeaderBytes int
	// MaxURIBytes bounds the request target (414 over it). Nginx: a
	// request line longer than one large_client_header_buffers buffer;
	// HAProxy: tune.http.maxhdr and the buffer size.
	MaxURIBytes int
}

// maxChunkSizeDigits bounds a chunk size: 15 hex digits are 2^60 bytes,
// far above any body and far below an overflow.
const maxChunkSizeDigits = 15

// maxChunkExtBytes bounds the extensions of one chunk (Nginx and HAProxy
// both bound the chunk line; nothing sends long extensions).
const maxChunkExtBytes = 1024

// maxLeadingEmptyLines is how many CRLFs may precede a request line
// (RFC 9112 §2.2: a server SHOULD ignore at least one).
const maxLeadingEmptyLines = 4

type scanState uint8

const (
	sStart       scanState = iota // before a request line, CRLFs allowed
	sStartLF                      // CR seen before a request line
	sMethod                       // in the method
	sTarget                       // in the request target
	sVersion                      // in "HTTP/x.y"
	sLineLF                       // CR seen, LF due; then sFieldStart
	sFieldStart                   // first byte of a field line or the empty line
	sName                         // in a field name
	sValue                        // in a field value
	sValueLF                      // CR seen in a value, LF due
	sEndLF                        // CR of the empty line seen, LF due
	sBody                         // Content-Length body
	sChunkSize                    // in a chunk size
	sChunkExt                     // in chunk extensions
	sChunkSizeLF                  // CR after a chunk size seen, LF due
	sChunkData                    // in chunk data
	sChunkDataCR                  // CR after chunk data due
	sChunkDataLF                  // LF after chunk data due
	sFailed                       // a refusal was returned; sticky
)

// field kinds whose values the Scanner reads
const (
	fOther = iota
	fHost
	fContentLength
	fTransferEncoding
)

// Scanner follows the framing of HTTP/1.1 requests (RFC 9112) on a
// connection's byte stream, in any pieces. Its zero value with Limits set
// is ready; it is not safe for concurrent use and allocates nothing.
//
// It refuses: request lines that are not "METHOD SP target SP
// HTTP/1.x CRLF" (a target of visible ASCII); versions other than 1.0
// and 1.1 (505); bare LF or CR anywhere in the head or chunk framing;
// field names that are empty or not tokens (so whitespace before the
// colon); CTL characters (NUL, CR, LF, DEL and the rest but HTAB) in
// values; obs-fold; no Host on HTTP/1.1 or more than one; a
// Content-Length that is not digits, or several; Content-Length with
// Transfer-Encoding; Transfer-Encoding on HTTP/1.0, more than once, or
// other than exactly the single coding "chunked" (any case); chunk sizes
// that are not 1-15 hex digits directly followed by CRLF or ";"; chunk
// data not followed by CRLF; over-long heads (431) and targets (414).
type Scanner struct {
	Limits Limits

	state    scanState
	kind     uint8 // field kind being read
	http11   bool
	trailers bool // reading the trailer section of a chunked body
	hosts    uint8
	lengths  uint8
	codings  uint8
	chunked  bool
	badTE    bool
	clDigits bool // the current Content-Length value has digits
	clDone   bool // ... and they ended (OWS seen)
	empties  uint8
	headLen  int
	tokLen   int   // bytes in the current method, target, version or name
	left     int64 // Content-Length or chunk bytes to go
	length   int64 // the Content-Length value
	name     [17]byte
	te       [16]byte // Transfer-Encoding value, OWS trimmed
	teLen    int
	teSpace  int // trailing OWS bytes in te
	version  [8]byte
	extLen   int
	err      *Error
	// refusedHere: the refused request began in the refusing call
	refusedHere bool
	heads       int // request heads accepted
}

// Reset readies the scanner for a new connection, keeping its Limits.
func (s *Scanner) Reset() { *s = Scanner{Limits: s.Limits} }

// Heads returns how many request heads the scanner has accepted.
func (s *Scanner) Heads() int { return s.heads }

// Failed returns the refusal the scanner stopped at, or nil.
func (s *Scanner) Failed() *Error { return s.err }

// Idle reports whether the scanner is between requests: everything it
// read so far forms whole messages.
func (s *Scanner) Idle() bool { return s.state == sStart && s.empties == 0 }

// Scan reads the next bytes of the stream. It returns how many of them
// belong to requests that began and, so far, are well framed: all of p
// and nil, or, at the first refused byte, the length of the prefix of p
// before the refused request began (0 when it began in an earlier call)
// and the refusal. After a refusal Scan returns 0 and the same refusal.
func (s *Scanner) Scan(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	// Where in p the current request began; -1 when it began in an
	// earlier call. Set again whenever a request starts in p.
	msgStart := 0
	if !s.Idle() {
		msgStart = -1
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch s.state {
		case sStart:
			if s.empties == 0 {
				msgStart = i
			}
			if c == '\r' {
				s.state = sStartLF
				continue
			}
			if !isTchar(c) {
				return s.fail(msgStart, ErrRequestLine)
			}
			s.beginHead()
			s.state, s.tokLen, s.headLen = sMethod, 1, 1
			continue
		case sStartLF:
			if c != '\n' {
				return s.fail(msgStart, ErrBareLF)
			}
			s.empties++
			if s.empties > maxLeadingEmptyLines {
				return s.fail(msgStart, ErrRequestLine)
			}
			s.state = sStart
			continue
		case sBody:
			n := int64(len(p) - i)
			if n > s.left {
				n = s.left
			}
			s.left -= n
			i += int(n) - 1
			if s.left == 0 {
				s.endMessage()
			}
			continue
		case sChunkData:
			n := int64(len(p) - i)
			if n > s.left {
				n = s.left
			}
			s.left -= n
			i += int(n) - 1
			if s.left == 0 {
				s.state = sChunkDataCR
			}
			continue
		}
		// Fast paths over runs of ordinary bytes in targets and values.
		if run := s.run(p[i:]); run > 0 {
			s.headLen += run
			if max := s.Limits.MaxHeaderBytes; max > 0 && s.headLen > max {
				if s.trailers {
					return s.fail(msgStart, ErrTrailerTooLarge)
				}
				return s.fail(msgStart, ErrHeadTooLarge)
			}
			if s.state == sTarget {
				s.tokLen += run
				if max := s.Limits.MaxURIBytes; max > 0 && s.tokLen > max {
					return s.fail(msgStart, ErrURITooLong)
				}
			}
			i += run - 1
			continue
		}
		if err := s.step(c); err != nil {
			return s.fail(msgStart, err)
		}
		if s.state == sStart {
			msgStart = i + 1
		}
	}
	return len(p), nil
}

// run returns how many bytes at the start of p need no more than
// counting: method or visible target bytes, "HTTP/1.1" or "HTTP/1.0",
// or value bytes of fields whose value the scanner does not read (a
// Host field's is only counted).
func (s *Scanner) run(p []byte) int {
	var ok *[256]bool
	switch {
	case s.state == sTarget:
		ok = &targetByte
	case s.state == sValue && (s.kind == fOther || s.kind == fHost):
		ok = &valueByte
	case s.state == sVersion && s.tokLen == 0 && len(p) >= 8 && string(p[:7]) == "HTTP/1." && (p[7] == '1' || p[7] == '0'):
		// The usual versions whole; endVersion checks them at the CR.
		s.tokLen = copy(s.version[:], p[:8])
		return 8
	case s.state == sMethod:
		n := 0
		for n < len(p) && tchar[p[n]] {
			n++
		}
		s.tokLen += n
		return n
	case s.state == sName:
		// Name bytes, the first ones kept lower-cased to tell the
		// fields the scanner reads.
		n := 0
		for n < len(p) && tchar[p[n]] {
			if k := s.tokLen + n; k < len(s.name) {
				s.name[k] = lower(p[n])
			}
			n++
		}
		s.tokLen += n
		return n
	default:
		return 0
	}
	n := 0
	for n < len(p) && ok[p[n]] {
		n++
	}
	return n
}

// targetByte: visible ASCII, what a request target is made of.
// valueByte: what a field value may hold but CR: SP, HTAB, visible
// ASCII and obs-text (RFC 9110 §5.5).
var targetByte, valueByte = func() (t, v [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c > ' ' && c < 0x7f
		v[c] = c == ' ' || c == '\t' || c > ' ' && c != 0x7f
	}
	return t, v
}()

func (s *Scanner) fail(msgStart int, err *Error) (int, error) {
	s.err, s.state = err, sFailed
	s.refusedHere = msgStart >= 0
	return max(msgStart, 0), err
}

// RefusedHere reports whether the refused request began in the call to
// Scan that refused it (rather than in an earlier one).
func (s *Scanner) RefusedHere() bool { return s.refusedHere }

func (s *Scanner) beginHead() {
	s.http11, s.trailers = false, false
	s.hosts, s.lengths, s.codings = 0, 0, 0
	s.chunked, s.badTE = false, false
	s.length = 0
}

func (s *Scanner) endMessage() {
	s.state, s.empties, s.trailers = sStart, 0, false
}

// step consumes one byte of a request line, a field line or chunk
// framing.
func (s *Scanner) step(c byte) *Error {
	switch s.state {
	case sChunkSize, sChunkExt, sChunkSizeLF, sChunkDataCR, sChunkDataLF:
		return s.chunkStep(c)
	}
	s.headLen++
	if max := s.Limits.MaxHeaderBytes; max > 0 && s.headLen > max {
		if s.trailers {
			return ErrTrailerTooLarge
		}
		return ErrHeadTooLarge
	}
	switch s.state {
	case sMethod:
		switch {
		case c == ' ':
			s.state, s.tokLen = sTarget, 0
		case isTchar(c):
			s.tokLen++
		default:
			return ErrRequestLine
		}
	case sTarget:
		switch {
		case c == ' ':
			if s.tokLen == 0 {
				return ErrRequestLine
			}
			s.state, s.tokLen = sVersion, 0
		case c > ' ' && c < 0x7f:
			s.tokLen++
			if max := s.Limits.MaxURIBytes; max > 0 && s.tokLen > max {
				return ErrURITooLong
			}
		default:
			return ErrRequestLine
		}
	case sVersion:
		if c == '\r' {
			return s.endVersion()
		}
		if s.tokLen == len(s.version) || c <= ' ' || c >= 0x7f {
			return ErrRequestLine
		}
		s.version[s.tokLen] = c
		s.tokLen++
	case sLineLF:
		if c != '\n' {
			return ErrBareLF
		}
		s.state = sFieldStart
	case sFieldStart:
		switch {
		case c == '\r':
			s.state = sEndLF
		case c == ' ' || c == '\t':
			return ErrObsFold
		case isTchar(c):
			s.state, s.tokLen = sName, 1
			s.name[0] = lower(c)
		default:
			return ErrFieldName
		}
	case sName:
		switch {
		case c == ':':
			s.startValue()
			s.state = sValue
		case isTchar(c):
			if s.tokLen < len(s.name) {
				s.name[s.tokLen] = lower(c)
			}
			s.tokLen++
		default:
			return ErrFieldName
		}
	case sValue:
		if c == '\r' {
			s.state = sValueLF
			return nil
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			if c == '\n' {
				return ErrBareLF
			}
			return ErrFieldValue
		}
		return s.valueByte(c)
	case sValueLF:
		if c != '\n' {
			return ErrFieldValue // a CR inside a value
		}
		if err := s.endValue(); err != nil {
			return err
		}
		s.state = sFieldStart
	case sEndLF:
		if c != '\n' {
			return ErrBareLF
		}
		return s.endHead()
	}
	return nil
}

func (s *Scanner) endVersion() *Error {
	v := s.version[:s.tokLen]
	if len(v) != 8 || string(v[:5]) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]) {
		return ErrRequestLine
	}
	switch string(v[5:]) {
	case "1.1":
		s.http11 = true
	case "1.0":
	default:
		return ErrVersion
	}
	s.state = sLineLF
	return nil
}

func (s *Scanner) startValue() {
	s.kind = fOther
	if s.trailers {
		return // framing fields in trailers are ignored (RFC 9110 §6.5.1)
	}
	if s.tokLen <= len(s.name) {
		switch string(s.name[:s.tokLen]) {
		case "host":
			s.kind = fHost
			s.hosts++
		case "content-length":
			s.kind = fContentLength
			s.lengths++
			s.clDigits, s.clDone = false, false
			s.length = 0
		case "transfer-encoding":
			s.kind = fTransferEncoding
			s.codings++
			s.teLen, s.teSpace = 0, 0
		}
	}
}

func (s *Scanner) valueByte(c byte) *Error {
	switch s.kind {
	case fContentLength:
		switch {
		case c == ' ' || c == '\t':
			if s.clDigits {
				s.clDone = true
			}
		case isDigit(c) && !s.clDone:
			s.clDigits = true
			if s.length > (1<<53)/10 {
				return ErrContentLength
			}
			s.length = s.length*10 + int64(c-'0')
		default:
			return ErrContentLength
		}
	case fTransferEncoding:
		if c == ' ' || c == '\t' {
			if s.teLen == 0 {
				return nil // leading OWS
			}
			s.teSpace++
		} else {
			s.teSpace = 0
		}
		if s.teLen == len(s.te) {
			s.badTE = true
			return nil
		}
		s.te[s.teLen] = lower(c)
		s.teLen++
	}
	return nil
}

func (s *Scanner) endValue() *Error {
	switch s.kind {
	case fContentLength:
		if !s.clDigits {
			return ErrContentLength
		}
	case fTransferEncoding:
		if string(s.te[:s.teLen-min(s.teSpace, s.teLen)]) != "chunked" {
			s.badTE = true
		}
	}
	return nil
}

// endHead applies the framing rules of RFC 9112 §6 once the header
// section (or the trailer section) is complete.
func (s *Scanner) endHead() *Error {
	if s.trailers {
		s.endMessage()
		return nil
	}
	switch {
	case s.hosts > 1 || s.hosts == 0 && s.http11:
		return ErrHost
	case s.lengths > 1:
		return ErrDuplicateLength
	case s.codings > 0 && s.lengths > 0:
		return ErrLengthAndChunked
	case s.codings > 1 || s.badTE || s.codings > 0 && !s.http11:
		return ErrTransferEncoding
	}
	s.heads++
	switch {
	case s.codings == 1:
		s.state, s.tokLen, s.left = sChunkSize, 0, 0
	case s.lengths == 1 && s.length > 0:
		s.state, s.left = sBody, s.length
	default:
		s.endMessage()
	}
	return nil
}

func (s *Scanner) chunkStep(c byte) *Error {
	switch s.state {
	case sChunkSize:
		switch {
		case isHex(c):
			if s.tokLen == maxChunkSizeDigits {
				return ErrChunkSize
			}
			s.tokLen++
			s.left = s.left<<4 | int64(unhex(c))
		case s.tokLen == 0:
			return ErrChunkSize
		case c == '\r':
			s.state = sChunkSizeLF
		case c == ';':
			s.state, s.extLen = sChunkExt, 0
		default:
			return ErrChunkSize
		}
	case sChunkExt:
		switch {
		case c == '\r':
			s.state = sChunkSizeLF
		case c < ' ' && c != '\t' || c == 0x7f:
			return ErrChunkExtension
		default:
			s.extLen++
			if s.extLen > maxChunkExtBytes {
				return ErrChunkExtension
			}
		}
	case sChunkSizeLF:
		if c != '\n' {
			return ErrBareLF
		}
		if s.left == 0 {
			// The last chunk: the trailer section follows.
			s.trailers, s.headLen = true, 0
			s.state = sFieldStart
			return nil
		}
		s.state = sChunkData
	case sChunkDataCR:
		if c != '\r' {
			return ErrChunkEnd
		}
		s.state = sChunkDataLF
	case sChunkDataLF:
		if c != '\n' {
			return ErrChunkEnd
		}
		s.state, s.tokLen, s.left = sChunkSize, 0, 0
	}
	return nil
}

// tchar is RFC 9110 §5.6.2's token character set.
var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-32] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTchar(c byte) bool { return tchar[c] }
func isDigit(c byte) bool { return '0' <= c && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || 'a' <= c|0x20 && c|0x20 <= 'f' }

func unhex(c byte) byte {
	if isDigit(c) {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 32
	}
	return c
}
