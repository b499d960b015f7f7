// gotarget is a small Go service that burns CPU in a few named functions,
// contends on a mutex and a channel (with mutex and block profiling on, so
// /debug/pprof/mutex and /debug/pprof/block have samples) and exposes
// net/http/pprof, so pgopipe-scraper has something real to profile.
// It is the scrape target of the scraper and end-to-end tests and the demo
// service of deploy/docker-compose.yml.
//
//	gotarget -addr 127.0.0.1:6060 [-addr-file F] [-workers N] [-contention=false]
//
// With -addr 127.0.0.1:0 the kernel picks a port; -addr-file then receives
// the address actually bound, once the server accepts connections.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"math/rand"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"
)

var sink uint64

// hashWork spends CPU in SHA-256 hashing.
func hashWork(n int) {
	buf := make([]byte, 4096)
	for i := 0; i < n; i++ {
		sum := sha256.Sum256(buf)
		buf[i%len(buf)] = sum[0]
		sink += uint64(sum[1])
	}
}

// sortWork spends CPU sorting random integers.
func sortWork(n int) {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = rand.Int()
	}
	sort.Ints(xs)
	sink += uint64(xs[0] & 1)
}

// stringWork spends CPU building and splitting strings.
func stringWork(n int) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "item-%d,", i)
	}
	sink += uint64(len(strings.Split(b.String(), ",")))
}

func burn(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		hashWork(200)
		sortWork(20000)
		stringWork(2000)
		time.Sleep(time.Millisecond)
	}
}

// lockWork holds a shared mutex for a while, so the others wait on it (the
// mutex and block profiles), then waits on a ticker's channel (block).
func lockWork(mu *sync.Mutex, tick <-chan time.Time, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-tick:
		}
		mu.Lock()
		hashWork(20)
		time.Sleep(200 * time.Microsecond)
		mu.Unlock()
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6060", "listen address")
	addrFile := flag.String("addr-file", "", "write the bound address to this file once listening")
	workers := flag.Int("workers", 1, "number of CPU-burning goroutines")
	contention := flag.Bool("contention", true, "contend on a mutex and a channel, with mutex and block profiling on")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gotarget: listen %s: %v", *addr, err)
	}
	stop := make(chan struct{})
	for i := 0; i < *workers; i++ {
		go burn(stop)
	}
	if *contention {
		runtime.SetMutexProfileFraction(5)
		runtime.SetBlockProfileRate(100000) // one event per 100 µs blocked, on average
		var mu sync.Mutex
		ticker := time.NewTicker(2 * time.Millisecond)
		for i := 0; i < 3; i++ {
			go lockWork(&mu, ticker.C, stop)
		}
	}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	if *addrFile != "" {
		tmp := *addrFile + ".tmp"
		if err := os.WriteFile(tmp, []byte(ln.Addr().String()+"\n"), 0o644); err != nil {
			log.Fatalf("gotarget: %v", err)
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			log.Fatalf("gotarget: %v", err)
		}
	}
	log.Printf("gotarget: serving pprof on http://%s/debug/pprof/", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
