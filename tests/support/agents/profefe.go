package main

// profefe.go — the profefe agent and kube-profefe's kprofefe on the wire.
//
// profefe agent (profefe/profefe agent/agent.go): POST
// {addr}/api/0/profiles?labels=...&service=...&type=... (url.Values.Encode,
// so keys sorted; labels always present, possibly empty, built as
// QueryEscape(k)=QueryEscape(v) joined by ','), body the gzipped pprof as
// runtime/pprof writes it, no Content-Type, no credentials, the default
// client. Each cycle: CPU (a 10 s window), then heap, block, mutex,
// goroutine, threadcreate, each the runtime's since-start view (alloc_*,
// contentions/delay and threadcreate cumulative; in-use and goroutine
// snapshots). Status >= 500 and transport errors are retried up to 10
// times with a growing delay; 4xx stops; anything below 400 is success.
//
// kprofefe (profefe/kube-profefe pkg/profefe/client.go SavePprof): POST
// {hostport}/api/0/profiles?instance_id=HOSTIP&labels=,namespace=NS,from=kube-profefe&service=POD&type=T,
// the labels string starting with ',', its keys and values unescaped; a
// header literally named "UserAgent" and Content-Type
// application/octet-stream; body profile.Write of the scraped profile
// (written before the labels are set on its samples, so the body carries
// none); the reply's body.id is read. Kinds cpu, heap, block, mutex,
// goroutine (threadcreate and allocs are skipped).

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/pprof/profile"
)

// instanceSeq is one instance's profiles of one cumulative kind, life by
// life (a restart starts a new life).
type lifeSeq struct {
	snaps []*profile.Profile
	reset []bool // snapshot i is the first of a life
}

// cumulativeLives builds n snapshots with a restart before snapshot
// restartAt (0 = none): each life is a cumulative sequence of its own.
func cumulativeLives(n, restartAt int, build func(offset, n int) []*profile.Profile) lifeSeq {
	if restartAt <= 0 || restartAt >= n {
		s := build(0, n)
		r := make([]bool, n)
		r[0] = true
		return lifeSeq{s, r}
	}
	a, b := build(0, restartAt), build(0, n-restartAt)
	r := make([]bool, n)
	r[0], r[restartAt] = true, true
	return lifeSeq{append(a, b...), r}
}

// contribution is what snapshot k adds to a base: its counters after a
// (re)start, else the difference with the previous snapshot.
func (s lifeSeq) contribution(k int) *profile.Profile {
	if s.reset[k] {
		return counters(s.snaps[k])
	}
	return minus(s.snaps[k], s.snaps[k-1])
}

type agentInstance struct {
	labels   []kv   // as the agent writes them (its map order)
	sorted   []kv   // as a server keeps them
	instance string // the identity a server must derive
	restart  int    // cycle before which it restarts (0 = never)
	offset   int    // which real profiles it starts from
}

func (r *run) profefeAgentSend(service string, inst *agentInstance, ptype string, body []byte,
	rec *pushRecord) error {
	var labels bytes.Buffer
	for i, l := range inst.labels {
		if i > 0 {
			labels.WriteByte(',')
		}
		labels.WriteString(url.QueryEscape(l.Key))
		labels.WriteByte('=')
		labels.WriteString(url.QueryEscape(l.Value))
	}
	q := url.Values{}
	q.Set("service", service)
	q.Set("labels", labels.String())
	q.Set("type", ptype)
	surl := r.base + "/api/0/profiles?" + q.Encode()
	for attempt := 1; ; attempt++ {
		req, err := http.NewRequest(http.MethodPost, surl, bytes.NewBuffer(body))
		if err != nil {
			return err
		}
		a := *rec
		err = r.send(http.DefaultClient, req, body, &a, 0)
		if err == nil && a.Status < 400 {
			return nil
		}
		if err == nil && a.Status < 500 {
			return fmt.Errorf("push %d (%s %s): bad client request: collector responded with %d", a.Seq, ptype,
				req.URL.RawQuery, a.Status)
		}
		if attempt == 10 {
			return fmt.Errorf("push %d (%s): gave up after %d attempts (last status %d, %v)", a.Seq, ptype,
				attempt, a.Status, err)
		}
		d := time.Duration(attempt) * r.backoff
		if d > 24*r.backoff {
			d = 24 * r.backoff
		}
		time.Sleep(d)
	}
}

func (r *run) profefe() error {
	svc := r.service
	if svc == "" {
		svc = "Checkout_API"
	}
	app := appName(svc)
	restart := 0
	if r.ticks >= 3 {
		restart = r.ticks/2 + 1
	}
	insts := []*agentInstance{
		{labels: []kv{{"region", "eu"}, {"host", "web-1"}}, sorted: []kv{{"host", "web-1"}, {"region", "eu"}},
			instance: "host=web-1,region=eu", offset: 0},
		// Caddy's profefe module sends labels= empty: one anonymous instance.
		{labels: nil, sorted: []kv{}, instance: "", restart: restart, offset: 2},
	}
	cycle := 70 * time.Second
	start := time.Now().Add(-time.Duration(r.ticks+1) * cycle).Truncate(time.Second)
	type kindSeq struct {
		kind, ptype string
		lives       []lifeSeq // per instance
	}
	var kinds []kindSeq
	for _, k := range []struct {
		kind string
		list []*profile.Profile
	}{{"heap", r.src.heap}, {"block", r.src.block}, {"mutex", r.src.mutex}} {
		ks := kindSeq{kind: k.kind, ptype: k.kind}
		for _, in := range insts {
			list, off := k.list, in.offset
			ks.lives = append(ks.lives, cumulativeLives(r.ticks, in.restart, func(o, n int) []*profile.Profile {
				return cumulativeSeq(list, off+o, n)
			}))
		}
		kinds = append(kinds, ks)
	}
	// goroutine: a snapshot that changes; threadcreate: a growing count.
	gor := kindSeq{kind: "goroutine", ptype: "goroutine"}
	thr := kindSeq{kind: "threadcreate", ptype: "threadcreate"}
	for i, in := range insts {
		g := lifeSeq{reset: make([]bool, r.ticks)}
		for k := 0; k < r.ticks; k++ {
			g.snaps = append(g.snaps, times(r.src.goroutine, k+1+i))
		}
		gor.lives = append(gor.lives, g)
		thr.lives = append(thr.lives, cumulativeLives(r.ticks, in.restart, func(o, n int) []*profile.Profile {
			var s []*profile.Profile
			for j := 0; j < n; j++ {
				s = append(s, times(r.src.threadcreate, j+1+i))
			}
			return s
		}))
	}
	kinds = append(kinds, gor, thr)

	for k := 0; k < r.ticks; k++ {
		t0 := start.Add(time.Duration(k) * cycle)
		for i, in := range insts {
			t0 := t0.Add(time.Duration(i) * 3 * time.Second) // the instances are not in step
			rec := func(kind string, mode string, reset bool) *pushRecord {
				return &pushRecord{Protocol: "profefe", Kind: kind, App: app, Name: svc, Labels: in.sorted,
					Instance: in.instance, Mode: mode, Reset: reset}
			}
			cpu := stamped(r.src.cpu[(2*k+i)%len(r.src.cpu)], t0, 10*time.Second)
			if err := r.profefeAgentSend(svc, in, "cpu", encode(cpu), rec("cpu", "delta", false)); err != nil {
				return err
			}
			if err := r.expect(app, "cpu", "delta", counters(cpu)); err != nil {
				return err
			}
			at := t0.Add(10 * time.Second)
			for j, ks := range kinds {
				at = at.Add(time.Duration(1+(j*3+k)%9) * time.Second) // the agent's 1-9 s of jitter
				life := ks.lives[i]
				snap := stamped(life.snaps[k], at, 0)
				rc := rec(ks.kind, "cumulative", life.reset[k])
				if ks.kind != "goroutine" {
					rel, err := r.expectFile(app, ks.kind, "delta", life.contribution(k))
					if err != nil {
						return err
					}
					rc.Contribution = rel
				}
				if err := r.profefeAgentSend(svc, in, ks.ptype, encode(snap), rc); err != nil {
					return err
				}
			}
		}
	}
	// Gauges: the last snapshot of each instance.
	for _, ks := range kinds {
		if ks.kind != "heap" && ks.kind != "goroutine" {
			continue
		}
		for i := range insts {
			if err := r.expect(app, ks.kind, "gauge", gauges(ks.lives[i].snaps[r.ticks-1])); err != nil {
				return err
			}
		}
	}
	return nil
}

// kprofefeSend is SavePprof.
func (r *run) kprofefeSend(client *http.Client, service, instanceID, ptype, labels string, p *profile.Profile,
	rec *pushRecord) error {
	buf := bytes.NewBuffer([]byte{})
	p.Write(buf)
	body := append([]byte(nil), buf.Bytes()...)
	req, err := http.NewRequest("POST", r.base+"/api/0/profiles", buf)
	if err != nil {
		return err
	}
	q := req.URL.Query()
	q.Add("service", service)
	q.Add("instance_id", instanceID)
	q.Add("type", ptype)
	if labels != "" {
		q.Add("labels", labels)
	}
	req.URL.RawQuery = q.Encode()
	req.Header.Add("UserAgent", "kubectl-profefe")
	req.Header.Add("Content-Type", "application/octet-stream")
	resp, err := r.sendKeep(client, req, body, rec)
	if err != nil {
		return err
	}
	var rr struct {
		Code  int    `json:"code"`
		Error string `json:"error"`
		Body  struct {
			ID string `json:"id"`
		} `json:"body"`
	}
	if err := json.Unmarshal(resp, &rr); err != nil {
		return fmt.Errorf("push %d: reply is not profefe's JSON envelope: %v: %q", rec.Seq, err, resp)
	}
	if rec.Status != 200 || rr.Body.ID == "" {
		return fmt.Errorf("push %d: status %d, body.id %q, error %q", rec.Seq, rec.Status, rr.Body.ID, rr.Error)
	}
	return nil
}

func (r *run) kprofefe() error {
	pod := "checkout-7d9f8b6c5-x2kqp"
	svc := r.service
	if svc == "" {
		svc = pod
	}
	app := appName(svc)
	hostIP := "10.0.0.7"
	labels := ",namespace=shop,from=kube-profefe"
	sorted := []kv{{"from", "kube-profefe"}, {"namespace", "shop"}}
	client := &http.Client{}
	cycle := 60 * time.Second
	start := time.Now().Add(-time.Duration(r.ticks+1) * cycle).Truncate(time.Second)
	seqs := map[string][]*profile.Profile{
		"heap":  cumulativeSeq(r.src.heap, 1, r.ticks),
		"block": cumulativeSeq(r.src.block, 0, r.ticks),
		"mutex": cumulativeSeq(r.src.mutex, 0, r.ticks),
	}
	var lastHeap, lastGor *profile.Profile
	for k := 0; k < r.ticks; k++ {
		t0 := start.Add(time.Duration(k) * cycle)
		rec := func(kind, mode string) *pushRecord {
			return &pushRecord{Protocol: "profefe", Kind: kind, App: app, Name: svc, Labels: sorted, Instance: hostIP,
				Mode: mode, Reset: k == 0 && kind != "cpu"}
		}
		cpu := stamped(r.src.cpu[(k+5)%len(r.src.cpu)], t0, 30*time.Second)
		if err := r.kprofefeSend(client, svc, hostIP, "cpu", labels, cpu, rec("cpu", "delta")); err != nil {
			return err
		}
		if err := r.expect(app, "cpu", "delta", counters(cpu)); err != nil {
			return err
		}
		for _, kind := range []string{"heap", "block", "mutex"} {
			seq := seqs[kind]
			snap := stamped(seq[k], t0.Add(30*time.Second), 0)
			c := counters(seq[k])
			if k > 0 {
				c = minus(seq[k], seq[k-1])
			}
			rc := rec(kind, "cumulative")
			rel, err := r.expectFile(app, kind, "delta", c)
			if err != nil {
				return err
			}
			rc.Contribution = rel
			if err := r.kprofefeSend(client, svc, hostIP, kind, labels, snap, rc); err != nil {
				return err
			}
			if kind == "heap" {
				lastHeap = seq[k]
			}
		}
		gor := stamped(times(r.src.goroutine, k+2), t0.Add(31*time.Second), 0)
		if err := r.kprofefeSend(client, svc, hostIP, "goroutine", labels, gor, rec("goroutine", "cumulative")); err != nil {
			return err
		}
		lastGor = gor
	}
	if err := r.expect(app, "heap", "gauge", gauges(lastHeap)); err != nil {
		return err
	}
	return r.expect(app, "goroutine", "gauge", gauges(lastGor))
}
