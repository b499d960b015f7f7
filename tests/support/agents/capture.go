package main

// capture.go — the recording server of -capture: every request is saved as
// it arrived (method, request URI, headers, body) and answered the way the
// protocol's own server answers a success, so the agents' response
// handling runs too.
//
//	NNNN.json  {"method", "uri", "path", "query", "proto", "headers": {name: [values]},
//	            "content_length", "body_sha256"}
//	NNNN.body  the body bytes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

type capture struct {
	dir string
	mu  sync.Mutex
	n   int
}

func newCapture(dir string) *capture {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fatal("%v", err)
	}
	return &capture{dir: dir}
}

type captured struct {
	Method        string              `json:"method"`
	URI           string              `json:"uri"`
	Path          string              `json:"path"`
	Query         string              `json:"query"`
	Proto         string              `json:"proto"`
	Headers       map[string][]string `json:"headers"`
	ContentLength int64               `json:"content_length"`
	BodySHA256    string              `json:"body_sha256"`
}

func (c *capture) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	sum := sha256.Sum256(body)
	rec := captured{Method: req.Method, URI: req.RequestURI, Path: req.URL.Path, Query: req.URL.RawQuery,
		Proto: req.Proto, Headers: map[string][]string(req.Header), ContentLength: req.ContentLength,
		BodySHA256: hex.EncodeToString(sum[:])}
	// net/http moves Host out of the header map; keep it where a reader expects it.
	rec.Headers["Host"] = []string{req.Host}
	c.mu.Lock()
	c.n++
	n := c.n
	c.mu.Unlock()
	base := filepath.Join(c.dir, fmt.Sprintf("%04d", n))
	meta, _ := json.MarshalIndent(&rec, "", "  ")
	if err := os.WriteFile(base+".body", body, 0o644); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if err := os.WriteFile(base+".json", append(meta, '\n'), 0o644); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	switch req.URL.Path {
	case "/api/0/profiles":
		q := req.URL.Query()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]interface{}{"code": 200, "body": map[string]interface{}{
			"id": fmt.Sprintf("capture%013d", n), "type": q.Get("type"), "service": q.Get("service"),
			"created_at": time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)}})
	case "/api/profiles/ingest":
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	default: // Pyroscope: 200, empty body
	}
}
