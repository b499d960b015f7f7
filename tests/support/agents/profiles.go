package main

// profiles.go — the profiles the agents send: real Go profiles read from the
// test suite's generated set, goroutine and threadcreate profiles of this
// very process, and cumulative sequences built from them by merging and
// scaling (so that what each push adds is known exactly), plus the column
// arithmetic the expected bases are computed with (Go's Merge and ScaleN).

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// sources holds real profiles by kind, each non-empty.
type sources struct {
	cpu, heap, block, mutex []*profile.Profile
	goroutine, threadcreate *profile.Profile
}

func readProfile(path string) (*profile.Profile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return p, nil
}

func readDir(dir string, patterns ...string) ([]*profile.Profile, error) {
	var names []string
	for _, pat := range patterns {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		names = append(names, m...)
	}
	sort.Strings(names)
	var out []*profile.Profile
	for _, n := range names {
		p, err := readProfile(n)
		if err != nil {
			return nil, err
		}
		if len(p.Sample) > 0 {
			out = append(out, p)
		}
	}
	return out, nil
}

func loadSources(dir string) (*sources, error) {
	s := &sources{}
	var err error
	if s.cpu, err = readDir(dir, "cpu/*.pb.gz", "extra/*.pb.gz"); err != nil {
		return nil, err
	}
	if s.heap, err = readDir(dir, "heap/*.pb.gz"); err != nil {
		return nil, err
	}
	if s.block, err = readDir(dir, "block/*.pb.gz"); err != nil {
		return nil, err
	}
	if s.mutex, err = readDir(dir, "mutex/*.pb.gz"); err != nil {
		return nil, err
	}
	if len(s.cpu) == 0 || len(s.heap) == 0 || len(s.block) == 0 || len(s.mutex) == 0 {
		return nil, fmt.Errorf("%s: want non-empty cpu, heap, block and mutex profiles (tests/diff/gen-profiles.sh)", dir)
	}
	if s.goroutine, s.threadcreate, err = runtimeProfiles(); err != nil {
		return nil, err
	}
	return s, nil
}

var parked sync.Once

// parkA and parkB leave goroutines waiting in named functions, so that the
// goroutine profile of this process has stacks worth comparing.
func parkA(c chan struct{}) { <-c }
func parkB(c chan struct{}) { parkA(c) }

// runtimeProfiles returns this process's goroutine and threadcreate
// profiles, as runtime/pprof writes them (the agents' own source).
func runtimeProfiles() (*profile.Profile, *profile.Profile, error) {
	parked.Do(func() {
		c := make(chan struct{})
		for i := 0; i < 3; i++ {
			go parkA(c)
			go parkB(c)
		}
		// A few more OS threads, so that threadcreate has something to count.
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
				time.Sleep(5 * time.Millisecond)
			}()
		}
		wg.Wait()
		time.Sleep(10 * time.Millisecond)
	})
	var out [2]*profile.Profile
	for i, name := range []string{"goroutine", "threadcreate"} {
		var buf bytes.Buffer
		if err := pprof.Lookup(name).WriteTo(&buf, 0); err != nil {
			return nil, nil, err
		}
		p, err := profile.Parse(&buf)
		if err != nil {
			return nil, nil, fmt.Errorf("%s profile: %v", name, err)
		}
		if len(p.Sample) == 0 {
			return nil, nil, fmt.Errorf("%s profile of this process has no samples", name)
		}
		out[i] = p
	}
	return out[0], out[1], nil
}

func genProfiles(dir string) error {
	g, t, err := runtimeProfiles()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeProfile(filepath.Join(dir, "goroutine.pb.gz"), g); err != nil {
		return err
	}
	return writeProfile(filepath.Join(dir, "threadcreate.pb.gz"), t)
}

// ---- column arithmetic ----

// isGauge says which sample types are gauges (the latest snapshot counts,
// never a sum over time): heap in-use and goroutine counts.
func isGauge(sampleType string) bool {
	return sampleType == "inuse_objects" || sampleType == "inuse_space" || sampleType == "goroutine"
}

// scaled returns a copy of p with each column multiplied by its integer
// factor, dropping the samples left all zero. (Not Go's ScaleN: in this
// pprof version ScaleN judges a sample zero by its scaled columns only, so
// keeping the alloc columns while zeroing the in-use ones would drop every
// sample.)
func scaled(p *profile.Profile, f func(sampleType string) int64) *profile.Profile {
	c := p.Copy()
	r := make([]int64, len(c.SampleType))
	for i, st := range c.SampleType {
		r[i] = f(st.Type)
	}
	keep := c.Sample[:0]
	for _, s := range c.Sample {
		nonzero := false
		for i := range s.Value {
			s.Value[i] *= r[i]
			nonzero = nonzero || s.Value[i] != 0
		}
		if nonzero {
			keep = append(keep, s)
		}
	}
	c.Sample = keep
	return c
}

// counters keeps the counter columns of p (gauges zero).
func counters(p *profile.Profile) *profile.Profile {
	return scaled(p, func(t string) int64 {
		if isGauge(t) {
			return 0
		}
		return 1
	})
}

// gauges keeps the gauge columns of p (counters zero).
func gauges(p *profile.Profile) *profile.Profile {
	return scaled(p, func(t string) int64 {
		if isGauge(t) {
			return 1
		}
		return 0
	})
}

// times multiplies every column by k.
func times(p *profile.Profile, k int) *profile.Profile {
	return scaled(p, func(string) int64 { return int64(k) })
}

func merge(ps ...*profile.Profile) *profile.Profile {
	var cs []*profile.Profile
	for _, p := range ps {
		cs = append(cs, p.Copy())
	}
	m, err := profile.Merge(cs)
	if err != nil {
		panic(err)
	}
	return m
}

// minus is cur - prev on the counter columns (gauge columns zero), as a
// server computes a delta between two cumulative snapshots.
func minus(cur, prev *profile.Profile) *profile.Profile {
	neg := scaled(prev, func(t string) int64 {
		if isGauge(t) {
			return 0
		}
		return -1
	})
	return merge(counters(cur), neg)
}

// cumulativeSeq builds n cumulative snapshots from real profiles: snapshot
// k's counter columns are the sum of the first k+1 profiles (so each
// snapshot adds a real profile's worth), its gauge columns those of profile
// k alone (a gauge is the state at that moment).
func cumulativeSeq(list []*profile.Profile, offset, n int) []*profile.Profile {
	var out []*profile.Profile
	var acc []*profile.Profile
	for k := 0; k < n; k++ {
		src := list[(offset+k)%len(list)]
		acc = append(acc, counters(src))
		parts := append(append([]*profile.Profile{}, acc...), gauges(src))
		out = append(out, merge(parts...))
	}
	return out
}

// stamped is a copy of p with its time header set (as the agent's clock
// would have written it).
func stamped(p *profile.Profile, t time.Time, d time.Duration) *profile.Profile {
	c := p.Copy()
	c.TimeNanos = t.UnixNano()
	c.DurationNanos = int64(d)
	return c
}

func encode(p *profile.Profile) []byte {
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

func writeProfile(path string, p *profile.Profile) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, encode(p), 0o644)
}
