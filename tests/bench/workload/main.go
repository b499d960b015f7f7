// Command workload is a CPU-bound Go program whose CPU profiles stand in for
// uploads from one real application in pgopipe's engine benchmark: it parses
// and type-checks standard-library packages from source (go/parser, go/types),
// prints them back (go/printer) and round-trips JSON, which gives deep and
// varied stacks like a large service. The sampling rate is raised so that a
// few seconds of work give as many distinct samples as minutes at 100 Hz.
//
//	workload -o FILE [-seconds N] [-hz RATE] [-seed S]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/printer"
	"go/token"
	"go/types"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "CPU profile output file")
	secs := flag.Float64("seconds", 10, "how long to work")
	hz := flag.Int("hz", 1000, "CPU profile sampling rate")
	seed := flag.Int64("seed", 1, "which packages to start with")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "usage: workload -o FILE [-seconds N] [-hz RATE] [-seed S]")
		os.Exit(2)
	}
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Setting the rate first makes StartCPUProfile keep it (it only warns).
	runtime.SetCPUProfileRate(*hz)
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Duration(*secs * float64(time.Second)))
	dirs := packages()
	r := rand.New(rand.NewSource(*seed))
	r.Shuffle(len(dirs), func(i, j int) { dirs[i], dirs[j] = dirs[j], dirs[i] })
	for i := 0; time.Now().Before(deadline); i++ {
		work(dirs[i%len(dirs)])
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func packages() []string {
	root := filepath.Join(runtime.GOROOT(), "src")
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	var dirs []string
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.IsDir() {
			return nil
		}
		if strings.Contains(p, "testdata") || strings.Contains(p, "/cmd/") || strings.Contains(p, "vendor") {
			return filepath.SkipDir
		}
		dirs = append(dirs, p)
		return nil
	})
	sort.Strings(dirs)
	return dirs
}

var sink int

func work(dir string) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments)
	if err != nil {
		return
	}
	for _, pkg := range pkgs {
		var files []*ast.File
		for _, f := range pkg.Files {
			files = append(files, f)
		}
		conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil), Error: func(error) {}}
		info := &types.Info{Types: map[ast.Expr]types.TypeAndValue{}, Defs: map[*ast.Ident]types.Object{}}
		conf.Check(pkg.Name, fset, files, info)
		var buf bytes.Buffer
		for _, f := range files {
			printer.Fprint(&buf, fset, f)
		}
		names := map[string]int{}
		for id := range info.Defs {
			names[id.Name]++
		}
		js, _ := json.Marshal(names)
		var back map[string]int
		json.Unmarshal(js, &back)
		sink += buf.Len() + len(back)
	}
}
