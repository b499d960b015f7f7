// gotarget is a small Go service that burns CPU in a few named functions and
// exposes net/http/pprof, so pgopipe-scraper has something real to profile.
// It is the scrape target of the scraper and end-to-end tests and the demo
// service of deploy/docker-compose.yml.
//
//	gotarget -addr 127.0.0.1:6060 [-addr-file F]
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
	"sort"
	"strings"
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

func main() {
	addr := flag.String("addr", "127.0.0.1:6060", "listen address")
	addrFile := flag.String("addr-file", "", "write the bound address to this file once listening")
	workers := flag.Int("workers", 1, "number of CPU-burning goroutines")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("gotarget: listen %s: %v", *addr, err)
	}
	stop := make(chan struct{})
	for i := 0; i < *workers; i++ {
		go burn(stop)
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
