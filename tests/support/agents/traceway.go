package main

// traceway.go — the traceway Go SDK's profiling on the wire
// (tracewayapp/go-client profiling.go): every interval, a CPU profile of up
// to 30 s then the heap profile (runtime/pprof's since-start view: alloc_*
// cumulative, in-use a snapshot), as two POSTs to the same URL
// {scheme://host}/api/profiles/ingest?appVersion=...&serverName=...&service=...
// (q.Encode: keys sorted), with Authorization: Bearer TOKEN and
// Content-Type: application/octet-stream, the body the gzipped pprof as
// runtime/pprof wrote it (no Content-Encoding), a 30 s client timeout;
// success is exactly 200.

import (
	"bytes"
	"net/http"
	"net/url"
	"time"

	"github.com/google/pprof/profile"
)

func (r *run) tracewaySend(client *http.Client, ingestURL, service, serverName, appVersion string, body []byte,
	rec *pushRecord) error {
	req, err := http.NewRequest(http.MethodPost, ingestURL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	q := req.URL.Query()
	q.Set("service", service)
	q.Set("serverName", serverName)
	q.Set("appVersion", appVersion)
	req.URL.RawQuery = q.Encode()
	req.Header.Set("Authorization", "Bearer "+r.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	return r.send(client, req, body, rec, 200)
}

func (r *run) traceway() error {
	svc := r.service
	if svc == "" {
		svc = "checkout_api" // WithProfiling("") would send the binary's name
	}
	app := appName(svc)
	u, err := url.Parse(r.base)
	if err != nil {
		return err
	}
	ingestURL := u.Scheme + "://" + u.Host + "/api/profiles/ingest"
	server, version := "web-1", "1.4.2"
	labels := []kv{{"appVersion", version}, {"serverName", server}}
	client := &http.Client{Timeout: 30 * time.Second}
	interval := 60 * time.Second
	start := time.Now().Add(-time.Duration(r.ticks+1) * interval).Truncate(time.Second)
	heaps := cumulativeSeq(r.src.heap, 3, r.ticks)
	var last *profile.Profile
	for k := 0; k < r.ticks; k++ {
		t0 := start.Add(time.Duration(k) * interval)
		rec := func(kind, mode string) *pushRecord {
			return &pushRecord{Protocol: "traceway", Kind: kind, App: app, Name: svc, Labels: labels, Instance: server,
				Mode: mode, Reset: k == 0 && kind == "heap"}
		}
		cpu := stamped(r.src.cpu[(k+7)%len(r.src.cpu)], t0, 30*time.Second)
		if err := r.tracewaySend(client, ingestURL, svc, server, version, encode(cpu), rec("cpu", "delta")); err != nil {
			return err
		}
		if err := r.expect(app, "cpu", "delta", counters(cpu)); err != nil {
			return err
		}
		heap := stamped(heaps[k], t0.Add(30*time.Second), 0)
		c := counters(heaps[k])
		if k > 0 {
			c = minus(heaps[k], heaps[k-1])
		}
		rc := rec("heap", "cumulative")
		rel, err := r.expectFile(app, "heap", "delta", c)
		if err != nil {
			return err
		}
		rc.Contribution = rel
		if err := r.tracewaySend(client, ingestURL, svc, server, version, encode(heap), rc); err != nil {
			return err
		}
		last = heaps[k]
	}
	return r.expect(app, "heap", "gauge", gauges(last))
}
