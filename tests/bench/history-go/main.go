// history-go — Go's side of tests/bench/history-bench.sh: the same work as
// the merge worker's hour buckets and window, done with Go's pprof
// (profile.Merge, Debian's golang-github-google-pprof-dev), timed in
// process (reading the inputs, merging, writing the gzipped output), so
// /usr/bin/time around it gives the memory peak of the same step.
//
//	history-go batch OUT BASE BUCKET UPLOAD...  Merge([uploads..., base]) and
//	                                             Merge([uploads..., bucket]), each written
//	history-go leave OUT BASE BUCKET             the bucket scaled by -1, Merge([base, -bucket])
//	history-go merge OUT PROFILE...              Merge(all): re-merging a window, or a range read
//
// Prints one line: the step and its milliseconds.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/google/pprof/profile"
)

func read(path string) *profile.Profile {
	f, err := os.Open(path)
	if err != nil {
		fail(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		fail(fmt.Errorf("%s: %v", path, err))
	}
	return p
}

func write(path string, p *profile.Profile) {
	f, err := os.Create(path)
	if err != nil {
		fail(err)
	}
	if err := p.Write(f); err != nil {
		fail(err)
	}
	if err := f.Close(); err != nil {
		fail(err)
	}
}

func merge(ps []*profile.Profile) *profile.Profile {
	m, err := profile.Merge(ps)
	if err != nil {
		fail(err)
	}
	return m
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "history-go:", err)
	os.Exit(1)
}

func readAll(paths []string) []*profile.Profile {
	var ps []*profile.Profile
	for _, p := range paths {
		ps = append(ps, read(p))
	}
	return ps
}

func main() {
	if len(os.Args) < 4 {
		fmt.Fprintln(os.Stderr, "usage: history-go batch|leave|merge OUT ...")
		os.Exit(2)
	}
	cmd, out, args := os.Args[1], os.Args[2], os.Args[3:]
	t0 := time.Now()
	switch cmd {
	case "batch":
		if len(args) < 3 {
			fail(fmt.Errorf("batch OUT BASE BUCKET UPLOAD..."))
		}
		ups := readAll(args[2:])
		base := read(args[0])
		write(out+".base", merge(append(append([]*profile.Profile{}, ups...), base)))
		tBase := time.Since(t0)
		ups = readAll(args[2:])
		bucket := read(args[1])
		write(out+".bucket", merge(append(ups, bucket)))
		fmt.Printf("go batch: base %.1f ms, bucket %.1f ms, both %.1f ms\n", ms(tBase), ms(time.Since(t0)-tBase),
			ms(time.Since(t0)))
		return
	case "leave":
		if len(args) != 2 {
			fail(fmt.Errorf("leave OUT BASE BUCKET"))
		}
		base, bucket := read(args[0]), read(args[1])
		bucket.Scale(-1)
		write(out, merge([]*profile.Profile{base, bucket}))
	case "merge":
		write(out, merge(readAll(args)))
	default:
		fail(fmt.Errorf("unknown step %s", cmd))
	}
	fmt.Printf("go %s of %d profiles: %.1f ms\n", cmd, len(args), ms(time.Since(t0)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
