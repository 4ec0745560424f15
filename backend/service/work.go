package service

import (
	"context"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"lb/backend/work"
)

// workBody is what /work answers.
type workBody struct {
	Cost     int    `json:"cost"`
	Digest   string `json:"digest"`
	Instance string `json:"instance"`
	Millis   int64  `json:"ms"`
}

// work: GET /work?cost=N chains N SHA-256 rounds (at most work.MaxCost) on
// the bounded worker pool. A full queue is 503 with Retry-After at once,
// so the other endpoints keep their goroutines and stay responsive.
func (s *Service) work(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodGet, fasthttp.MethodPost) {
		return
	}
	cost := 1000
	if v := ctx.QueryArgs().Peek("cost"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 0 || n > work.MaxCost {
			writeError(ctx, fasthttp.StatusBadRequest, "cost: 0 to "+strconv.Itoa(work.MaxCost))
			return
		}
		cost = n
	}
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sum [32]byte
	var hashErr error
	begin := time.Now()
	err := s.cfg.Work.Do(c, func(c context.Context) {
		sum, hashErr = work.Hash(c, []byte(s.cfg.ID), cost)
	})
	if err == nil {
		err = hashErr
	}
	switch {
	case errors.Is(err, work.ErrFull), errors.Is(err, work.ErrClosed):
		writeError(ctx, fasthttp.StatusServiceUnavailable, "busy: the work queue is full")
		return
	case err != nil:
		writeError(ctx, fasthttp.StatusServiceUnavailable, "work timed out")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, workBody{cost, hex.EncodeToString(sum[:]), s.cfg.ID, time.Since(begin).Milliseconds()})
}
