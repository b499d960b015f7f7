// Command pgogen makes the profiles pgopipe's PGO tests and benchmark need
// and real Go 1.19 profiles lack:
//
//	pgogen startlines [-missing] IN OUT   IN with Function.start_line set (Go 1.19
//	                                      writes none); -missing leaves about one
//	                                      function in five without
//	pgogen label [-n N] IN OUT            IN with per-request labels: each sample
//	                                      split into up to N samples (default 8),
//	                                      each with its own request_id, plus an
//	                                      endpoint and a numeric request size
//	pgogen edge OUTDIR                    hand-built corner cases (see below)
//
// Everything is deterministic (fixed seeds), so outputs are reproducible.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"hash/fnv"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "pgogen: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) *profile.Profile {
	f, err := os.Open(path)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		fail("%s: %v", path, err)
	}
	return p
}

func write(path string, p *profile.Profile) {
	if err := p.CheckValid(); err != nil {
		fail("%s: %v", path, err)
	}
	f, err := os.Create(path)
	if err == nil {
		err = p.Write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fail("%v", err)
	}
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// startLines sets each function's start line: the line of its declaration
// in its source file when the file is readable and declares it (Go's
// sources are installed, and profiles of the standard library name them),
// else a little above the first line any location shows for it. A start
// line read from the source is the same in every profile, so profiles made
// apart compare like real ones. With missing, about one function in five
// keeps none.
func startLines(p *profile.Profile, missing bool) {
	minLine := map[*profile.Function]int64{}
	for _, l := range p.Location {
		for _, ln := range l.Line {
			if m, ok := minLine[ln.Function]; !ok || ln.Line < m {
				minLine[ln.Function] = ln.Line
			}
		}
	}
	decls := map[string]map[string]int64{}
	for _, f := range p.Function {
		h := hash(f.Name)
		if missing && h%5 == 0 {
			f.StartLine = 0
			continue
		}
		if s := declLine(decls, f.Filename, f.Name); s > 0 {
			f.StartLine = s
			continue
		}
		s := minLine[f] - int64(h%4)
		if s < 1 {
			s = 1
		}
		f.StartLine = s
	}
}

// declLine finds the line of the declaration of Go function name (as the
// runtime names it: path/pkg.F, pkg.(*T).M, pkg.T.M, pkg.F.func1, pkg.G[...])
// in file; 0 when not found. Closures get their enclosing function's line.
func declLine(cache map[string]map[string]int64, file, name string) int64 {
	m, ok := cache[file]
	if !ok {
		m = map[string]int64{}
		fset := token.NewFileSet()
		if f, err := parser.ParseFile(fset, file, nil, 0); err == nil {
			for _, d := range f.Decls {
				fd, ok := d.(*ast.FuncDecl)
				if !ok {
					continue
				}
				local := fd.Name.Name
				if fd.Recv != nil && len(fd.Recv.List) == 1 {
					t := fd.Recv.List[0].Type
					star := false
					if st, ok := t.(*ast.StarExpr); ok {
						star, t = true, st.X
					}
					switch x := t.(type) {
					case *ast.IndexExpr:
						t = x.X
					case *ast.IndexListExpr:
						t = x.X
					}
					id, ok := t.(*ast.Ident)
					if !ok {
						continue
					}
					if star {
						local = "(*" + id.Name + ")." + local
					} else {
						local = id.Name + "." + local
					}
				}
				m[local] = int64(fset.Position(fd.Pos()).Line)
			}
		}
		cache[file] = m
	}
	local := name
	if i := strings.LastIndex(local, "/"); i >= 0 {
		local = local[i+1:]
	}
	if i := strings.Index(local, "."); i >= 0 {
		local = local[i+1:]
	}
	if i := strings.Index(local, "["); i >= 0 {
		if j := strings.Index(local[i:], "]"); j >= 0 {
			local = local[:i] + local[i+j+1:]
		}
	}
	for {
		if s, ok := m[local]; ok {
			return s
		}
		i := strings.LastIndex(local, ".func")
		if i < 0 {
			return 0
		}
		local = local[:i]
	}
}

var endpoints = []string{"/api/search", "/api/items", "/api/items/{id}", "/api/cart", "/api/checkout",
	"/api/login", "/healthz", "/api/recommend", "/api/profile", "/api/orders"}

// label splits every sample into up to n samples carrying per-request labels,
// as profiles of services that label each request (pprof.Do) look. Values
// are split so that every sample type keeps its total.
func label(p *profile.Profile, n int) {
	r := rand.New(rand.NewSource(1))
	var out []*profile.Sample
	for _, s := range p.Sample {
		k := n
		if c := s.Value[0]; c > 0 && c < int64(k) {
			k = int(c)
		}
		if k < 1 {
			k = 1
		}
		for i := 0; i < k; i++ {
			v := make([]int64, len(s.Value))
			for j, x := range s.Value {
				v[j] = x / int64(k)
				if i == 0 {
					v[j] += x % int64(k)
				}
			}
			ns := &profile.Sample{Location: s.Location, Value: v, Label: map[string][]string{}, NumLabel: map[string][]int64{}}
			for key, vals := range s.Label {
				ns.Label[key] = vals
			}
			ns.Label["request_id"] = []string{fmt.Sprintf("%016x", r.Uint64())}
			ns.Label["endpoint"] = []string{endpoints[r.Intn(len(endpoints))]}
			ns.NumLabel["request_bytes"] = []int64{int64(r.Intn(1 << 20))}
			ns.NumUnit = map[string][]string{"request_bytes": {"bytes"}}
			out = append(out, ns)
		}
	}
	p.Sample = out
}

// ---- hand-built corner cases ----

type builder struct {
	p     *profile.Profile
	funcs map[string]*profile.Function
	maps  []*profile.Mapping
}

func newBuilder(types ...string) *builder {
	if len(types) == 0 {
		types = []string{"samples/count", "cpu/nanoseconds"}
	}
	b := &builder{p: &profile.Profile{
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:     10000000, TimeNanos: 1700000000000000000, DurationNanos: 10000000000,
	}, funcs: map[string]*profile.Function{}}
	for _, t := range types {
		for i := 0; i < len(t); i++ {
			if t[i] == '/' {
				b.p.SampleType = append(b.p.SampleType, &profile.ValueType{Type: t[:i], Unit: t[i+1:]})
			}
		}
	}
	for i := 0; i < 2; i++ {
		m := &profile.Mapping{ID: uint64(i + 1), Start: 0x400000 + uint64(i)*0x10000000,
			Limit: 0x800000 + uint64(i)*0x10000000, File: fmt.Sprintf("/srv/app-v%d", i+1), HasFunctions: true,
			HasFilenames: true, HasLineNumbers: true, HasInlineFrames: true}
		b.maps = append(b.maps, m)
		b.p.Mapping = append(b.p.Mapping, m)
	}
	return b
}

// fn returns the function name@start (start 0 = none) in file.
func (b *builder) fn(name string, start int64, file string) *profile.Function {
	k := fmt.Sprintf("%s|%d|%s", name, start, file)
	if f := b.funcs[k]; f != nil {
		return f
	}
	f := &profile.Function{ID: uint64(len(b.p.Function) + 1), Name: name, SystemName: name, Filename: file, StartLine: start}
	b.funcs[k] = f
	b.p.Function = append(b.p.Function, f)
	return f
}

// fr is one frame of a location: function name, start line, line.
type fr struct {
	name        string
	start, line int64
}

// loc adds a location at addr in mapping m (-1: none); frames innermost first.
func (b *builder) loc(m int, addr uint64, frames ...fr) *profile.Location {
	l := &profile.Location{ID: uint64(len(b.p.Location) + 1), Address: addr}
	if m >= 0 {
		l.Mapping = b.maps[m]
	}
	for _, f := range frames {
		l.Line = append(l.Line, profile.Line{Function: b.fn(f.name, f.start, "/src/"+f.name+".go"), Line: f.line})
	}
	b.p.Location = append(b.p.Location, l)
	return l
}

func (b *builder) sample(v []int64, locs ...*profile.Location) *profile.Sample {
	if len(v) == 1 && len(b.p.SampleType) > 1 {
		v = []int64{v[0], v[0] * b.p.Period}
	}
	s := &profile.Sample{Value: v, Location: locs}
	b.p.Sample = append(b.p.Sample, s)
	return s
}

func w(x int64) []int64 { return []int64{x} }

func edgeCases(dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		fail("%v", err)
	}
	put := func(name string, b *builder) { write(filepath.Join(dir, name+".pb.gz"), b.p) }

	// Inlined frames: leaves and callers with inline chains of 2-3 functions.
	b := newBuilder()
	root := b.loc(0, 0x401000, fr{"runtime.main", 240, 250})
	mainL := b.loc(0, 0x402000, fr{"main.main", 10, 14})
	inl := b.loc(0, 0x403000, fr{"strings.IndexByte", 100, 102}, fr{"main.parse", 30, 35}, fr{"main.handle", 50, 60})
	inlLeaf := b.loc(0, 0x404000, fr{"bytes.Equal", 20, 21}, fr{"main.cmp", 70, 72})
	inlLeaf2 := b.loc(0, 0x404010, fr{"bytes.Equal", 20, 22}, fr{"main.cmp", 70, 72})
	plain := b.loc(0, 0x405000, fr{"main.work", 80, 88})
	b.sample(w(5), inlLeaf, inl, mainL, root)
	b.sample(w(3), inlLeaf2, inl, mainL, root)
	b.sample(w(7), inl, mainL, root)
	b.sample(w(2), plain, inl, mainL, root)
	b.sample(w(1), inlLeaf, plain, inl, mainL, root)
	b.sample(w(4), inl)
	put("inline", b)

	// Recursion: self edges through distinct PCs on one line (locations equal
	// but for the address), mutual recursion, the same location twice in a row.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	fa := b.loc(0, 0x410000, fr{"main.fib", 20, 25})
	fb := b.loc(0, 0x410010, fr{"main.fib", 20, 25})
	fc := b.loc(0, 0x410020, fr{"main.fib", 20, 26})
	leaf := b.loc(0, 0x410030, fr{"main.fib", 20, 22})
	ea := b.loc(0, 0x420000, fr{"main.even", 40, 42})
	oa := b.loc(0, 0x421000, fr{"main.odd", 50, 52})
	inlRec := b.loc(0, 0x430000, fr{"main.fib", 20, 23}, fr{"main.walk", 60, 61}, fr{"main.fib", 20, 25})
	b.sample(w(10), leaf, fa, fb, fa, fb, root)
	b.sample(w(6), leaf, fb, fa, root)
	b.sample(w(4), fa, fb, root)
	b.sample(w(3), fb, fb, root)
	b.sample(w(2), fc, fa, fa, root)
	b.sample(w(5), ea, oa, ea, oa, root)
	b.sample(w(2), oa, ea, root)
	b.sample(w(3), inlRec, fa, root)
	b.sample(w(1), leaf, inlRec, root)
	b.sample(w(2), leaf, leaf, root)
	put("recursion", b)

	// No start lines at all (Go <= 1.19): the compiler refuses it.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 0, 12})
	a := b.loc(0, 0x402000, fr{"main.a", 0, 30})
	c := b.loc(0, 0x403000, fr{"main.c", 0, 40}, fr{"main.b", 0, 35})
	b.sample(w(3), c, a, root)
	b.sample(w(2), a, root)
	put("nostart", b)

	// Some functions with start lines, some without.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 0, 30})
	c = b.loc(0, 0x403000, fr{"main.c", 38, 40}, fr{"main.b", 0, 35})
	b.sample(w(3), c, a, root)
	b.sample(w(2), a, root)
	b.sample(w(2), c, root)
	put("somestart", b)

	// Labels: the same stacks under many label sets, string and numeric.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.serve", 20, 25})
	leaf = b.loc(0, 0x403000, fr{"main.query", 30, 33})
	for i := 0; i < 40; i++ {
		s := b.sample(w(int64(1+i%3)), leaf, a, root)
		s.Label = map[string][]string{"request_id": {strconv.Itoa(i)}, "endpoint": {endpoints[i%4]}}
		s.NumLabel = map[string][]int64{"bytes": {int64(i * 100)}}
		s.NumUnit = map[string][]string{"bytes": {"bytes"}}
	}
	b.sample(w(2), a, root).Label = map[string][]string{"k": {"v"}}
	put("labels", b)

	// Zero weights: samples zero in the compiler's type (samples/count) but
	// not in cpu/nanoseconds, and the other way round; an empty stack.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	c = b.loc(0, 0x403000, fr{"main.c", 30, 31})
	d := b.loc(0, 0x404000, fr{"main.d", 40, 44})
	b.sample([]int64{0, 5000}, c, a, root)
	b.sample([]int64{3, 0}, d, a, root)
	b.sample([]int64{0, 0}, d, c, root)
	b.sample([]int64{2, 20000000}, a, root)
	b.sample([]int64{7, 70000000})
	put("zero", b)

	// Samples that all add nothing (zero in the compiler's type, or no
	// locations): the compiler refuses this profile (its graph has no node,
	// so no start line), unlike a profile without samples.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	b.sample([]int64{0, 5000}, a, root)
	b.sample([]int64{4, 40000000})
	put("zero-only", b)

	// Values that cancel: equal stacks +5/-5 (their edges stay, weight 0), a
	// node whose cumulative and flat values are both 0 (its edges leave the
	// graph), and a profile whose total edge weight is 0.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	c = b.loc(0, 0x403000, fr{"main.c", 30, 31})
	d = b.loc(0, 0x404000, fr{"main.d", 40, 44})
	e := b.loc(0, 0x405000, fr{"main.e", 50, 55})
	b.sample(w(5), c, a, root)
	b.sample(w(-5), c, a, root)
	b.sample(w(4), d, e)
	b.sample(w(-4), c, e)
	b.sample(w(3), d, a)
	b.sample(w(-1), a, root)
	put("cancel", b)
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	b.sample(w(2), a, root)
	b.sample(w(-2), a, root)
	put("cancel-total", b)

	// Sample type choice: cpu/nanoseconds listed first, then samples/count;
	// a profile where only cpu/nanoseconds qualifies; and one with neither.
	for _, tc := range []struct {
		name  string
		types []string
	}{
		{"types-cpu-first", []string{"cpu/nanoseconds", "samples/count"}},
		{"types-cpu-only", []string{"alloc_objects/count", "cpu/nanoseconds"}},
		{"types-none", []string{"alloc_objects/count", "alloc_space/bytes"}},
	} {
		b = newBuilder(tc.types...)
		root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
		a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
		c = b.loc(0, 0x403000, fr{"main.c", 30, 31})
		b.sample([]int64{3, 7}, c, a, root)
		b.sample([]int64{5, 1}, a, root)
		b.sample([]int64{2, 9}, c, root)
		put(tc.name, b)
	}

	// Unsymbolized locations (no lines) and a function named "" at line 0,
	// which is the same node as a location without lines at its address.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	u1 := b.loc(0, 0x7f0000)
	u2 := b.loc(1, 0x7f0000)
	u3 := b.loc(-1, 0x7f1000)
	anon := b.loc(0, 0x7f0000, fr{"", 0, 0})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	b.sample(w(3), u1, a, root)
	b.sample(w(2), u2, u3, root)
	b.sample(w(4), a, u1, root)
	b.sample(w(1), anon, u1, root)
	b.sample(w(2), u3, anon, root)
	put("unsymbolized", b)

	// Two builds merged: the same code in two mappings (same addresses), a
	// function that moved (same name, other start line) at an address the
	// other build uses for the old version, and a file rename.
	b = newBuilder()
	r1 := b.loc(0, 0x401000, fr{"main.main", 10, 12})
	r2 := b.loc(1, 0x401000, fr{"main.main", 10, 12})
	h1 := b.loc(0, 0x402000, fr{"main.handle", 20, 25})
	h2 := b.loc(1, 0x402000, fr{"main.handle", 30, 35})
	l1 := b.loc(0, 0x403000, fr{"main.leaf", 40, 41})
	l2 := b.loc(1, 0x403000, fr{"main.leaf", 40, 41})
	l3 := &profile.Location{ID: uint64(len(b.p.Location) + 1), Mapping: b.maps[1], Address: 0x403000,
		Line: []profile.Line{{Function: b.fn("main.leaf", 40, "/src/renamed.go"), Line: 41}}}
	b.p.Location = append(b.p.Location, l3)
	b.sample(w(5), l1, h1, r1)
	b.sample(w(4), l2, h2, r2)
	b.sample(w(3), l3, h2, r2)
	b.sample(w(2), h1, h2, r1)
	put("builds", b)

	// Leaf locations the trimmer must not collapse: one whose innermost
	// function is also an outer frame, one sharing a node with a caller
	// location at its address, one seen both as a leaf and as a caller.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	self := b.loc(0, 0x402000, fr{"main.f", 20, 21}, fr{"main.g", 30, 31}, fr{"main.f", 20, 24})
	self2 := b.loc(0, 0x402010, fr{"main.f", 20, 22}, fr{"main.g", 30, 31}, fr{"main.f", 20, 24})
	shareA := b.loc(0, 0x403000, fr{"main.h", 40, 41}, fr{"main.k", 50, 55})
	shareB := b.loc(1, 0x403000, fr{"main.k", 50, 55})
	both := b.loc(0, 0x404000, fr{"main.k", 50, 57})
	both2 := b.loc(0, 0x404010, fr{"main.k", 50, 58})
	b.sample(w(3), self, root)
	b.sample(w(2), self2, root)
	b.sample(w(4), shareA, shareB, root)
	b.sample(w(2), shareA, root)
	b.sample(w(3), both, both2, root)
	b.sample(w(2), both2, both, root)
	b.sample(w(1), both, root)
	put("leaf-traps", b)

	// Names: generics, closures, non-ASCII, a backslash, a tab.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	g := b.loc(0, 0x402000, fr{"pkg.Map[go.shape.int_0,go.shape.string_1]", 20, 25})
	cl := b.loc(0, 0x403000, fr{"main.main.func1.2", 12, 15})
	ua := b.loc(0, 0x404000, fr{"пакет.Функция", 30, 33})
	bs := b.loc(0, 0x405000, fr{"odd\\name\twith tab", 40, 41})
	b.sample(w(3), g, cl, root)
	b.sample(w(2), ua, g, root)
	b.sample(w(1), bs, ua, root)
	put("names", b)

	// No samples at all; samples with one location only.
	b = newBuilder()
	b.loc(0, 0x401000, fr{"main.main", 10, 12})
	put("empty", b)
	b = newBuilder()
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	inl = b.loc(0, 0x403000, fr{"main.c", 30, 31}, fr{"main.b", 25, 27})
	b.sample(w(3), a)
	b.sample(w(2), inl)
	put("single-frame", b)

	// Weights that wrap around int64.
	b = newBuilder("samples/count")
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	a = b.loc(0, 0x402000, fr{"main.a", 20, 22})
	c = b.loc(0, 0x403000, fr{"main.c", 30, 31})
	b.sample(w(math.MaxInt64), a, root)
	b.sample(w(math.MaxInt64), c, a, root)
	b.sample(w(5), c, root)
	put("wrap", b)

	// The hot-set boundary: running shares of exactly 50% and 99% do not
	// exceed the threshold, so the next edge is still hot.
	b = newBuilder()
	root = b.loc(0, 0x401000, fr{"main.main", 10, 12})
	for i, x := range []int64{50, 30, 19, 1} {
		l := b.loc(0, 0x402000+uint64(i)*16, fr{fmt.Sprintf("main.f%d", i), 20, 22})
		b.sample(w(x), l, root)
	}
	put("hot-boundary", b)

	// Random stacks over a small program: recursion, inlining, shared lines,
	// several mappings, negative values in one of them.
	for i, neg := range []bool{false, true} {
		b = newBuilder()
		r := rand.New(rand.NewSource(int64(7 + i)))
		names := []string{"main.a", "main.b", "main.c", "main.d", "main.e", "main.f"}
		var locs []*profile.Location
		for j := 0; j < 40; j++ {
			nf := 1 + r.Intn(3)
			var frames []fr
			for k := 0; k < nf; k++ {
				n := names[r.Intn(len(names))]
				frames = append(frames, fr{n, 10 * int64(1+hash(n)%9), 10*int64(1+hash(n)%9) + int64(r.Intn(4))})
			}
			locs = append(locs, b.loc(r.Intn(2), 0x400000+uint64(r.Intn(12))*16, frames...))
		}
		for j := 0; j < 300; j++ {
			depth := 1 + r.Intn(6)
			var st []*profile.Location
			for k := 0; k < depth; k++ {
				st = append(st, locs[r.Intn(len(locs))])
			}
			v := int64(1 + r.Intn(5))
			if neg && r.Intn(3) == 0 {
				v = -v
			}
			b.sample(w(v), st...)
		}
		put(fmt.Sprintf("random-%d", i+1), b)
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: pgogen startlines [-missing] IN OUT | label [-n N] IN OUT | edge OUTDIR")
	}
	args := os.Args[2:]
	switch os.Args[1] {
	case "startlines":
		missing := len(args) > 0 && args[0] == "-missing"
		if missing {
			args = args[1:]
		}
		if len(args) != 2 {
			fail("usage: pgogen startlines [-missing] IN OUT")
		}
		p := read(args[0])
		startLines(p, missing)
		write(args[1], p)
	case "label":
		n := 8
		if len(args) > 1 && args[0] == "-n" {
			v, err := strconv.Atoi(args[1])
			if err != nil || v < 1 {
				fail("bad -n %q", args[1])
			}
			n, args = v, args[2:]
		}
		if len(args) != 2 {
			fail("usage: pgogen label [-n N] IN OUT")
		}
		p := read(args[0])
		label(p, n)
		write(args[1], p)
	case "edge":
		if len(args) != 1 {
			fail("usage: pgogen edge OUTDIR")
		}
		edgeCases(args[0])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
