#!/usr/bin/env python3
"""push-check.py — did every push of an agent scenario land as it should?

    push-check.py --staged STAGED.jsonl [--events EVENTS.jsonl]
                  [--agents AGENTS] OUT...
    push-check.py --access-log SERVER.log OUT...

OUT... are the emulator's output directories (manifest.json, expected/);
STAGED.jsonl and EVENTS.jsonl are push_tool's output. Every push the
server answered with success must match exactly one staged object:
  - same app (the normalised service name), and a pgopipe-upload record
    with the push's kind, mode, source (its protocol), original name,
    request labels and instance, and a time equal to the profile's
    time_nanos;
  - the bytes sent, kept as the object's first gzip member followed by the
    record's member — or, for a push the server must transform (an old
    Pyroscope client's prev_profile), a profile equal by summary to the
    emulator's expected one (`agents compare`, needs --agents);
and no staged object may be left over. With --events, each matched
object's profile.uploaded event must carry the record's fields (kind, mode,
source, name, labels, instance, time).

With --access-log (a server whose worker merges and deletes the staged
objects), each such push must match exactly one access log line of a
stored push instead: its protocol, app, kind, original name, instance, and
a key under {app}/staging/; and no stored push may be logged that the
emulator did not make.

Prints one line per check group; exit 1 on the first mismatches.
"""
import argparse
import json
import os
import subprocess
import sys


def labels_of(push):
    d = {}
    for kv in push.get("labels") or []:
        d.setdefault(kv["key"], []).append(kv["value"])
    return {k: v[0] if len(v) == 1 else v for k, v in d.items()}


def record_matches(push, s):
    rec = s.get("record")
    if s["app"] != push["app"] or not rec:
        return False
    want = {
        "kind": push["kind"],
        "mode": push["mode"],
        "source": push["protocol"],
        "name": push["name"],
        "labels": labels_of(push),
        "instance": push.get("instance") or "",
    }
    got = {
        "kind": rec.get("kind"),
        "mode": rec.get("mode"),
        "source": rec.get("source"),
        "name": rec.get("name"),
        "labels": rec.get("labels") or {},
        "instance": rec.get("instance") or "",
    }
    return want == got


def successful_pushes(outs):
    for out in outs:
        man = json.load(open(os.path.join(out, "manifest.json")))
        for p in man["pushes"]:
            if p["status"] == 200:
                yield man["scenario"], p


def access_log(log, outs):
    lines = []
    for l in open(log):
        try:
            e = json.loads(l)
        except ValueError:
            continue
        if e.get("msg") == "request" and e.get("protocol") and e.get("status") == 200 and e.get("key"):
            lines.append(e)
    pool = list(lines)
    errors = []
    n = 0
    for scen, p in successful_pushes(outs):
        n += 1
        want = (p["protocol"], p["app"], p["kind"], p["name"], p.get("instance") or "")
        cands = [e for e in pool if (e["protocol"], e["app"], e["kind"], e.get("name"), e.get("instance") or "") == want
                 and e["key"].startswith(p["app"] + "/staging/")]
        if not cands:
            errors.append("%s push %d (%s %s %s, instance %r): no access log line of a stored push with its metadata"
                          % (scen, p["seq"], p["protocol"], p["app"], p["kind"], p.get("instance")))
            continue
        pool.remove(cands[0])
    for e in pool:
        errors.append("stored push logged that the emulator did not make: %s" % json.dumps(e))
    print("%d successful pushes, %d access log lines of stored pushes, %d left over" % (n, len(lines), len(pool)))
    for e in errors[:40]:
        print("FAIL: " + e, file=sys.stderr)
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--staged")
    ap.add_argument("--events")
    ap.add_argument("--access-log")
    ap.add_argument("--agents")
    ap.add_argument("outs", nargs="+")
    a = ap.parse_args()
    if a.access_log:
        return access_log(a.access_log, a.outs)
    if not a.staged:
        ap.error("--staged or --access-log is required")

    staged = [json.loads(l) for l in open(a.staged) if l.strip()]
    pool = list(staged)
    errors = []
    matched = []
    pushes = 0
    for out in a.outs:
        man = json.load(open(os.path.join(out, "manifest.json")))
        for p in man["pushes"]:
            if p["status"] != 200:
                continue
            pushes += 1
            cands = [s for s in pool if record_matches(p, s)]
            if p.get("expect"):
                cands = [s for s in cands if s.get("members") == 1]
            else:
                cands = [s for s in cands if s["first_member_sha256"] == p["profile_sha256"] and s.get("members") == 2]
            if not cands:
                errors.append("%s push %d (%s %s, instance %r): no staged object with its record and bytes"
                              % (man["scenario"], p["seq"], p["app"], p["kind"], p.get("instance")))
                continue
            s = cands[0]
            pool.remove(s)
            matched.append((man["scenario"], p, s))
            rec = s["record"]
            if s["time_nanos"] and rec.get("time") != s["time_nanos"]:
                errors.append("%s push %d: record time %s, profile time_nanos %s"
                              % (man["scenario"], p["seq"], rec.get("time"), s["time_nanos"]))
            if p.get("expect"):
                if not a.agents or "file" not in s:
                    errors.append("%s push %d: transformed push needs --agents and a dumped file"
                                  % (man["scenario"], p["seq"]))
                    continue
                r = subprocess.run([a.agents, "compare", os.path.join(out, p["expect"]), "--", s["file"]],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                if r.returncode != 0:
                    errors.append("%s push %d: stored profile differs from the expected delta: %s"
                                  % (man["scenario"], p["seq"], r.stderr.strip()))
    for s in pool:
        rec = s.get("record") or {}
        errors.append("staged object %s (%s) matches no push" % (s["key"], rec.get("kind")))
    print("%d successful pushes, %d staged objects matched, %d left over" % (pushes, len(matched), len(pool)))

    if a.events:
        evs = {}
        for l in open(a.events):
            if not l.strip():
                continue
            e = json.loads(l)
            if e["type"] == "profile.uploaded":
                evs[e["payload"]["profileKey"]] = e["payload"]
        n = 0
        for scen, p, s in matched:
            e = evs.get(s["key"])
            if not e:
                errors.append("%s push %d: no profile.uploaded for %s" % (scen, p["seq"], s["key"]))
                continue
            rec = dict(s["record"])
            rec.pop("received", None)
            got = {k: e[k] for k in ("kind", "mode", "source", "name", "labels", "instance", "time") if k in e}
            if got != rec or e.get("app") != s["app"]:
                errors.append("%s push %d: event %s differs from the record %s" % (scen, p["seq"], e, rec))
            n += 1
        print("%d events carry their upload's metadata" % n)

    for e in errors[:40]:
        print("FAIL: " + e, file=sys.stderr)
    if errors:
        print("%d mismatches" % len(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
