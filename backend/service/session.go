package service

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/valyala/fasthttp"

	"lb/backend/session"
)

// cookieName is the session cookie.
const cookieName = "sid"

// storeCtx bounds one store call. Not derived from the RequestCtx: its
// Done fires when the server starts shutting down, which would cancel the
// requests a graceful stop lets finish.
func (s *Service) storeCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.StoreTimeout)
}

// current returns the request's session. ok is false without a valid one
// (no cookie, unknown or expired); err is set when the store could not be
// asked, and the request has then been answered 503.
func (s *Service) current(ctx *fasthttp.RequestCtx) (sess session.Session, ok bool, err error) {
	id := ctx.Request.Header.Cookie(cookieName)
	if len(id) == 0 {
		return session.Session{}, false, nil
	}
	c, cancel := s.storeCtx()
	defer cancel()
	sess, err = s.cfg.Sessions.Get(c, string(id))
	switch {
	case err == nil:
		return sess, true, nil
	case errors.Is(err, session.ErrNotFound):
		return session.Session{}, false, nil
	default:
		s.sessionUnavailable(ctx, err)
		return session.Session{}, false, err
	}
}

// sessionUnavailable answers 503: never a silent logout, never a 500.
func (s *Service) sessionUnavailable(ctx *fasthttp.RequestCtx, err error) {
	s.log.Printf("session store: %v", err)
	writeError(ctx, fasthttp.StatusServiceUnavailable, "session store unavailable")
}

// setCookie sets (or, with an empty id, expires) the session cookie:
// HttpOnly, SameSite=Lax, Path=/, and Secure when the client came over
// HTTPS through lb (X-Forwarded-Proto: https).
func setCookie(ctx *fasthttp.RequestCtx, id string) {
	c := fasthttp.AcquireCookie()
	defer fasthttp.ReleaseCookie(c)
	c.SetKey(cookieName)
	c.SetValue(id)
	c.SetPath("/")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(bytes.EqualFold(ctx.Request.Header.Peek("X-Forwarded-Proto"), []byte("https")))
	if id == "" {
		c.SetExpire(fasthttp.CookieExpireDelete)
		c.SetMaxAge(-1)
	}
	ctx.Response.Header.SetCookie(c)
	ctx.Response.Header.Set("Cache-Control", "no-store")
}

// validUser: 1 to 64 of letters, digits and . _ - @.
func validUser(u string) bool {
	if len(u) == 0 || len(u) > 64 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '@') {
			return false
		}
	}
	return true
}

// sessionBody is what /login and /me answer.
type sessionBody struct {
	User     string    `json:"user"`
	Created  time.Time `json:"created"`
	Instance string    `json:"instance"`
}

// login: POST {"user": NAME} starts a new session (a new ID every time,
// so a planted cookie is never promoted) and sets the cookie.
func (s *Service) login(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodPost) {
		return
	}
	var in struct {
		User string `json:"user"`
	}
	if !s.readJSON(ctx, &in) {
		return
	}
	if !validUser(in.User) {
		writeError(ctx, fasthttp.StatusBadRequest, "user: 1 to 64 letters, digits or . _ - @")
		return
	}
	c, cancel := s.storeCtx()
	defer cancel()
	sess, err := s.cfg.Sessions.Create(c, in.User)
	if err != nil {
		s.sessionUnavailable(ctx, err)
		return
	}
	if old := ctx.Request.Header.Cookie(cookieName); len(old) > 0 {
		_ = s.cfg.Sessions.Delete(c, string(old)) // best effort: it expires anyway
	}
	setCookie(ctx, sess.ID)
	writeJSON(ctx, fasthttp.StatusOK, sessionBody{sess.User, sess.Created, s.cfg.ID})
}

// me: the logged-in user, 401 without a valid session.
func (s *Service) me(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodGet, fasthttp.MethodHead) {
		return
	}
	sess, ok, err := s.current(ctx)
	if err != nil {
		return
	}
	if !ok {
		writeError(ctx, fasthttp.StatusUnauthorized, "not logged in")
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	writeJSON(ctx, fasthttp.StatusOK, sessionBody{sess.User, sess.Created, s.cfg.ID})
}

// logout ends the session, if any, and expires the cookie.
func (s *Service) logout(ctx *fasthttp.RequestCtx) {
	if !allow(ctx, fasthttp.MethodPost) {
		return
	}
	if id := ctx.Request.Header.Cookie(cookieName); len(id) > 0 {
		c, cancel := s.storeCtx()
		defer cancel()
		if err := s.cfg.Sessions.Delete(c, string(id)); err != nil {
			s.sessionUnavailable(ctx, err)
			return
		}
	}
	setCookie(ctx, "")
	writeJSON(ctx, fasthttp.StatusOK, map[string]bool{"logged_out": true})
}
