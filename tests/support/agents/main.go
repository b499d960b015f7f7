// Command agents plays the push agents pgopipe accepts, for the tests: it
// sends the requests Pyroscope's Go SDK, the profefe agent, kube-profefe and
// the traceway SDK send — the same multipart layout and file names, part
// content types, query parameters and their units, headers, gzip and
// credentials, through Go's own net/http client as the agents use it — with
// real Go profiles, and writes down what a server must make of them.
//
// It is written from the protocol notes (shared/PUSH-PROTOCOLS.md), with
// Go 1.19's standard library and Debian's github.com/google/pprof only.
//
// Scenarios (each one agent's behaviour over a few upload cycles):
//
//	agents pyroscope      pyroscope-go v1.x: CPU (no sample_type_config), heap
//	                      (godeltaprof deltas, 4 types), mutex and block (told
//	                      apart by display-names), goroutine; Basic auth
//	agents pyroscope-old  pyroscope-io/client <= 0.4: heap and mutex as
//	                      cumulative snapshots with prev_profile, seconds in
//	                      from/until; Bearer auth
//	agents profefe        the profefe agent from two instances (one labelled,
//	                      one with empty labels as Caddy sends), cumulative
//	                      heap/block/mutex/threadcreate, goroutine, CPU; the
//	                      unlabelled one restarts once (values drop)
//	agents kprofefe       kube-profefe's kprofefe: instance_id, labels that
//	                      start with ',', an odd "UserAgent" header
//	agents traceway       the traceway SDK: CPU then cumulative heap to one URL
//	                      with a Bearer token
//
// Scenario flags:
//
//	-profiles DIR  real Go profiles (tests/diff/gen-profiles.sh layout:
//	               cpu/ extra/ heap/ block/ mutex/ *.pb.gz) — required
//	-out DIR       where manifest.json, expected/ and capture/ go — required
//	-url URL       the server to push to (e.g. http://127.0.0.1:8080), or
//	-capture       push to an in-process server that records every request
//	               (OUT/capture/NNNN.json and NNNN.body) and answers as the
//	               protocol's server would
//	-name NAME     the service name (each scenario has a default)
//	-ticks N       upload cycles (default 5)
//	-token T       credentials (Pyroscope v1: Basic with T as the password,
//	               or Bearer with -bearer; old Pyroscope and traceway: Bearer)
//	-tenant ID     Pyroscope: X-Scope-OrgID
//	-session HEX   Pyroscope v1: the __session_id__ (default random)
//	-backoff D     profefe agents: the retry delay unit (the agent's is 5s)
//
// What a scenario writes to OUT:
//
//	manifest.json  {"scenario", "pushes": [{seq, protocol, path, query,
//	               body_sha256, profile_sha256 (the pprof bytes: the body
//	               or the "profile" part), kind, app, name, labels,
//	               instance, mode, status, expect, reset, contribution,
//	               sent, sent_prev}], "expected": [{app, kind, files}]}
//	sent/NNNN.pb.gz  the pprof bytes push NNNN sent (the body, or the
//	               "profile" part; NNNN-prev.pb.gz: its "prev_profile")
//	expected/APP/KIND/NNN-delta.pb.gz  the counter part one push contributes
//	               to the (APP, KIND) base (a delta, or the difference of two
//	               cumulative snapshots, or a snapshot after a restart),
//	               gauge columns zero
//	expected/APP/KIND/NNN-gauge.pb.gz  the latest snapshot's gauge columns of
//	               each instance, counter columns zero
//	expected/pushes/NNNN.pb.gz  for pushes a server must transform (old
//	               Pyroscope's profile - prev_profile): the profile it must
//	               store
//
// so that the (APP, KIND) base must equal Go's profile.Merge of the files of
// expected/APP/KIND; `agents compare` checks that by summary.
//
// Other commands:
//
//	agents compare EXPECTED... -- ACTUAL
//	        Merges EXPECTED with Go's profile.Merge and compares the result
//	        with ACTUAL by summary: sample types, period type, the total of
//	        every sample type, and every function's flat and cumulative value
//	        per sample type. Exit 0 equal, 1 different (each difference on
//	        stderr), 2 usage or unreadable input.
//	agents multipart-cases DIR
//	        Writes multipart bodies made with Go's mime/multipart (and a few
//	        hand-made ones Go's reader accepts or refuses) with cases.json
//	        saying what a parser must find in each.
//	agents gen-profiles DIR
//	        Writes goroutine.pb.gz and threadcreate.pb.gz of this process.
package main

import (
	"fmt"
	"os"
)

func usage() {
	fmt.Fprintln(os.Stderr, `usage: agents pyroscope|pyroscope-old|profefe|kprofefe|traceway -profiles DIR -out DIR (-url URL | -capture) [flags]
       agents compare EXPECTED... -- ACTUAL
       agents multipart-cases DIR
       agents gen-profiles DIR`)
	os.Exit(2)
}

func fatal(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "agents: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "compare":
		os.Exit(compareMain(args))
	case "multipart-cases":
		if len(args) != 1 {
			usage()
		}
		if err := multipartCases(args[0]); err != nil {
			fatal("%v", err)
		}
	case "gen-profiles":
		if len(args) != 1 {
			usage()
		}
		if err := genProfiles(args[0]); err != nil {
			fatal("%v", err)
		}
	case "pyroscope", "pyroscope-old", "profefe", "kprofefe", "traceway":
		runScenario(cmd, args)
	default:
		usage()
	}
}
