// Command oracle is the reference side of pgopipe's differential tests.
//
// It reads profiles with Go's own github.com/google/pprof/profile package
// (the implementation pgopipe must agree with) and prints a canonical,
// order-independent text summary, so that pgopipe's result and Go's result
// can be compared with diff(1) after decoding rather than byte for byte.
//
//	oracle merge [--drop RX [--keep RX]]... IN...   summary of Merge(IN...) then Prune per rule
//	oracle summary FILE                             summary of one file as Go parses it
//	oracle compact FILE                             summary of Merge([FILE]) (Go's compaction)
//	oracle members FILE                             number of gzip members in FILE (compress/gzip)
//
// On failure (parse error, incompatible inputs, bad regex) it prints
// "error: MESSAGE" on stderr and exits 1; usage errors exit 2.
//
// The summary has header lines (sample types, period type, period, duration,
// time, default sample type, comments, drop/keep frames), table counts, the
// sorted function and mapping tables, and one line per distinct stack+labels
// with the values summed over every sample having that stack and labels.
// A frame is written address/mapping-file:function@file:line, with inlined
// lines joined by '+' (innermost first); frames leaf first, separated by ';'.
// With a prune, counts are those of Merge([pruned]) because Go's Prune leaves
// a profile uncompacted while pgopipe compacts after pruning.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/google/pprof/profile"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "error: "+format+"\n", args...)
	os.Exit(1)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: oracle merge [--drop RX [--keep RX]]... IN... | oracle summary FILE | oracle compact FILE | oracle members FILE")
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

// members counts the gzip members of a file, reading them one at a time.
func members(path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	br := bytes.NewReader(data)
	zr, err := gzip.NewReader(br)
	if err != nil {
		fail("%s: %v", path, err)
	}
	n := 0
	for {
		zr.Multistream(false)
		if _, err := io.Copy(io.Discard, zr); err != nil {
			fail("%s: %v", path, err)
		}
		n++
		if err := zr.Reset(br); err == io.EOF {
			return n
		} else if err != nil {
			fail("%s: %v", path, err)
		}
	}
}

type rule struct{ drop, keep *regexp.Regexp }

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "summary":
		if len(os.Args) != 3 {
			usage()
		}
		summarize(read(os.Args[2]), nil)
	case "compact":
		if len(os.Args) != 3 {
			usage()
		}
		p, err := profile.Merge([]*profile.Profile{read(os.Args[2])})
		if err != nil {
			fail("%v", err)
		}
		summarize(p, nil)
	case "members":
		if len(os.Args) != 3 {
			usage()
		}
		fmt.Println(members(os.Args[2]))
	case "merge":
		var rules []rule
		var inputs []string
		args := os.Args[2:]
		for i := 0; i < len(args); i++ {
			switch args[i] {
			case "--drop":
				if i+1 >= len(args) {
					usage()
				}
				rx, err := regexp.Compile(args[i+1])
				if err != nil {
					fail("bad drop regex %q: %v", args[i+1], err)
				}
				rules = append(rules, rule{drop: rx})
				i++
			case "--keep":
				if i+1 >= len(args) || len(rules) == 0 || rules[len(rules)-1].keep != nil {
					usage()
				}
				rx, err := regexp.Compile(args[i+1])
				if err != nil {
					fail("bad keep regex %q: %v", args[i+1], err)
				}
				rules[len(rules)-1].keep = rx
				i++
			default:
				inputs = append(inputs, args[i])
			}
		}
		if len(inputs) == 0 {
			usage()
		}
		var ps []*profile.Profile
		for _, in := range inputs {
			ps = append(ps, read(in))
		}
		p, err := profile.Merge(ps)
		if err != nil {
			fail("%v", err)
		}
		if len(rules) == 0 {
			summarize(p, nil)
			return
		}
		for _, r := range rules {
			p.Prune(r.drop, r.keep)
		}
		c, err := profile.Merge([]*profile.Profile{p.Copy()})
		if err != nil {
			fail("%v", err)
		}
		summarize(p, c)
	default:
		usage()
	}
}

func vt(v *profile.ValueType) string {
	if v == nil {
		return "/"
	}
	return v.Type + "/" + v.Unit
}

func frame(l *profile.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%#x/", l.Address)
	if l.Mapping != nil {
		b.WriteString(l.Mapping.File)
	}
	b.WriteString(":")
	if l.IsFolded {
		b.WriteString("folded:")
	}
	for i, ln := range l.Line {
		if i > 0 {
			b.WriteString("+")
		}
		if ln.Function != nil {
			fmt.Fprintf(&b, "%s@%s:%d", ln.Function.Name, ln.Function.Filename, ln.Line)
		} else {
			fmt.Fprintf(&b, "?@?:%d", ln.Line)
		}
	}
	return b.String()
}

func labels(s *profile.Sample) string {
	var parts []string
	var keys []string
	for k := range s.Label {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, s.Label[k]))
	}
	keys = keys[:0]
	for k := range s.NumLabel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		units := s.NumUnit[k]
		allEmpty := true
		for _, u := range units {
			if u != "" {
				allEmpty = false
			}
		}
		if allEmpty {
			units = nil
		}
		parts = append(parts, fmt.Sprintf("%s=%v%q", k, s.NumLabel[k], units))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// summarize prints p; counts come from c when given (the compacted copy).
func summarize(p, c *profile.Profile) {
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	var st []string
	for _, t := range p.SampleType {
		st = append(st, vt(t))
	}
	fmt.Fprintf(w, "sample_types: %s\n", strings.Join(st, " "))
	fmt.Fprintf(w, "period_type: %s\n", vt(p.PeriodType))
	fmt.Fprintf(w, "period: %d\n", p.Period)
	fmt.Fprintf(w, "duration: %d\n", p.DurationNanos)
	fmt.Fprintf(w, "time: %d\n", p.TimeNanos)
	fmt.Fprintf(w, "default_sample_type: %q\n", p.DefaultSampleType)
	for _, cm := range p.Comments {
		fmt.Fprintf(w, "comment: %q\n", cm)
	}
	fmt.Fprintf(w, "drop_frames: %q\n", p.DropFrames)
	fmt.Fprintf(w, "keep_frames: %q\n", p.KeepFrames)
	if c == nil {
		c = p
	}
	fmt.Fprintf(w, "counts: samples=%d locations=%d functions=%d mappings=%d\n",
		len(c.Sample), len(c.Location), len(c.Function), len(c.Mapping))

	var lines []string
	for _, f := range c.Function {
		lines = append(lines, fmt.Sprintf("function: %q %q %q %d", f.Name, f.SystemName, f.Filename, f.StartLine))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	lines = lines[:0]
	for i, m := range c.Mapping {
		first := ""
		if i == 0 {
			first = " (first)"
		}
		lines = append(lines, fmt.Sprintf("mapping: %#x-%#x off=%#x %q %q flags=%v%v%v%v%s",
			m.Start, m.Limit, m.Offset, m.File, m.BuildID,
			b2i(m.HasFunctions), b2i(m.HasFilenames), b2i(m.HasLineNumbers), b2i(m.HasInlineFrames), first))
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}

	sums := map[string][]int64{}
	for _, s := range p.Sample {
		var fr []string
		for _, l := range s.Location {
			fr = append(fr, frame(l))
		}
		key := labels(s) + " " + strings.Join(fr, ";")
		v := sums[key]
		if v == nil {
			v = make([]int64, len(s.Value))
			sums[key] = v
		}
		for i := range s.Value {
			if i < len(v) {
				v[i] += s.Value[i]
			}
		}
	}
	lines = lines[:0]
	for k, v := range sums {
		zero := true
		var vs []string
		for _, x := range v {
			if x != 0 {
				zero = false
			}
			vs = append(vs, strconv.FormatInt(x, 10))
		}
		if zero {
			continue // Go keeps zero-sum groups only when uncompacted
		}
		lines = append(lines, "stack: "+strings.Join(vs, ",")+" "+k)
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
