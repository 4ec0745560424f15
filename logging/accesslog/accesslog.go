// Package accesslog writes lb's access log lines in the text formats:
// Nginx/Apache "combined" and templates in the manner of Nginx's
// log_format, with Nginx's variable names where Nginx has the variable.
//
// The proxy logs each request as one zap entry whose fields carry the Key*
// names below; a Core renders those fields through a Template into one
// text line, without allocating. The JSON format needs none of this: it
// is zap's own JSON encoder over the same fields.
package accesslog

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"
)

// The access log entry's field keys (the JSON format's keys).
const (
	KeyClient    = "client"
	KeyMethod    = "method"
	KeyHost      = "host"
	KeyURI       = "uri"
	KeyProto     = "proto"
	KeyStatus    = "status"
	KeyBytesIn   = "bytes_in"
	KeyBytesOut  = "bytes_out"
	KeyDuration  = "duration"
	KeyRoute     = "route"
	KeyPool      = "pool"
	KeyServer    = "server"
	KeyUpstream  = "upstream_duration"
	KeyAttempts  = "attempts"
	KeyRequestID = "request_id"
	KeyReferer   = "referer"
	KeyUserAgent = "user_agent"
	KeyError     = "error"
)

// keys indexes the field keys; a field's position in an entry is looked
// up once per line.
var keys = [...]string{KeyClient, KeyMethod, KeyHost, KeyURI, KeyProto, KeyStatus,
	KeyBytesIn, KeyBytesOut, KeyDuration, KeyRoute, KeyPool, KeyServer, KeyUpstream,
	KeyAttempts, KeyRequestID, KeyReferer, KeyUserAgent, KeyError}

const (
	kClient = iota
	kMethod
	kHost
	kURI
	kProto
	kStatus
	kBytesIn
	kBytesOut
	kDuration
	kRoute
	kPool
	kServer
	kUpstream
	kAttempts
	kRequestID
	kReferer
	kUserAgent
	kError
	numKeys
)

// Combined is the Nginx/Apache combined format.
const Combined = `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"`

// render kinds of a variable.
const (
	rString    = iota // the field's text, escaped; "-" when empty
	rInt              // the field's integer; "-" when negative
	rSeconds          // a duration field in seconds, millisecond precision
	rRequest          // "METHOD URI PROTO"
	rDash             // always "-"
	rTimeLocal        // the entry's time, 02/Jan/2006:15:04:05 -0700
	rTimeISO          // the entry's time, RFC 3339
	rMsec             // the entry's time, Unix seconds with milliseconds
)

type variable struct {
	kind int
	key  int // field index for rString, rInt, rSeconds
}

// variables are the template variables (Nginx's names, and lb_* for
// what Nginx has no variable for) and what each one writes.
var variables = map[string]variable{
	"remote_addr":            {rString, kClient},
	"remote_user":            {rDash, 0},
	"time_local":             {rTimeLocal, 0},
	"time_iso8601":           {rTimeISO, 0},
	"msec":                   {rMsec, 0},
	"request":                {rRequest, 0},
	"request_method":         {rString, kMethod},
	"request_uri":            {rString, kURI},
	"server_protocol":        {rString, kProto},
	"host":                   {rString, kHost},
	"status":                 {rInt, kStatus},
	"body_bytes_sent":        {rInt, kBytesOut},
	"request_time":           {rSeconds, kDuration},
	"upstream_addr":          {rString, kServer},
	"upstream_response_time": {rSeconds, kUpstream},
	"request_id":             {rString, kRequestID},
	"http_referer":           {rString, kReferer},
	"http_user_agent":        {rString, kUserAgent},
	"lb_route":               {rString, kRoute},
	"lb_pool":                {rString, kPool},
	"lb_attempts":            {rInt, kAttempts},
	"lb_request_body_bytes":  {rInt, kBytesIn},
	"lb_error":               {rString, kError},
}

// Template is a parsed log format. It is immutable and safe for
// concurrent use.
type Template struct {
	parts []part
}

type part struct {
	lit string
	v   *variable // nil: literal only
}

// ErrTemplate wraps template syntax errors.
var ErrTemplate = errors.New("accesslog: bad template")

// Parse parses a template: text with $name or ${name} variables, as
// Nginx's log_format. "$$" is a literal "$".
func Parse(s string) (*Template, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%w: empty", ErrTemplate)
	}
	t := &Template{}
	var lit strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' {
			lit.WriteByte(c)
			i++
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			lit.WriteByte('$')
			i += 2
			continue
		}
		var name string
		if i+1 < len(s) && s[i+1] == '{' {
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("%w: unclosed ${ at offset %d", ErrTemplate, i)
			}
			name = s[i+2 : i+2+end]
			i += 3 + end
		} else {
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			name = s[i+1 : j]
			i = j
		}
		if name == "" {
			return nil, fmt.Errorf("%w: lone $ at offset %d (write $$ for a dollar sign)", ErrTemplate, i-1)
		}
		v, ok := variables[name]
		if !ok {
			return nil, fmt.Errorf("%w: unknown variable $%s", ErrTemplate, name)
		}
		t.parts = append(t.parts, part{lit: lit.String(), v: &v})
		lit.Reset()
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, part{lit: lit.String()})
	}
	return t, nil
}

// MustParse is Parse for templates known to be good.
func MustParse(s string) *Template {
	t, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return t
}

// Append appends the line for one entry (at time at, with fields) to dst,
// without the newline.
func (t *Template) Append(dst []byte, at time.Time, fields []zapcore.Field) []byte {
	var idx [numKeys]int8
	for i := range idx {
		idx[i] = -1
	}
	for i := range fields {
		if i > 127 {
			break
		}
		for k, name := range keys {
			if fields[i].Key == name {
				idx[k] = int8(i)
				break
			}
		}
	}
	str := func(k int) string {
		if idx[k] < 0 {
			return ""
		}
		return fields[idx[k]].String
	}
	num := func(k int) (int64, bool) {
		if idx[k] < 0 {
			return 0, false
		}
		return fields[idx[k]].Integer, true
	}
	for _, p := range t.parts {
		dst = append(dst, p.lit...)
		if p.v == nil {
			continue
		}
		switch p.v.kind {
		case rString:
			dst = appendEscaped(dst, str(p.v.key))
		case rInt:
			if n, ok := num(p.v.key); ok && n >= 0 {
				dst = strconv.AppendInt(dst, n, 10)
			} else {
				dst = append(dst, '-')
			}
		case rSeconds:
			n, ok := num(p.v.key)
			if !ok || (p.v.key == kUpstream && str(kServer) == "") {
				dst = append(dst, '-')
				break
			}
			dst = appendSeconds(dst, time.Duration(n))
		case rRequest:
			dst = appendEscaped(dst, str(kMethod))
			dst = append(dst, ' ')
			dst = appendEscaped(dst, str(kURI))
			dst = append(dst, ' ')
			dst = appendEscaped(dst, str(kProto))
		case rDash:
			dst = append(dst, '-')
		case rTimeLocal:
			dst = at.AppendFormat(dst, "02/Jan/2006:15:04:05 -0700")
		case rTimeISO:
			dst = at.AppendFormat(dst, time.RFC3339)
		case rMsec:
			ms := at.UnixMilli()
			dst = strconv.AppendInt(dst, ms/1000, 10)
			dst = append(dst, '.')
			dst = appendPadded(dst, ms%1000)
		}
	}
	return dst
}

// appendSeconds appends d in seconds with three decimals, as Nginx's
// $request_time.
func appendSeconds(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms < 0 {
		ms = 0
	}
	dst = strconv.AppendInt(dst, ms/1000, 10)
	dst = append(dst, '.')
	return appendPadded(dst, ms%1000)
}

func appendPadded(dst []byte, n int64) []byte {
	return append(dst, byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
}

// appendEscaped appends s, "-" when empty, with '"', '\\', control bytes
// and bytes above 0x7e escaped as \xHH, as Nginx escapes variables in
// access logs: a client cannot forge lines or fields.
func appendEscaped(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '-')
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			dst = append(dst, '\\', 'x', hex[c>>4], hex[c&0xf])
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// Core is a zapcore.Core that writes each entry as one line of a
// template. It ignores levels below Info, context fields and messages.
type Core struct {
	t *Template
	w zapcore.WriteSyncer
}

// NewCore returns a core writing lines of t to w.
func NewCore(t *Template, w zapcore.WriteSyncer) *Core { return &Core{t: t, w: w} }

var lines = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Enabled implements zapcore.LevelEnabler.
func (c *Core) Enabled(l zapcore.Level) bool { return l >= zapcore.InfoLevel }

// With returns c: access lines carry no context fields.
func (c *Core) With([]zapcore.Field) zapcore.Core { return c }

// Check adds c to ce when the entry is enabled.
func (c *Core) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write writes the entry's line.
func (c *Core) Write(e zapcore.Entry, fields []zapcore.Field) error {
	bp := lines.Get().(*[]byte)
	b := c.t.Append((*bp)[:0], e.Time, fields)
	b = append(b, '\n')
	_, err := c.w.Write(b)
	*bp = b
	lines.Put(bp)
	return err
}

// Sync flushes the writer.
func (c *Core) Sync() error { return c.w.Sync() }

var _ zapcore.Core = (*Core)(nil)
