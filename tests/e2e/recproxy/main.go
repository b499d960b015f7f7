// recproxy — a recording HTTP proxy for the end-to-end test of the
// distributed topology. It forwards every request to -target unchanged and
// keeps a copy of the body of each POST the target answered 201 (an upload
// the server accepted) as DIR/NNNNNN.pprof, so the test knows exactly which
// profiles the base must contain. Files appear atomically (write, rename).
//
// Usage: recproxy -target http://127.0.0.1:PORT -dir DIR -addr-file FILE
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

func main() {
	target := flag.String("target", "", "URL requests are forwarded to")
	dir := flag.String("dir", "", "where accepted upload bodies are kept")
	addrFile := flag.String("addr-file", "", "file receiving host:port once listening")
	flag.Parse()
	if *target == "" || *dir == "" || *addrFile == "" {
		flag.Usage()
		os.Exit(2)
	}
	var mu sync.Mutex
	n := 0
	client := &http.Client{}
	h := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := http.NewRequest(r.Method, *target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range r.Header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rbody, _ := io.ReadAll(resp.Body)
		if r.Method == http.MethodPost && resp.StatusCode == http.StatusCreated {
			mu.Lock()
			n++
			name := filepath.Join(*dir, fmt.Sprintf("%06d.pprof", n))
			mu.Unlock()
			if err := os.WriteFile(name+".tmp", body, 0o644); err != nil {
				log.Fatal(err)
			}
			if err := os.Rename(name+".tmp", name); err != nil {
				log.Fatal(err)
			}
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(rbody)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*addrFile+".tmp", []byte(ln.Addr().String()), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.Serve(ln, http.HandlerFunc(h)))
}
