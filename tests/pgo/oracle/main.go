// Command oracle is the reference side of pgopipe's PGO tests: it computes,
// from a profile read with Go's own pprof package, what Go's compiler takes
// from it for profile-guided optimisation, following the rules written down
// in PGO.md (and restated in lib/pprof/pgo.h), independently of the C code.
//
//	oracle edges [-all] FILE    the named call-edge map, one edge a line
//	oracle preprofile FILE      the GO PREPROFILE V1 text, as `go tool preprofile`
//
// Edges output: "start_line: 0|1", "total: W", "hot: N" (the size of the
// inliner's hot set), "edges: N", then one line per edge in the compiler's
// order: CALLER<TAB>CALLEE<TAB>OFFSET<TAB>WEIGHT, names with every byte
// outside printable ASCII (and '\') written \xHH. The map is printed as
// computed (also without start lines, also with a zero total); the hot set
// follows the compiler (empty for a zero total). -all walks every location
// of a sample instead of the last two (the oldest PGO compilers).
//
// On a profile the compiler refuses it prints "error: MESSAGE" on stderr and
// exits 1 (the compiler's message); usage errors exit 2.
package main

import (
	"bufio"
	"fmt"
	"os"
	"sort"

	"github.com/google/pprof/profile"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: oracle edges [-all] FILE | oracle preprofile FILE")
	os.Exit(2)
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

// A node of the compiler's call graph.
type nodeKey struct {
	addr  uint64
	line  int64
	name  string
	start int64
}

type node struct {
	key       nodeKey
	cum, flat int64
}

type pair struct{ from, to *node }

// A named call edge.
type edge struct {
	caller, callee string
	offset         int64
}

type edgeMap struct {
	weight    map[edge]int64
	order     []edge
	total     int64
	startLine bool
}

// valueIndex is the first samples/count or cpu/nanoseconds sample type.
func valueIndex(p *profile.Profile) int {
	for i, st := range p.SampleType {
		if (st.Type == "samples" && st.Unit == "count") || (st.Type == "cpu" && st.Unit == "nanoseconds") {
			return i
		}
	}
	fail(`profile does not contain a sample index with value/type "samples/count" or cpu/nanoseconds"`)
	return -1
}

func computeEdges(p *profile.Profile, all bool) *edgeMap {
	m := &edgeMap{weight: map[edge]int64{}}
	if len(p.Sample) == 0 {
		return m
	}
	vi := valueIndex(p)

	// Every location's nodes, innermost line first, one node per distinct key.
	nodes := map[nodeKey]*node{}
	get := func(k nodeKey) *node {
		n := nodes[k]
		if n == nil {
			n = &node{key: k}
			nodes[k] = n
		}
		return n
	}
	locNodes := map[uint64][]*node{}
	for _, l := range p.Location {
		if len(l.Line) == 0 {
			locNodes[l.ID] = []*node{get(nodeKey{addr: l.Address})}
			continue
		}
		var ns []*node
		for _, ln := range l.Line {
			ns = append(ns, get(nodeKey{addr: l.Address, line: ln.Line, name: ln.Function.Name, start: ln.Function.StartLine}))
		}
		locNodes[l.ID] = ns
	}

	graph := map[pair]int64{}
	var pairs []pair // creation order, for a stable walk below
	for _, s := range p.Sample {
		w := s.Value[vi]
		if w == 0 || len(s.Location) == 0 {
			continue
		}
		top := len(s.Location) - 1
		if !all && top > 1 {
			top = 1
		}
		seenNode := map[*node]bool{}
		seenPair := map[pair]bool{}
		var parent *node
		for i := top; i >= 0; i-- {
			ns := locNodes[s.Location[i].ID]
			for k := len(ns) - 1; k >= 0; k-- {
				n := ns[k]
				if !seenNode[n] {
					seenNode[n] = true
					n.cum += w
				}
				if parent != nil && parent != n {
					pr := pair{parent, n}
					if !seenPair[pr] {
						seenPair[pr] = true
						if _, ok := graph[pr]; !ok {
							pairs = append(pairs, pr)
						}
						graph[pr] += w
					}
				}
				parent = n
			}
		}
		if parent != nil {
			parent.flat += w
		}
	}

	inGraph := func(n *node) bool { return n.cum != 0 || n.flat != 0 }
	for _, n := range nodes {
		if inGraph(n) && n.key.start != 0 {
			m.startLine = true
		}
	}
	for _, pr := range pairs {
		if !inGraph(pr.from) {
			continue
		}
		e := edge{pr.from.key.name, pr.to.key.name, pr.from.key.line - pr.from.key.start}
		if _, ok := m.weight[e]; !ok {
			m.order = append(m.order, e)
		}
		m.weight[e] += graph[pr]
		m.total += graph[pr]
	}
	sort.Slice(m.order, func(i, j int) bool {
		a, b := m.order[i], m.order[j]
		if wa, wb := m.weight[a], m.weight[b]; wa != wb {
			return wa > wb
		}
		if a.caller != b.caller {
			return a.caller < b.caller
		}
		if a.callee != b.callee {
			return a.callee < b.callee
		}
		return a.offset < b.offset
	})
	return m
}

// hot is the number of edges in the inliner's hot set: the heaviest edges
// up to and including the one that takes the running share over 99%.
func (m *edgeMap) hot() int {
	if m.total == 0 {
		return 0
	}
	var cum int64
	for i, e := range m.order {
		cum += m.weight[e]
		if float64(cum)/float64(m.total)*100 > 99 {
			return i + 1
		}
	}
	return len(m.order)
}

func escape(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '\\' {
			b = append(b, fmt.Sprintf("\\x%02x", c)...)
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	switch os.Args[1] {
	case "edges":
		args := os.Args[2:]
		all := false
		if args[0] == "-all" {
			all, args = true, args[1:]
		}
		if len(args) != 1 {
			usage()
		}
		m := computeEdges(read(args[0]), all)
		sl := 0
		if m.startLine {
			sl = 1
		}
		fmt.Fprintf(w, "start_line: %d\ntotal: %d\nhot: %d\nedges: %d\n", sl, m.total, m.hot(), len(m.order))
		for _, e := range m.order {
			fmt.Fprintf(w, "%s\t%s\t%d\t%d\n", escape(e.caller), escape(e.callee), e.offset, m.weight[e])
		}
	case "preprofile":
		if len(os.Args) != 3 {
			usage()
		}
		p := read(os.Args[2])
		m := computeEdges(p, false)
		if len(p.Sample) > 0 && !m.startLine {
			fail("profile missing Function.start_line data (Go version of profiled application too old? Go 1.20+ automatically adds this to profiles)")
		}
		w.WriteString("GO PREPROFILE V1\n")
		if m.total != 0 {
			for _, e := range m.order {
				fmt.Fprintf(w, "%s\n%s\n%d %d\n", e.caller, e.callee, e.offset, m.weight[e])
			}
		}
	default:
		usage()
	}
}
