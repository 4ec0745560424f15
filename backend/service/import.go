package service

import (
	"encoding/json"
	"errors"
	"io"
	"strconv"

	"github.com/valyala/fasthttp"

	"lb/backend/data"
	"lb/backend/jsonstream"
)

// importBody is what /import answers on success.
type importBody struct {
	Imported int    `json:"imported"`
	Batches  int    `json:"batches"`
	Instance string `json:"instance"`
}

// errImportTooLarge ends an /import body over MaxImportBytes.
var errImportTooLarge = errors.New("service: import body too large")

// importItems: POST /import with a JSON array of items. The body is read
// as a stream and split element by element (jsonstream), decoded, and
// written ImportBatch items at a time, each batch all or nothing: memory
// holds one batch whatever the body's size. A malformed element is 400
// naming its index; the batches before it stay committed (the answer says
// how many items), nothing of its own batch is written.
func (s *Service) importItems(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodPost) {
		return
	}
	sess, ok, err := s.current(ctx)
	if err != nil {
		return
	}
	limit := s.cfg.MaxImportBytes
	if limit > 0 && int64(ctx.Request.Header.ContentLength()) > limit {
		writeError(ctx, fasthttp.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(limit, 10)+" bytes")
		return
	}
	r := bodyStream(ctx)
	if limit > 0 {
		r = &limitedReader{r: r, n: limit}
	}
	dec := jsonstream.NewDecoder(r, s.cfg.MaxElementBytes)
	batch := make([]data.NewItem, 0, s.cfg.ImportBatch)
	imported, batches := 0, 0
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		c, cancel := s.storeCtx()
		defer cancel()
		pos, err := s.cfg.Data.InsertBatch(c, batch)
		if err != nil {
			status, msg := fasthttp.StatusInternalServerError, "internal error"
			switch {
			case errors.Is(err, data.ErrConflict):
				status, msg = fasthttp.StatusConflict, "a name in this batch exists already"
			case errors.Is(err, data.ErrInvalid):
				status, msg = fasthttp.StatusBadRequest, "an item in this batch has a value that is not JSON"
			case errors.Is(err, data.ErrUnavailable):
				status, msg = fasthttp.StatusServiceUnavailable, "data store unavailable"
			}
			if status != fasthttp.StatusConflict && status != fasthttp.StatusBadRequest {
				s.log.Printf("import: %v", err)
			}
			importRejected(ctx, status, "batch from element "+strconv.Itoa(imported)+": "+msg, imported, imported)
			return false
		}
		s.wrote(sess, ok, pos)
		imported += len(batch)
		batches++
		clear(batch) // let the collector have the values before the next batch
		batch = batch[:0]
		return true
	}
	for {
		elem, err := dec.Next()
		if err == io.EOF {
			break
		}
		index := dec.Index()
		var se *jsonstream.SyntaxError
		switch {
		case err == nil:
		case errors.As(err, &se):
			importRejected(ctx, fasthttp.StatusBadRequest, "element "+strconv.Itoa(index)+": "+se.Msg, index, imported)
			return
		case errors.Is(err, errImportTooLarge):
			importRejected(ctx, fasthttp.StatusRequestEntityTooLarge, "body over "+strconv.FormatInt(limit, 10)+" bytes", index, imported)
			return
		default:
			importRejected(ctx, fasthttp.StatusBadRequest, "element "+strconv.Itoa(index)+": reading the body failed", index, imported)
			return
		}
		index-- // the element just returned
		var it data.NewItem
		if err := json.Unmarshal(elem, &it); err != nil {
			importRejected(ctx, fasthttp.StatusBadRequest, "element "+strconv.Itoa(index)+": "+jsonErr(err), index, imported)
			return
		}
		if it.Name == "" {
			importRejected(ctx, fasthttp.StatusBadRequest, "element "+strconv.Itoa(index)+`: "name" is missing or empty`, index, imported)
			return
		}
		batch = append(batch, it)
		if len(batch) == cap(batch) && !flush() {
			return
		}
	}
	if !flush() {
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, importBody{imported, batches, s.cfg.ID})
}

// importRejected answers an /import that stopped at element index with
// imported items committed before it. The rest of the body is left
// unread, so the connection is closed after the answer.
func importRejected(ctx *fasthttp.RequestCtx, status int, msg string, index, imported int) {
	ctx.SetConnectionClose()
	if status == fasthttp.StatusServiceUnavailable {
		ctx.Response.Header.Set("Retry-After", "1")
	}
	writeJSON(ctx, status, errorBody{Error: msg, Index: &index, Imported: &imported})
}

// limitedReader fails with errImportTooLarge past n bytes (io.LimitReader
// would end the body quietly, turning an oversized array into a truncated
// one).
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return 0, errImportTooLarge
	}
	return n, err
}
