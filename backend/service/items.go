package service

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"lb/backend/data"
	"lb/backend/session"
)

// bodyStream returns the request body as a stream (the server streams
// request bodies so that /import never holds one whole).
func bodyStream(ctx *fasthttp.RequestCtx) io.Reader {
	if r := ctx.RequestBodyStream(); r != nil {
		return r
	}
	return bytes.NewReader(ctx.Request.Body())
}

// readJSON decodes a JSON body of at most MaxBodyBytes into v, answering
// 413 or 400 itself when it cannot.
func (s *Service) readJSON(ctx *fasthttp.RequestCtx, v any) bool {
	limit := s.cfg.MaxBodyBytes
	if ctx.Request.Header.ContentLength() > limit {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body over "+strconv.Itoa(limit)+" bytes")
		return false
	}
	body, err := io.ReadAll(io.LimitReader(bodyStream(ctx), int64(limit)+1))
	if err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "reading the body failed")
		return false
	}
	if len(body) > limit {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body over "+strconv.Itoa(limit)+" bytes")
		return false
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(ctx, fasthttp.StatusBadRequest, "body is not the expected JSON: "+jsonErr(err))
		return false
	}
	return true
}

// jsonErr describes a decoding error without echoing the body.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "field " + strconv.Quote(te.Field) + " must be " + te.Type.String()
	}
	return "malformed"
}

// dataError answers a data store error with its status.
func (s *Service) dataError(ctx *fasthttp.RequestCtx, err error) {
	switch {
	case errors.Is(err, data.ErrNotFound):
		writeError(ctx, fasthttp.StatusNotFound, "no such item")
	case errors.Is(err, data.ErrConflict):
		writeError(ctx, fasthttp.StatusConflict, "conflict: the name exists or the version changed")
	case errors.Is(err, data.ErrInvalid):
		writeError(ctx, fasthttp.StatusBadRequest, "name must not be empty and value must be JSON")
	case errors.Is(err, data.ErrUnavailable):
		s.log.Printf("data store: %v", err)
		writeError(ctx, fasthttp.StatusServiceUnavailable, "data store unavailable")
	default:
		s.log.Printf("data store: %v", err)
		writeError(ctx, fasthttp.StatusInternalServerError, "internal error")
	}
}

// wrote records a write's position in the session, if there is one, so
// the session's next reads, on any backend, see it.
func (s *Service) wrote(sess session.Session, ok bool, pos data.Position) {
	if !ok || pos == "" {
		return
	}
	c, cancel := s.storeCtx()
	defer cancel()
	if err := s.cfg.Sessions.SetWritePos(c, sess.ID, string(pos)); err != nil {
		// The write is committed: answering an error would invite a
		// duplicate. The session's next read may come from a replica that
		// is behind; say so in the log.
		s.log.Printf("session %s…: write position %s not recorded: %v", sess.ID[:8], pos, err)
	}
}

func source(ctx *fasthttp.RequestCtx, src data.Source) {
	ctx.Response.Header.Set("X-Data-Source", string(src))
}

func etag(ctx *fasthttp.RequestCtx, it data.Item) {
	ctx.Response.Header.Set("ETag", `"`+itoa(it.Version)+`"`)
}

// items: GET lists (?limit=N), POST creates.
func (s *Service) items(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPost) {
		return
	}
	sess, ok, err := s.current(ctx)
	if err != nil {
		return
	}
	c, cancel := s.storeCtx()
	defer cancel()
	if ctx.IsPost() {
		var in data.NewItem
		if !s.readJSON(ctx, &in) {
			return
		}
		it, pos, err := s.cfg.Data.Create(c, in)
		if err != nil {
			s.dataError(ctx, err)
			return
		}
		s.wrote(sess, ok, pos)
		source(ctx, data.SourcePrimary)
		etag(ctx, it)
		ctx.Response.Header.Set("Location", "/items/"+itoa(it.ID))
		writeJSON(ctx, fasthttp.StatusCreated, it)
		return
	}
	limit := 0
	if v := ctx.QueryArgs().Peek("limit"); v != nil {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > data.MaxLimit {
			writeError(ctx, fasthttp.StatusBadRequest, "limit: 1 to "+strconv.Itoa(data.MaxLimit))
			return
		}
		limit = n
	}
	list, src, err := s.cfg.Data.List(c, limit, data.Position(sess.WritePos))
	if err != nil {
		s.dataError(ctx, err)
		return
	}
	if list == nil {
		list = []data.Item{}
	}
	source(ctx, src)
	writeJSON(ctx, fasthttp.StatusOK, map[string][]data.Item{"items": list})
}

// item: GET, PUT and DELETE /items/{id}.
func (s *Service) item(ctx *fasthttp.RequestCtx, idText string) {
	if !allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead, fasthttp.MethodPut, fasthttp.MethodDelete) {
		return
	}
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		writeError(ctx, fasthttp.StatusBadRequest, "item id must be a positive integer")
		return
	}
	sess, ok, err := s.current(ctx)
	if err != nil {
		return
	}
	c, cancel := s.storeCtx()
	defer cancel()
	switch {
	case ctx.IsPut():
		var in struct {
			data.NewItem
			Version int64 `json:"version"`
		}
		if !s.readJSON(ctx, &in) {
			return
		}
		version := in.Version
		if m := ctx.Request.Header.Peek("If-Match"); len(m) > 0 {
			v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(string(m), "W/"), `"`), 10, 64)
			if err != nil || v <= 0 {
				writeError(ctx, fasthttp.StatusPreconditionFailed, `If-Match: want the item's ETag, e.g. "3"`)
				return
			}
			if version != 0 && version != v {
				writeError(ctx, fasthttp.StatusBadRequest, "If-Match and body version differ")
				return
			}
			version = v
		}
		it, pos, err := s.cfg.Data.Update(c, id, in.NewItem, version)
		if err != nil {
			s.dataError(ctx, err)
			return
		}
		s.wrote(sess, ok, pos)
		source(ctx, data.SourcePrimary)
		etag(ctx, it)
		writeJSON(ctx, fasthttp.StatusOK, it)
	case ctx.IsDelete():
		pos, err := s.cfg.Data.Delete(c, id)
		if err != nil {
			s.dataError(ctx, err)
			return
		}
		s.wrote(sess, ok, pos)
		source(ctx, data.SourcePrimary)
		writeJSON(ctx, fasthttp.StatusOK, map[string]int64{"deleted": id})
	default:
		it, src, err := s.cfg.Data.Get(c, id, data.Position(sess.WritePos))
		if err != nil {
			s.dataError(ctx, err)
			return
		}
		source(ctx, src)
		etag(ctx, it)
		writeJSON(ctx, fasthttp.StatusOK, it)
	}
}
