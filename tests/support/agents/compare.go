package main

// compare.go — `agents compare EXPECTED... -- ACTUAL`: is ACTUAL what Go's
// profile.Merge of EXPECTED is, by summary? The summary is what a user of a
// base looks at and what merge semantics decide: sample types, period type,
// the total of each sample type, and each function's flat and cumulative
// value per sample type (as `go tool pprof -top` computes them: flat where
// the function is the innermost frame of a sample's leaf location, cum once
// per sample whose stack contains it).

import (
	"fmt"
	"os"
	"sort"

	"github.com/google/pprof/profile"
)

type fc struct{ flat, cum int64 }

type summary struct {
	sampleTypes []string
	periodType  string
	totals      []int64
	funcs       []map[string]fc
}

func vtString(v *profile.ValueType) string {
	if v == nil {
		return "/"
	}
	return v.Type + "/" + v.Unit
}

func summarize(p *profile.Profile) *summary {
	s := &summary{periodType: vtString(p.PeriodType)}
	for _, st := range p.SampleType {
		s.sampleTypes = append(s.sampleTypes, vtString(st))
		s.funcs = append(s.funcs, map[string]fc{})
	}
	s.totals = make([]int64, len(p.SampleType))
	for _, smp := range p.Sample {
		seen := map[string]bool{}
		for li, loc := range smp.Location {
			for k, ln := range loc.Line {
				name := "?"
				if ln.Function != nil {
					name = ln.Function.Name
				}
				leaf := li == 0 && k == 0
				first := !seen[name]
				seen[name] = true
				for i, v := range smp.Value {
					if i >= len(s.funcs) {
						break
					}
					e := s.funcs[i][name]
					if leaf {
						e.flat += v
					}
					if first {
						e.cum += v
					}
					s.funcs[i][name] = e
				}
			}
		}
		for i, v := range smp.Value {
			if i < len(s.totals) {
				s.totals[i] += v
			}
		}
	}
	for i := range s.funcs {
		for k, v := range s.funcs[i] {
			if v.flat == 0 && v.cum == 0 {
				delete(s.funcs[i], k)
			}
		}
	}
	return s
}

// diffSummaries lists every difference (empty: equal).
func diffSummaries(want, got *summary) []string {
	var d []string
	if fmt.Sprint(want.sampleTypes) != fmt.Sprint(got.sampleTypes) {
		return append(d, fmt.Sprintf("sample types: expected %v, actual %v", want.sampleTypes, got.sampleTypes))
	}
	if want.periodType != got.periodType {
		d = append(d, fmt.Sprintf("period type: expected %s, actual %s", want.periodType, got.periodType))
	}
	for i, st := range want.sampleTypes {
		if want.totals[i] != got.totals[i] {
			d = append(d, fmt.Sprintf("%s total: expected %d, actual %d", st, want.totals[i], got.totals[i]))
		}
		names := map[string]bool{}
		for n := range want.funcs[i] {
			names[n] = true
		}
		for n := range got.funcs[i] {
			names[n] = true
		}
		var sorted []string
		for n := range names {
			sorted = append(sorted, n)
		}
		sort.Strings(sorted)
		for _, n := range sorted {
			w, g := want.funcs[i][n], got.funcs[i][n]
			if w != g {
				d = append(d, fmt.Sprintf("%s %s: expected flat %d cum %d, actual flat %d cum %d", st, n, w.flat, w.cum,
					g.flat, g.cum))
			}
		}
	}
	return d
}

func compareMain(args []string) int {
	sep := -1
	for i, a := range args {
		if a == "--" {
			sep = i
			break
		}
	}
	if sep < 1 || sep != len(args)-2 {
		fmt.Fprintln(os.Stderr, "usage: agents compare EXPECTED... -- ACTUAL")
		return 2
	}
	var ps []*profile.Profile
	for _, f := range args[:sep] {
		p, err := readProfile(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: %v\n", err)
			return 2
		}
		ps = append(ps, p)
	}
	want, err := profile.Merge(ps)
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare: merging the expected profiles: %v\n", err)
		return 2
	}
	got, err := readProfile(args[len(args)-1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "compare: %v\n", err)
		return 2
	}
	d := diffSummaries(summarize(want), summarize(got))
	if len(d) == 0 {
		fmt.Printf("compare: %s equals the merge of %d expected profiles (%d sample types)\n", args[len(args)-1],
			len(ps), len(want.SampleType))
		return 0
	}
	fmt.Fprintf(os.Stderr, "compare: %s differs from the merge of %d expected profiles in %d places:\n",
		args[len(args)-1], len(ps), len(d))
	for i, l := range d {
		if i == 40 {
			fmt.Fprintf(os.Stderr, "  ... and %d more\n", len(d)-40)
			break
		}
		fmt.Fprintln(os.Stderr, "  "+l)
	}
	return 1
}
