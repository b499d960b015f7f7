package main

// scenario.go — what every scenario shares: flags, the target (a real
// server or the recording one), the manifest of pushes, and the expected
// contributions per (app, kind) base.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

type kv struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// pushRecord is one request as sent, and what a server must make of it.
type pushRecord struct {
	Seq        int    `json:"seq"`
	Protocol   string `json:"protocol"` // pyroscope | profefe | traceway
	Path       string `json:"path"`
	Query      string `json:"query"`
	BodySHA256 string `json:"body_sha256"`
	// the pprof bytes as sent: the body, or Pyroscope's "profile" part
	ProfileSHA256 string `json:"profile_sha256"`
	Kind          string `json:"kind"`
	App           string `json:"app"`
	Name          string `json:"name"`
	Labels        []kv   `json:"labels"`
	Instance      string `json:"instance"`
	Mode          string `json:"mode"`
	Status        int    `json:"status"`
	Expect        string `json:"expect,omitempty"` // the profile a server must store, when it must transform the push
	Reset         bool   `json:"reset,omitempty"`  // this snapshot follows a restart
	// cumulative pushes: the counter part they add to their base
	// (expected/APP/KIND/NNN-delta.pb.gz), after the previous snapshot of
	// the same instance or from zero after a restart
	Contribution string `json:"contribution,omitempty"`
	// the pprof bytes sent (sent/NNNN.pb.gz) and an old Pyroscope client's
	// prev_profile (sent/NNNN-prev.pb.gz)
	Sent     string `json:"sent,omitempty"`
	SentPrev string `json:"sent_prev,omitempty"`

	profile, prev []byte // what Sent and SentPrev hold (set before sending)
}

type expectedBase struct {
	App   string   `json:"app"`
	Kind  string   `json:"kind"`
	Files []string `json:"files"`
}

type manifest struct {
	Scenario string         `json:"scenario"`
	Pushes   []*pushRecord  `json:"pushes"`
	Expected []expectedBase `json:"expected"`
}

type run struct {
	name     string
	src      *sources
	out      string
	base     string // server URL
	token    string
	bearer   bool
	tenant   string
	session  string
	service  string
	ticks    int
	backoff  time.Duration
	captured *capture

	mu       sync.Mutex
	man      manifest
	seq      int
	nfile    map[string]int // per app/kind directory
	expected map[string]*expectedBase
	order    []string
}

func runScenario(name string, args []string) {
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	profiles := fs.String("profiles", "", "directory of real Go profiles")
	out := fs.String("out", "", "output directory")
	url := fs.String("url", "", "server base URL")
	capt := fs.Bool("capture", false, "push to an in-process recording server")
	svc := fs.String("name", "", "service name")
	ticks := fs.Int("ticks", 5, "upload cycles")
	token := fs.String("token", "", "credentials")
	bearer := fs.Bool("bearer", false, "Pyroscope v1: Bearer instead of Basic")
	tenant := fs.String("tenant", "", "Pyroscope X-Scope-OrgID")
	session := fs.String("session", "", "Pyroscope __session_id__")
	backoff := fs.Duration("backoff", 50*time.Millisecond, "profefe retry delay unit")
	fs.Parse(args)
	if *profiles == "" || *out == "" || (*url == "") == !*capt || fs.NArg() != 0 || *ticks < 1 {
		usage()
	}
	src, err := loadSources(*profiles)
	if err != nil {
		fatal("%v", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fatal("%v", err)
	}
	r := &run{name: name, src: src, out: *out, base: strings.TrimRight(*url, "/"), token: *token, bearer: *bearer,
		tenant: *tenant, session: *session, service: *svc, ticks: *ticks, backoff: *backoff,
		nfile: map[string]int{}, expected: map[string]*expectedBase{}}
	r.man.Scenario = name
	if *capt {
		r.captured = newCapture(filepath.Join(*out, "capture"))
		srv := httptest.NewServer(r.captured)
		defer srv.Close()
		r.base = srv.URL
	}
	switch name {
	case "pyroscope":
		err = r.pyroscope()
	case "pyroscope-old":
		err = r.pyroscopeOld()
	case "profefe":
		err = r.profefe()
	case "kprofefe":
		err = r.kprofefe()
	case "traceway":
		err = r.traceway()
	}
	if werr := r.writeManifest(); err == nil {
		err = werr
	}
	if err != nil {
		fatal("%s: %v", name, err)
	}
}

// expect records a profile's contribution to the (app, kind) base:
// role "delta" (counter columns) or "gauge" (gauge columns).
func (r *run) expect(app, kind, role string, p *profile.Profile) error {
	_, err := r.expectFile(app, kind, role, p)
	return err
}

// expectFile is expect, also returning the file's path in OUT.
func (r *run) expectFile(app, kind, role string, p *profile.Profile) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := app + "/" + kind
	r.nfile[key]++
	rel := filepath.Join("expected", app, kind, fmt.Sprintf("%03d-%s.pb.gz", r.nfile[key], role))
	if err := writeProfile(filepath.Join(r.out, rel), p); err != nil {
		return "", err
	}
	e := r.expected[key]
	if e == nil {
		e = &expectedBase{App: app, Kind: kind}
		r.expected[key] = e
		r.order = append(r.order, key)
	}
	e.Files = append(e.Files, rel)
	return rel, nil
}

// expectStored writes the profile a server must store for a push.
func (r *run) expectStored(rec *pushRecord, p *profile.Profile) error {
	rel := filepath.Join("expected", "pushes", fmt.Sprintf("%04d.pb.gz", rec.Seq))
	rec.Expect = rel
	return writeProfile(filepath.Join(r.out, rel), p)
}

func (r *run) writeManifest() error {
	for _, k := range r.order {
		r.man.Expected = append(r.man.Expected, *r.expected[k])
	}
	sort.Slice(r.man.Pushes, func(i, j int) bool { return r.man.Pushes[i].Seq < r.man.Pushes[j].Seq })
	b, err := json.MarshalIndent(&r.man, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(r.out, "manifest.json"), append(b, '\n'), 0o644)
}

// sendKeep performs one request with the agent's client, records it and
// returns the response body (an error only when no response came).
func (r *run) sendKeep(client *http.Client, req *http.Request, body []byte, rec *pushRecord) ([]byte, error) {
	r.mu.Lock()
	r.seq++
	rec.Seq = r.seq
	r.man.Pushes = append(r.man.Pushes, rec)
	r.mu.Unlock()
	if err := r.keepSent(rec, body); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	rec.BodySHA256 = hex.EncodeToString(sum[:])
	if rec.ProfileSHA256 == "" {
		rec.ProfileSHA256 = rec.BodySHA256
	}
	rec.Path = req.URL.Path
	rec.Query = req.URL.RawQuery
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("push %d (%s %s): %v", rec.Seq, rec.Kind, rec.Path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	rec.Status = resp.StatusCode
	return rb, nil
}

// keepSent writes the profile a push sends (rec.profile, else the body) and
// its prev_profile under OUT/sent/, named by the push's sequence number.
func (r *run) keepSent(rec *pushRecord, body []byte) error {
	p := rec.profile
	if p == nil {
		p = body
	}
	rec.Sent = filepath.Join("sent", fmt.Sprintf("%04d.pb.gz", rec.Seq))
	files := []struct {
		rel  string
		data []byte
	}{{rec.Sent, p}}
	if rec.prev != nil {
		rec.SentPrev = filepath.Join("sent", fmt.Sprintf("%04d-prev.pb.gz", rec.Seq))
		files = append(files, struct {
			rel  string
			data []byte
		}{rec.SentPrev, rec.prev})
	}
	for _, f := range files {
		path := filepath.Join(r.out, f.rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// send is sendKeep that also wants status `want` (0: any).
func (r *run) send(client *http.Client, req *http.Request, body []byte, rec *pushRecord, want int) error {
	rb, err := r.sendKeep(client, req, body, rec)
	if err != nil {
		return err
	}
	if want != 0 && rec.Status != want {
		return fmt.Errorf("push %d (%s %s %s): status %d, want %d: %s", rec.Seq, rec.Kind, rec.Path, rec.Query,
			rec.Status, want, strings.TrimSpace(string(rb)))
	}
	return nil
}

// ---- the app-name rule (an independent copy of the contract's rule) ----

func fnv1a32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func appName(service string) string {
	var b strings.Builder
	gap := false
	for i := 0; i < len(service); i++ {
		c := service[i]
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			gap = b.Len() > 0
			continue
		}
		if gap {
			b.WriteByte('-')
		}
		b.WriteByte(c)
		gap = false
	}
	s := b.String()
	if len(s) > 63 {
		s = fmt.Sprintf("%s-%08x", s[:54], fnv1a32(service))
	}
	return s
}

func sortedLabels(m map[string]string) []kv {
	var out []kv
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
