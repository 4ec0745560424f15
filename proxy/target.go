package proxy

import "bytes"

// splitTarget reads the request target (RFC 9112 §3.2). It returns the
// path and query to forward, exactly as received, and the path alone for
// routing. Origin form ("/p?q") is the common case; absolute form
// ("http://host/p?q") is accepted only when its authority equals the Host
// header, so lb never acts as an open forward proxy. Authority form
// (CONNECT) and asterisk form ("*") are refused.
func splitTarget(target, host []byte) (pathQuery, path []byte, ok bool) {
	if len(target) == 0 {
		return nil, nil, false
	}
	if target[0] != '/' {
		rest, isAbs := cutScheme(target)
		if !isAbs {
			return nil, nil, false
		}
		end := bytes.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if end == 0 || !foldEqual(rest[:end], host) {
			return nil, nil, false
		}
		target = rest[end:]
		if len(target) == 0 || target[0] != '/' {
			// "http://h" and "http://h?q" address the root.
			return target, nil, true
		}
	}
	path = target
	if i := bytes.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	return target, path, true
}

// cutScheme strips a leading "http://" or "https://", any case.
func cutScheme(t []byte) ([]byte, bool) {
	for _, s := range [...]string{"http://", "https://"} {
		if len(t) >= len(s) && foldEqual(t[:len(s)], []byte(s)) {
			return t[len(s):], true
		}
	}
	return nil, false
}
