// Command ref is the reference side of the export tests. It reads a profile
// with Go's own github.com/google/pprof/profile package and prints what
// pgopipe's exports must agree with:
//
//	ref folded [-i INDEX] FILE   folded stacks of sample type INDEX (default: pprof's default type)
//	ref totals FILE              one line per sample type: "TYPE UNIT TOTAL", then "default INDEX"
//
// The folded stacks follow the rules lib/pprof/export.h states: frames root
// first, one per line of a location (inlined calls are frames), named by the
// function; a location without lines or a function without a name is
// "[base name of the mapping file]" or "<unknown>"; a sample without
// locations is "[no stack]"; bytes that are not UTF-8 become U+FFFD, ';'
// becomes ':' and control characters a space. Values of equal stacks are
// added, zero sums left out, lines sorted frame by frame.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/google/pprof/profile"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "ref: "+format+"\n", args...)
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

// defaultIndex is pprof's rule: the named default sample type, else the last.
func defaultIndex(p *profile.Profile) int {
	if p.DefaultSampleType != "" {
		for i, st := range p.SampleType {
			if st.Type == p.DefaultSampleType {
				return i
			}
		}
	}
	return len(p.SampleType) - 1
}

func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && w == 1:
			b.WriteRune(utf8.RuneError)
		case r == ';':
			b.WriteByte(':')
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteString(s[i : i+w])
		}
		i += w
	}
	return b.String()
}

func unsymbolized(l *profile.Location) string {
	if l.Mapping == nil || l.Mapping.File == "" {
		return "<unknown>"
	}
	return "[" + clean(filepath.Base(l.Mapping.File)) + "]"
}

func stack(s *profile.Sample) []string {
	if len(s.Location) == 0 {
		return []string{"[no stack]"}
	}
	var fr []string
	for i := len(s.Location) - 1; i >= 0; i-- {
		l := s.Location[i]
		if len(l.Line) == 0 {
			fr = append(fr, unsymbolized(l))
			continue
		}
		for j := len(l.Line) - 1; j >= 0; j-- {
			if fn := l.Line[j].Function; fn != nil && fn.Name != "" {
				fr = append(fr, clean(fn.Name))
			} else {
				fr = append(fr, unsymbolized(l))
			}
		}
	}
	return fr
}

func less(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: ref folded [-i INDEX] FILE | ref totals FILE")
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	switch os.Args[1] {
	case "totals":
		p := read(os.Args[2])
		for i, st := range p.SampleType {
			var t int64
			for _, s := range p.Sample {
				t += s.Value[i]
			}
			fmt.Fprintf(out, "%s %s %d\n", st.Type, st.Unit, t)
		}
		fmt.Fprintf(out, "default %d\n", defaultIndex(p))
	case "folded":
		fs := flag.NewFlagSet("folded", flag.ExitOnError)
		idx := fs.Int("i", -1, "sample type index")
		fs.Parse(os.Args[2:])
		if fs.NArg() != 1 {
			fail("folded wants one file")
		}
		p := read(fs.Arg(0))
		vi := *idx
		if vi < 0 {
			vi = defaultIndex(p)
		}
		if len(p.SampleType) == 0 {
			return
		}
		if vi >= len(p.SampleType) {
			fail("sample type index %d out of range", vi)
		}
		sums := map[string]int64{}
		frames := map[string][]string{}
		for _, s := range p.Sample {
			fr := stack(s)
			k := strings.Join(fr, ";")
			sums[k] += s.Value[vi]
			frames[k] = fr
		}
		var keys []string
		for k, v := range sums {
			if v != 0 {
				keys = append(keys, k)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return less(frames[keys[i]], frames[keys[j]]) })
		for _, k := range keys {
			fmt.Fprintf(out, "%s %d\n", k, sums[k])
		}
	default:
		fail("unknown command %q", os.Args[1])
	}
}
