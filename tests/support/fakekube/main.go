// fakekube is a FAKE of the Kubernetes API server, for tests only: no
// Kubernetes API server runs on the test machines. It answers what
// pgopipe-scraper --mode kube asks, GET /api/v1/pods, over TLS with a
// certificate of its own, from a PodList fixture written in the API's JSON
// shape (tests/scraper/fixtures/kube-pods.json), filtering it by the
// request's labelSelector and fieldSelector the way the API server does
// and paging it with limit/continue. A request without the expected bearer
// token gets the API server's 401 Status. It also serves an HTTP service
// discovery document (Prometheus http_sd) from a file on a plain-HTTP
// listener, re-read at every request.
//
//	fakekube -fixture F -token T -dir D [-var NAME=VALUE]... [-page N] [-sd FILE]
//
// It writes D/ca.crt (its certificate, the CA to trust), D/api.url
// (https://127.0.0.1:PORT), D/sd.url (http://127.0.0.1:PORT/sd) and appends
// every request (method, path, query, Authorization present) to
// D/requests.log. ${NAME} in the fixture is replaced by VALUE.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

type vars map[string]string

func (v vars) String() string { return "" }
func (v vars) Set(s string) error {
	i := strings.IndexByte(s, '=')
	if i < 1 {
		return fmt.Errorf("want NAME=VALUE")
	}
	v[s[:i]] = s[i+1:]
	return nil
}

var (
	fixture = flag.String("fixture", "", "PodList fixture (JSON)")
	token   = flag.String("token", "", "the bearer token to require")
	dir     = flag.String("dir", "", "where to write ca.crt, api.url, sd.url, requests.log")
	page    = flag.Int("page", 0, "largest page returned whatever the client's limit (0: the client's)")
	sdFile  = flag.String("sd", "", "http_sd document to serve at /sd")
	subst   = vars{}
	logMu   sync.Mutex
)

func record(r *http.Request) {
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(filepath.Join(*dir, "requests.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s %s auth=%v\n", r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization") != "")
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]interface{}{
		"kind": "Status", "apiVersion": "v1", "metadata": map[string]interface{}{},
		"status": "Failure", "message": msg, "reason": reason, "code": code,
	})
}

// selected applies a labelSelector of k=v terms and a fieldSelector on
// status.phase, as the API server does.
func selected(pod map[string]interface{}, labelSel, fieldSel string) bool {
	meta, _ := pod["metadata"].(map[string]interface{})
	labels, _ := meta["labels"].(map[string]interface{})
	for _, term := range strings.Split(labelSel, ",") {
		if term == "" {
			continue
		}
		kv := strings.SplitN(term, "=", 2)
		if len(kv) != 2 || labels[kv[0]] != kv[1] {
			return false
		}
	}
	st, _ := pod["status"].(map[string]interface{})
	for _, term := range strings.Split(fieldSel, ",") {
		if term == "" {
			continue
		}
		kv := strings.SplitN(term, "=", 2)
		if len(kv) != 2 || kv[0] != "status.phase" || st["phase"] != kv[1] {
			return false
		}
	}
	return true
}

func pods(w http.ResponseWriter, r *http.Request) {
	record(r)
	if r.Header.Get("Authorization") != "Bearer "+*token {
		status(w, 401, "Unauthorized", "Unauthorized")
		return
	}
	raw, err := os.ReadFile(*fixture)
	if err != nil {
		status(w, 500, "InternalError", err.Error())
		return
	}
	text := string(raw)
	for k, v := range subst {
		text = strings.ReplaceAll(text, "${"+k+"}", v)
	}
	var list map[string]interface{}
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		status(w, 500, "InternalError", err.Error())
		return
	}
	q := r.URL.Query()
	items, _ := list["items"].([]interface{})
	var keep []interface{}
	for _, it := range items {
		if p, ok := it.(map[string]interface{}); ok && selected(p, q.Get("labelSelector"), q.Get("fieldSelector")) {
			keep = append(keep, it)
		}
	}
	start, _ := strconv.Atoi(q.Get("continue"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	if *page > 0 && (limit == 0 || limit > *page) {
		limit = *page
	}
	if start > len(keep) {
		start = len(keep)
	}
	end := len(keep)
	meta, _ := list["metadata"].(map[string]interface{})
	if meta == nil {
		meta = map[string]interface{}{}
	}
	delete(meta, "continue")
	if limit > 0 && start+limit < end {
		end = start + limit
		meta["continue"] = strconv.Itoa(end)
	}
	if keep == nil {
		keep = []interface{}{}
	}
	list["items"] = keep[start:end]
	list["metadata"] = meta
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(list)
}

func sd(w http.ResponseWriter, r *http.Request) {
	record(r)
	b, err := os.ReadFile(*sdFile)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

func selfSigned() (tls.Certificate, []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake kube-apiserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func main() {
	flag.Var(subst, "var", "NAME=VALUE: replaces ${NAME} in the fixture")
	flag.Parse()
	if *fixture == "" || *token == "" || *dir == "" {
		log.Fatal("usage: fakekube -fixture F -token T -dir D [-var NAME=VALUE]... [-page N] [-sd FILE]")
	}
	cert, caPEM := selfSigned()
	if err := os.WriteFile(filepath.Join(*dir, "ca.crt"), caPEM, 0o644); err != nil {
		log.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v1/pods", pods)
	go http.Serve(ln, mux)
	if *sdFile != "" {
		sln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		smux := http.NewServeMux()
		smux.HandleFunc("/sd", sd)
		go http.Serve(sln, smux)
		os.WriteFile(filepath.Join(*dir, "sd.url"), []byte("http://"+sln.Addr().String()+"/sd\n"), 0o644)
	}
	// written last: its presence says everything is listening
	os.WriteFile(filepath.Join(*dir, "api.url"), []byte("https://"+ln.Addr().String()+"\n"), 0o644)
	select {}
}
