package service

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"
)

// ServerConfig is the HTTP server's settings.
type ServerConfig struct {
	ReadTimeout  time.Duration // a whole request, a streamed /import body included
	WriteTimeout time.Duration
	IdleTimeout  time.Duration // keep it longer than lb's pools' timeouts.idle
	Compress     bool          // compress responses itself (as a backend without lb in front would)
}

// Server returns the fasthttp server for s. Request bodies are streamed
// (StreamRequestBody): /import reads its body as it arrives, the other
// endpoints read at most MaxBodyBytes of it.
func (s *Service) Server(cfg ServerConfig) *fasthttp.Server {
	h := fasthttp.RequestHandler(s.Handle)
	if cfg.Compress {
		h = fasthttp.CompressHandlerBrotliLevel(h, fasthttp.CompressBrotliDefaultCompression, fasthttp.CompressDefaultCompression)
	}
	return &fasthttp.Server{
		Handler:                      h,
		Name:                         "backend",
		ReadTimeout:                  cfg.ReadTimeout,
		WriteTimeout:                 cfg.WriteTimeout,
		IdleTimeout:                  cfg.IdleTimeout,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
	}
}

// Drain stops srv gracefully: readiness turns 503 "draining" and every
// response says Connection: close for grace (lb's health checks see it
// and stop sending new requests; keep-alive connections end after their
// next response instead of being cut), then the listener closes and the
// requests in flight get until timeout to finish. Closing the listener
// earlier would reset the connections waiting in its accept queue.
// The grace period is HAProxy's `grace` (listeners stay open that long
// after a stop begins) joined with a failing readiness check.
func (s *Service) Drain(srv *fasthttp.Server, grace, timeout time.Duration) error {
	s.StartDrain()
	time.Sleep(grace)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return srv.ShutdownWithContext(ctx)
}
