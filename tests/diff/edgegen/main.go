// Command edgegen writes small hand-built profiles that exercise the corners
// of pprof's Merge and Prune semantics real Go profiles rarely reach: labels
// (string, numeric, units, the empty-value quirks), comments and header
// merging (time, period, default sample type, drop/keep frames), values that
// cancel out, mapping identity (build IDs, ASLR shifts, size rounding, an
// unused first mapping), folded locations, unsymbolized locations, function
// identity, 64-bit wrapping, C++-style names for prune's simplification, and
// one large profile (several gzip members when pgopipe writes it).
// All share the CPU sample types, so any of them can be merged together.
//
//	edgegen OUTDIR
package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/google/pprof/profile"
)

type builder struct {
	p     *profile.Profile
	funcs map[string]*profile.Function
	maps  []*profile.Mapping
}

func newBuilder(nmaps int) *builder {
	b := &builder{p: &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10000000, TimeNanos: 1000, DurationNanos: 1000000000,
	}, funcs: map[string]*profile.Function{}}
	for i := 0; i < nmaps; i++ {
		m := &profile.Mapping{ID: uint64(i + 1), Start: 0x400000 + uint64(i)*0x1000000,
			Limit: 0x500000 + uint64(i)*0x1000000, File: fmt.Sprintf("/bin/app%d", i), HasFunctions: true}
		b.maps = append(b.maps, m)
		b.p.Mapping = append(b.p.Mapping, m)
	}
	return b
}

func (b *builder) fn(name, file string, start int64) *profile.Function {
	k := fmt.Sprintf("%s|%s|%d", name, file, start)
	if f := b.funcs[k]; f != nil {
		return f
	}
	f := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name, Filename: file, StartLine: start}
	b.funcs[k] = f
	b.p.Function = append(b.p.Function, f)
	return f
}

// loc adds a location; names are its lines innermost first (each "name" or
// "name@file"). m < 0: no mapping.
func (b *builder) loc(m int, addr uint64, folded bool, names ...string) *profile.Location {
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: addr, IsFolded: folded}
	if m >= 0 {
		l.Mapping = b.maps[m]
	}
	for i, n := range names {
		file := "main.go"
		for j := 0; j < len(n); j++ {
			if n[j] == '@' {
				n, file = n[:j], n[j+1:]
				break
			}
		}
		l.Line = append(l.Line, profile.Line{Function: b.fn(n, file, 1), Line: int64(10 + i)})
	}
	b.p.Location = append(b.p.Location, l)
	return l
}

func (b *builder) sample(v0, v1 int64, locs ...*profile.Location) *profile.Sample {
	s := &profile.Sample{Value: []int64{v0, v1}, Location: locs}
	b.p.Sample = append(b.p.Sample, s)
	return s
}

// stack: a typical leaf <- main.work <- main.main <- runtime.main stack in mapping 0.
func (b *builder) stack(leaf string, addr uint64) []*profile.Location {
	return []*profile.Location{
		b.loc(0, addr, false, leaf),
		b.loc(0, 0x401100, false, "main.work"),
		b.loc(0, 0x401200, false, "main.main"),
		b.loc(0, 0x401300, false, "runtime.main@proc.go"),
	}
}

func write(dir, name string, p *profile.Profile) {
	if err := p.CheckValid(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err == nil {
		err = p.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: edgegen OUTDIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}

	// Labels: six distinct string-label sets, numeric labels with and without units.
	b := newBuilder(1)
	st := b.stack("main.leaf", 0x401000)
	b.sample(1, 10, st...).Label = map[string][]string{"k": {"x"}}
	b.sample(1, 10, st...).Label = map[string][]string{"k": {"y"}}
	b.sample(1, 10, st...).Label = map[string][]string{"k": {"x", "y"}}
	b.sample(1, 10, st...).Label = map[string][]string{"k": {"y", "x"}}
	b.sample(1, 10, st...)
	b.sample(1, 10, st...).Label = map[string][]string{"k": {""}}
	b.sample(1, 10, st...).Label = map[string][]string{"k": {"x"}, "a": {"b"}}
	b.sample(1, 10, st...).Label = map[string][]string{"a": {"b"}, "k": {"x"}}
	s := b.sample(1, 10, st...)
	s.NumLabel, s.NumUnit = map[string][]int64{"n": {5}}, map[string][]string{"n": {"bytes"}}
	s = b.sample(1, 10, st...)
	s.NumLabel = map[string][]int64{"n": {5}}
	s = b.sample(1, 10, st...)
	s.NumLabel = map[string][]int64{"n": {0}}
	s = b.sample(1, 10, st...)
	s.NumLabel, s.NumUnit = map[string][]int64{"n": {0}}, map[string][]string{"n": {"bytes"}}
	s = b.sample(1, 10, st...)
	s.NumLabel = map[string][]int64{"n": {1, 2}}
	s = b.sample(1, 10, st...)
	s.NumLabel, s.NumUnit = map[string][]int64{"n": {1, 2}}, map[string][]string{"n": {"", "bytes"}}
	s = b.sample(1, 10, st...)
	s.Label = map[string][]string{"k": {"x"}}
	s.NumLabel = map[string][]int64{"n": {5}}
	write(dir, "labels.pb.gz", b.p)

	// Headers: comments (with duplicates), time/period/default type, drop/keep frames.
	for i, h := range []struct {
		name            string
		time, period    int64
		comments        []string
		def, drop, keep string
	}{
		{"hdr-a.pb.gz", 500, 100, []string{"alpha", "beta", "alpha"}, "cpu", "dropx", "keepy"},
		{"hdr-b.pb.gz", 300, 200, []string{"beta", "gamma"}, "", "", ""},
		{"hdr-zero-time.pb.gz", 0, 50, nil, "samples", "other", ""},
		{"hdr-neg-period.pb.gz", 700, -5, []string{"delta"}, "", "", "k2"},
	} {
		b := newBuilder(1)
		b.sample(int64(i+1), 7, b.stack("main.hdr", 0x401000)...)
		b.p.TimeNanos, b.p.Period, b.p.Comments = h.time, h.period, h.comments
		b.p.DefaultSampleType, b.p.DropFrames, b.p.KeepFrames = h.def, h.drop, h.keep
		b.p.DurationNanos = int64(1000 * (i + 1))
		write(dir, h.name, b.p)
	}

	// Values that cancel across inputs (+5 / -5) and zero samples.
	b = newBuilder(1)
	b.sample(5, 50, b.stack("main.cancel", 0x401000)...)
	b.sample(2, 20, b.stack("main.stay", 0x401010)...)
	b.sample(0, 0, b.stack("main.zero", 0x401020)...)
	write(dir, "cancel-plus.pb.gz", b.p)
	b = newBuilder(1)
	b.sample(-5, -50, b.stack("main.cancel", 0x401000)...)
	b.sample(-1, 3, b.stack("main.neg", 0x401030)...)
	write(dir, "cancel-minus.pb.gz", b.p)

	// A sample with an empty stack (Go CPU profiles at high rates have them):
	// Merge keeps it; `go tool pprof`'s driver drops it (KNOWN_DIFFS.md).
	b = newBuilder(1)
	b.sample(1, 500000)
	b.sample(2, 20, b.stack("main.stay", 0x401010)...)
	b.sample(3, 30)
	write(dir, "empty-stack.pb.gz", b.p)

	// 64-bit wrapping.
	b = newBuilder(1)
	b.sample(math.MaxInt64, math.MinInt64, b.stack("main.big", 0x401000)...)
	write(dir, "wrap-a.pb.gz", b.p)
	b = newBuilder(1)
	b.sample(1, -1, b.stack("main.big", 0x401000)...)
	write(dir, "wrap-b.pb.gz", b.p)

	// Mappings: build IDs win over file names, start address ignored (ASLR),
	// size rounded up to 4 KiB, first mapping unused.
	b = newBuilder(3)
	b.maps[0].BuildID, b.maps[0].File = "", "/bin/unused-first"
	b.maps[1].BuildID, b.maps[1].File = "bid-1", "/bin/app"
	b.maps[1].Start, b.maps[1].Limit = 0x1400000, 0x1400000+0x3ff001
	b.maps[2].File = "/lib/libc.so.6"
	b.sample(3, 30, b.loc(1, 0x1400100, false, "main.m1"), b.loc(2, 0x2400100, false, "libc.f"), b.loc(1, 0x1400200, false, "main.main"))
	b.sample(1, 10, b.loc(-1, 0x9999, false, "main.nomap"), b.loc(1, 0x1400200, false, "main.main"))
	write(dir, "map-a.pb.gz", b.p)
	b = newBuilder(3)
	b.maps[0].BuildID, b.maps[0].File = "bid-1", "/other/name"
	b.maps[0].Start, b.maps[0].Limit, b.maps[0].HasInlineFrames = 0x7f0000, 0x7f0000+0x400000, true
	b.maps[1].File = "/lib/libc.so.6"
	b.maps[1].Start, b.maps[1].Limit = 0x2400000, 0x2500000
	b.maps[2].File = "/bin/app2"
	b.sample(2, 20, b.loc(0, 0x7f0100, false, "main.m1"), b.loc(1, 0x2400100, false, "libc.f"), b.loc(0, 0x7f0200, false, "main.main"))
	b.sample(1, 10, b.loc(2, 0x500000, false), b.loc(2, 0x500010, false)) // unsymbolized
	write(dir, "map-b.pb.gz", b.p)

	// Location identity: folded vs not, same function at two addresses, two
	// functions with one name (different file / start line), inlining.
	b = newBuilder(1)
	b.sample(1, 1, b.loc(0, 0x401000, true, "main.f"), b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401000, false, "main.f"), b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401004, false, "main.f"), b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401008, false, "main.f@other.go"), b.loc(0, 0x401200, false, "main.main"))
	f2 := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: "main.f", SystemName: "main.f", Filename: "main.go", StartLine: 99}
	b.p.Function = append(b.p.Function, f2)
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Mapping: b.maps[0], Address: 0x40100c, Line: []profile.Line{{Function: f2, Line: 10}}}
	b.p.Location = append(b.p.Location, l)
	b.sample(1, 1, l, b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401010, false, "runtime.memmove", "main.inl", "runtime.inlcaller"), b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401010, false, "runtime.memmove", "main.inl", "runtime.inlcaller"), b.loc(0, 0x401200, false, "main.main"))
	b.sample(1, 1, b.loc(0, 0x401020, false, "main.inl", "runtime.memmove"), b.loc(0, 0x401200, false, "main.main"))
	write(dir, "locations.pb.gz", b.p)

	// Names for prune's simplification (C++ and PPC64 forms) and the root rules.
	b = newBuilder(1)
	root := b.loc(0, 0x401300, false, "runtime.main")
	mainm := b.loc(0, 0x401200, false, "main.main")
	for i, n := range []string{".ppc.func", "foo::bar(int, char)", "(anonymous namespace)::f(int)",
		"ns::(anonymous namespace)::g()", "Foo::operator()(int)", "std::function<void (int)>::operator()",
		"x(", "(*T).M", "main.(*T).Method", "pkg.F[go.shape.int_0]", "type..eq.[2]interface {}", ""} {
		leaf := b.loc(0, 0x402000+uint64(i)*16, false, n)
		b.sample(1, int64(i+1), b.loc(0, 0x403000+uint64(i)*16, false, "runtime.mallocgc"), leaf, mainm, root)
		b.sample(1, int64(i+1), leaf, b.loc(0, 0x404000+uint64(i)*16, false, "runtime.mcall"), root)
	}
	write(dir, "names.pb.gz", b.p)

	// Large: about 2 MiB raw, so that pgopipe writes it back as several
	// gzip members (one per MiB) and Go reads them as one stream.
	b = newBuilder(1)
	var locs []*profile.Location
	for i := 0; i < 20000; i++ {
		locs = append(locs, b.loc(0, 0x401000+uint64(i)*16, false, fmt.Sprintf("main.f%03d", i%500)))
	}
	x := uint64(88172645463325252)
	for i := 0; i < 10000; i++ {
		stack := make([]*profile.Location, 60)
		for j := range stack {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			stack[j] = locs[x%uint64(len(locs))]
		}
		b.sample(1, int64(i+1), stack...)
	}
	write(dir, "large.pb.gz", b.p)
}
