package main

// pyroscope.go — Pyroscope's Go SDK on the wire.
//
// pyroscope-go v1.x (grafana/pyroscope-go upstream/remote/remote.go,
// session.go): POST {address}/ingest with name, from, until (Unix ns since
// v1.1.0), spyName, sampleRate, units, aggregationType, all set on every
// request; a multipart body made by mime/multipart with file parts
// "profile" (profile.pprof, the gzipped pprof) and, except for CPU,
// "sample_type_config" (sample_type_config.json, json.Marshal of the
// config, omitempty fields); Content-Type from the writer; no
// Content-Encoding; Basic auth (or Bearer), X-Scope-OrgID; a client that
// follows no redirect and wants exactly 200. CPU is uploaded first, the
// other kinds of a tick concurrently.
//
// pyroscope-io/client <= 0.4: the same endpoint with from/until in Unix
// seconds, heap and mutex uploaded as cumulative snapshots with the
// previous snapshot as "prev_profile" (the first snapshot is never sent),
// mutex with a sample_type_config marking its columns cumulative, heap with
// none (the server's default mapping marks alloc_* cumulative), Bearer auth.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// sampleType is pyroscope-go's upstream.SampleType, field for field.
type sampleType struct {
	Units       string `json:"units,omitempty"`
	Aggregation string `json:"aggregation,omitempty"`
	DisplayName string `json:"display-name,omitempty"`
	Sampled     bool   `json:"sampled,omitempty"`
	Cumulative  bool   `json:"cumulative,omitempty"`
}

var (
	stcHeap = map[string]*sampleType{
		"alloc_objects": {Units: "objects"},
		"alloc_space":   {Units: "bytes"},
		"inuse_space":   {Units: "bytes", Aggregation: "average"},
		"inuse_objects": {Units: "objects", Aggregation: "average"},
	}
	stcMutex = map[string]*sampleType{
		"contentions": {DisplayName: "mutex_count", Units: "lock_samples"},
		"delay":       {DisplayName: "mutex_duration", Units: "lock_nanoseconds"},
	}
	stcBlock = map[string]*sampleType{
		"contentions": {DisplayName: "block_count", Units: "lock_samples"},
		"delay":       {DisplayName: "block_duration", Units: "lock_nanoseconds"},
	}
	stcGoroutine = map[string]*sampleType{
		"goroutine": {DisplayName: "goroutines", Units: "goroutines", Aggregation: "average"},
	}
	// pyroscope-io/client 0.3-0.4: mutex snapshots are cumulative.
	stcMutexOld = map[string]*sampleType{
		"contentions": {DisplayName: "mutex_count", Units: "lock_samples", Cumulative: true},
		"delay":       {DisplayName: "mutex_duration", Units: "lock_nanoseconds", Cumulative: true},
	}
)

// uploadJob is the SDK's upstream.UploadJob.
type uploadJob struct {
	name            string
	start, end      time.Time
	spyName         string
	sampleRate      uint32
	units           string
	aggregationType string
	profile, prev   []byte
	stc             map[string]*sampleType
}

func pyroscopeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxConnsPerHost: 5},
		// Redirects are not followed (remote.go: ErrUseLastResponse).
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// pyroscopeRequest builds the request as remote.go's uploadProfile does;
// seconds selects the pre-v1.1 time unit and the old path join.
func (r *run) pyroscopeRequest(j *uploadJob, seconds bool) (*http.Request, []byte, error) {
	u, err := url.Parse(r.base)
	if err != nil {
		return nil, nil, err
	}
	body := &bytes.Buffer{}
	writer := multipart.NewWriter(body)
	fw, err := writer.CreateFormFile("profile", "profile.pprof")
	if err != nil {
		return nil, nil, err
	}
	fw.Write(j.profile)
	if j.prev != nil {
		if fw, err = writer.CreateFormFile("prev_profile", "profile.pprof"); err != nil {
			return nil, nil, err
		}
		fw.Write(j.prev)
	}
	if j.stc != nil {
		if fw, err = writer.CreateFormFile("sample_type_config", "sample_type_config.json"); err != nil {
			return nil, nil, err
		}
		b, err := json.Marshal(j.stc)
		if err != nil {
			return nil, nil, err
		}
		fw.Write(b)
	}
	writer.Close()

	q := u.Query()
	q.Set("name", j.name)
	if seconds {
		q.Set("from", strconv.Itoa(int(j.start.Unix())))
		q.Set("until", strconv.Itoa(int(j.end.Unix())))
	} else {
		q.Set("from", strconv.FormatInt(j.start.UnixNano(), 10))
		q.Set("until", strconv.FormatInt(j.end.UnixNano(), 10))
	}
	q.Set("spyName", j.spyName)
	q.Set("sampleRate", strconv.Itoa(int(j.sampleRate)))
	q.Set("units", j.units)
	q.Set("aggregationType", j.aggregationType)
	if seconds {
		u.Path = path.Join(u.Path, "/ingest")
	} else {
		u.Path = path.Join(u.Path, "ingest")
	}
	u.RawQuery = q.Encode()

	b := body.Bytes()
	request, err := http.NewRequest("POST", u.String(), body)
	if err != nil {
		return nil, nil, err
	}
	request.Header.Set("Content-Type", writer.FormDataContentType())
	if r.token != "" {
		if seconds || r.bearer {
			request.Header.Set("Authorization", "Bearer "+r.token)
		} else {
			request.SetBasicAuth("123456", r.token) // a Grafana Cloud style user id; the password is the token
		}
	}
	if r.tenant != "" && !seconds {
		request.Header.Set("X-Scope-OrgID", r.tenant)
	}
	return request, b, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func (r *run) pyroscope() error {
	svc := r.service
	if svc == "" {
		svc = "My_App.v2"
	}
	session := r.session
	if session == "" {
		session = randomHex(8)
	}
	// labelset Normalized(): keys sorted, no escaping.
	name := svc + "{__session_id__=" + session + ",env=prod}"
	app := appName(svc)
	labels := sortedLabels(map[string]string{"__session_id__": session, "env": "prod"})
	client := pyroscopeClient()
	rate := 15 * time.Second
	start := time.Now().Add(-time.Duration(r.ticks+2) * rate).Truncate(rate)
	rec := func(kind string) *pushRecord {
		return &pushRecord{Protocol: "pyroscope", Kind: kind, App: app, Name: svc, Labels: labels, Instance: session,
			Mode: "delta"}
	}
	var lastHeap, lastGoroutine *profile.Profile
	for k := 0; k < r.ticks; k++ {
		from := start.Add(time.Duration(k) * rate)
		until := from.Add(rate)
		cpu := stamped(r.src.cpu[k%len(r.src.cpu)], from, rate)
		heap := stamped(r.src.heap[k%len(r.src.heap)], from, 0)
		mutex := stamped(r.src.mutex[k%len(r.src.mutex)], from, 0)
		block := stamped(r.src.block[(k+1)%len(r.src.block)], from, 0)
		gor := stamped(times(r.src.goroutine, k+1), from, 0)
		lastHeap, lastGoroutine = heap, gor

		job := &uploadJob{name: name, start: from, end: until, spyName: "gospy", sampleRate: 100, units: "samples",
			aggregationType: "sum", profile: encode(cpu)}
		if err := r.pyroscopeSend(client, job, rec("cpu"), false); err != nil {
			return err
		}
		jobs := []struct {
			kind string
			job  *uploadJob
		}{
			{"goroutine", &uploadJob{name: name, start: from, end: until, spyName: "gospy", units: "goroutines",
				aggregationType: "average", profile: encode(gor), stc: stcGoroutine}},
			{"block", &uploadJob{name: name, start: from, end: until, spyName: "gospy", profile: encode(block),
				stc: stcBlock}},
			{"mutex", &uploadJob{name: name, start: from, end: until, spyName: "gospy", profile: encode(mutex),
				stc: stcMutex}},
			{"heap", &uploadJob{name: name, start: from, end: until, spyName: "gospy", sampleRate: 100,
				profile: encode(heap), stc: stcHeap}},
		}
		var wg sync.WaitGroup
		errs := make([]error, len(jobs))
		for i := range jobs {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				errs[i] = r.pyroscopeSend(client, jobs[i].job, rec(jobs[i].kind), false)
			}(i)
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		for _, e := range []struct {
			kind string
			p    *profile.Profile
		}{{"cpu", cpu}, {"heap", heap}, {"mutex", mutex}, {"block", block}} {
			if err := r.expect(app, e.kind, "delta", counters(e.p)); err != nil {
				return err
			}
		}
	}
	if err := r.expect(app, "heap", "gauge", gauges(lastHeap)); err != nil {
		return err
	}
	return r.expect(app, "goroutine", "gauge", gauges(lastGoroutine))
}

func (r *run) pyroscopeSend(client *http.Client, j *uploadJob, rec *pushRecord, seconds bool) error {
	req, body, err := r.pyroscopeRequest(j, seconds)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(j.profile)
	rec.ProfileSHA256 = hex.EncodeToString(sum[:])
	rec.profile, rec.prev = j.profile, j.prev
	return r.send(client, req, body, rec, 200)
}

func (r *run) pyroscopeOld() error {
	svc := r.service
	if svc == "" {
		svc = "Billing.Legacy"
	}
	app := appName(svc)
	client := pyroscopeClient()
	rate := 10 * time.Second
	start := time.Now().Add(-time.Duration(r.ticks+2) * rate).Truncate(rate)
	heaps := cumulativeSeq(r.src.heap, 0, r.ticks+1)
	mutexes := cumulativeSeq(r.src.mutex, 1, r.ticks+1)
	rec := func(kind string) *pushRecord {
		return &pushRecord{Protocol: "pyroscope", Kind: kind, App: app, Name: svc, Labels: []kv{}, Mode: "delta"}
	}
	var last *profile.Profile
	// Snapshot 0 is taken at start and never sent; each tick sends
	// (snapshot k, snapshot k-1).
	for k := 1; k <= r.ticks; k++ {
		from := start.Add(time.Duration(k-1) * rate)
		until := from.Add(rate)
		cpu := stamped(r.src.cpu[(k+3)%len(r.src.cpu)], from, rate)
		job := &uploadJob{name: svc, start: from, end: until, spyName: "gospy", sampleRate: 100, units: "samples",
			aggregationType: "sum", profile: encode(cpu)}
		if err := r.pyroscopeSend(client, job, rec("cpu"), true); err != nil {
			return err
		}
		if err := r.expect(app, "cpu", "delta", counters(cpu)); err != nil {
			return err
		}
		for _, s := range []struct {
			kind string
			seq  []*profile.Profile
			stc  map[string]*sampleType
		}{{"heap", heaps, nil}, {"mutex", mutexes, stcMutexOld}} {
			cur, prev := stamped(s.seq[k], until, 0), stamped(s.seq[k-1], from, 0)
			job := &uploadJob{name: svc, start: from, end: until, spyName: "gospy", profile: encode(cur),
				prev: encode(prev), stc: s.stc}
			if s.kind == "heap" {
				job.sampleRate = 100
			}
			rc := rec(s.kind)
			delta := minus(cur, prev)
			if err := r.pyroscopeSend(client, job, rc, true); err != nil {
				return err
			}
			if err := r.expectStored(rc, merge(delta, gauges(cur))); err != nil {
				return err
			}
			if err := r.expect(app, s.kind, "delta", delta); err != nil {
				return err
			}
		}
		last = heaps[k]
	}
	return r.expect(app, "heap", "gauge", gauges(last))
}
