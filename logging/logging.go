// Package logging builds lb's zap loggers from the log configuration: the
// error log (lb's own events) and the access log (one line per request,
// as JSON, console, Nginx/Apache combined or a log_format-like template;
// see accesslog).
package logging

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"lb/config"
	"lb/logging/accesslog"
)

// Loggers are the process's loggers. Close flushes and closes files.
type Loggers struct {
	Error  *zap.Logger
	Access *zap.Logger // nil when the access log is off
	closes []func() error
}

// New builds the loggers described by c.
func New(c config.Log) (*Loggers, error) {
	l := &Loggers{}
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	ws, err := l.open(c.Output, false)
	if err != nil {
		return nil, err
	}
	l.Error = zap.New(zapcore.NewCore(encoder(c.Format), ws, level), zap.ErrorOutput(ws))
	if c.Access.Enabled == nil || *c.Access.Enabled {
		aws, err := l.open(c.Access.Output, true)
		if err != nil {
			l.Close()
			return nil, err
		}
		// No caller, no stack traces, no sampling: the access log's cost
		// is one encode and one buffered write.
		core, err := accessCore(c.Access, aws)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.Access = zap.New(core)
	}
	return l, nil
}

// accessCore returns the access log's core for its format: zap's JSON or
// console encoder, or a text line (Nginx log_format) for combined and
// template.
func accessCore(c config.AccessLog, w zapcore.WriteSyncer) (zapcore.Core, error) {
	switch c.Format {
	case "combined":
		return accesslog.NewCore(accesslog.MustParse(accesslog.Combined), w), nil
	case "template":
		t, err := accesslog.Parse(c.Template)
		if err != nil {
			return nil, fmt.Errorf("logging: %w", err)
		}
		return accesslog.NewCore(t, w), nil
	}
	return zapcore.NewCore(encoder(c.Format), w, zapcore.InfoLevel), nil
}

// NewAccessTemplate returns an access logger writing lines of the
// template tmpl (accesslog.Combined, or Nginx log_format-like) to w; for
// tests and benchmarks.
func NewAccessTemplate(tmpl string, w zapcore.WriteSyncer) (*zap.Logger, error) {
	t, err := accesslog.Parse(tmpl)
	if err != nil {
		return nil, err
	}
	return zap.New(accesslog.NewCore(t, w)), nil
}

// NewAccess returns an access logger writing JSON lines to w; for tests
// and benchmarks.
func NewAccess(w zapcore.WriteSyncer) *zap.Logger {
	return zap.New(zapcore.NewCore(encoder("json"), w, zapcore.InfoLevel))
}

// Close flushes buffered lines and closes files.
func (l *Loggers) Close() error {
	var first error
	_ = l.Error.Sync()
	for i := len(l.closes) - 1; i >= 0; i-- {
		if err := l.closes[i](); err != nil && first == nil {
			first = err
		}
	}
	l.closes = nil
	return first
}

// open returns the writer for an output name. A file access log is
// buffered (flushed every second and on Close) so that a busy proxy does
// not make one write system call per request.
func (l *Loggers) open(name string, buffered bool) (zapcore.WriteSyncer, error) {
	switch name {
	case "stdout":
		return zapcore.Lock(os.Stdout), nil
	case "stderr", "":
		return zapcore.Lock(os.Stderr), nil
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	var ws zapcore.WriteSyncer = zapcore.Lock(f)
	if buffered {
		b := &zapcore.BufferedWriteSyncer{WS: ws, Size: 256 << 10, FlushInterval: time.Second}
		l.closes = append(l.closes, f.Close, b.Stop)
		return b, nil
	}
	l.closes = append(l.closes, f.Close)
	return ws, nil
}

func encoder(format string) zapcore.Encoder {
	ec := zapcore.EncoderConfig{
		TimeKey:        "ts",
		LevelKey:       "level",
		NameKey:        "logger",
		MessageKey:     "msg",
		StacktraceKey:  "stack",
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.ISO8601TimeEncoder,
		EncodeDuration: zapcore.SecondsDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	}
	if format == "console" {
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		ec.EncodeDuration = zapcore.StringDurationEncoder
		return zapcore.NewConsoleEncoder(ec)
	}
	return zapcore.NewJSONEncoder(ec)
}
