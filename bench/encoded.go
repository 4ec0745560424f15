package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// encoded is one answer as a proxy sent it on a compressed workload:
// the bytes of its body on the wire and their coding. The CPU per
// request of two compressors compares only next to what each produced:
// HAProxy's libslz, which has one level, sends more bytes than a level 1
// deflate.
type encoded struct {
	Bytes  int
	Coding string // Content-Encoding; empty: sent as is
}

// fetchEncoded gets url once with headers (each "Name: value") and
// returns its body as received, without decoding it.
func fetchEncoded(url string, headers []string) (encoded, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return encoded{}, err
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	// No keep-alive: no connection of this client stays open on the
	// proxies while they are measured.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return encoded{}, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return encoded{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return encoded{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return encoded{Bytes: int(n), Coding: resp.Header.Get("Content-Encoding")}, nil
}
