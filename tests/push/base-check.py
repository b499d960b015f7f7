#!/usr/bin/env python3
"""base-check.py — does a merged base hold what the pushes of an agent
scenario say it must? Every total is read by Go's own `go tool pprof` (the
reference), never by pgopipe's code or the emulator's.

    base-check.py totals EXPECTED... -- BASE
        The base's total of every sample type, by `go tool pprof -raw`
        (exact) and by `go tool pprof -top -sample_index=I` ("of N total",
        in B or ns for bytes and nanoseconds), equals the sum of the
        EXPECTED profiles' (the emulator's expected contributions: a merge
        adds totals up). Each tool is compared with itself: -raw leaves out
        samples without a stack (Go's threadcreate profile has one) that
        -top counts, and `go tool pprof -proto` drops them.

    base-check.py semantics OUT APP KIND BASE [--naive]
        The base's totals follow from the profiles the pushes of (APP, KIND)
        sent (OUT/manifest.json, OUT/sent/), by the kinds' rules:
          - counter columns: a delta push adds its totals (an old Pyroscope
            client's: profile - prev_profile); the cumulative pushes of one
            instance add the last snapshot of each life of the process (a
            life starts at the instance's first push and at every push the
            emulator marks as following a restart) — never the sum of the
            snapshots;
          - gauge columns (inuse_*, goroutine): the latest push of each
            instance, summed over the instances.
        --naive expects instead the plain sum of every push (what a server
        that neither takes differences nor keeps the latest gauge would
        hold): the negative control, which must fail.

    base-check.py last-snapshot OUT APP KIND BASE [INSTANCE]
        The pushes of INSTANCE (default: the only instance) to (APP, KIND)
        are N >= 2 cumulative snapshots without a restart: what they add to
        the base's counter totals (the base's totals less the other
        instances' parts, by the rules above) equals the last snapshot's
        totals, and differs from the sum of the N snapshots.

    base-check.py counts OUT METRICS
        What the worker counted (METRICS: its Prometheus text) agrees with
        the pushes: pgopipe_worker_kind_uploads_total per kind equals the
        successful pushes of that kind; for the kinds with counter columns,
        pgopipe_worker_first_snapshots_total equals the instances that sent
        cumulative snapshots and pgopipe_worker_instance_restarts_total the
        cumulative pushes that follow a restart.

The environment must let `go tool pprof` run (GOCACHE, PPROF_TMPDIR).
Prints what it compared; exit 0 when everything matches, 1 otherwise, 2 on
usage or unreadable input.
"""
import json
import os
import re
import subprocess
import sys

GAUGES = {"inuse_objects", "inuse_space", "goroutine"}
SAMPLE = re.compile(r"^\s*(-?\d+(?:\s+-?\d+)*):\s")
_raw_cache = {}


def pprof(*args):
    r = subprocess.run(["go", "tool", "pprof"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("go tool pprof %s: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def raw_totals(path):
    """(sample types as TYPE/UNIT, totals) of a profile by `go tool pprof -raw`."""
    if path in _raw_cache:
        return _raw_cache[path]
    types, totals, state = None, None, 0
    for line in pprof("-raw", path).splitlines():
        if state == 0:
            if line.startswith("Samples:"):
                state = 1
        elif state == 1:
            types = [t.replace("[dflt]", "") for t in line.split()]
            totals = [0] * len(types)
            state = 2
        elif line.startswith("Locations") or line.startswith("Mappings"):
            break
        else:
            m = SAMPLE.match(line)
            if m:
                vals = [int(v) for v in m.group(1).split()]
                if len(vals) != len(types):
                    raise RuntimeError("%s: sample line %r has %d values for %d types" %
                                       (path, line, len(vals), len(types)))
                for i, v in enumerate(vals):
                    totals[i] += v
    if types is None:
        raise RuntimeError("%s: no Samples section in go tool pprof -raw" % path)
    _raw_cache[path] = (types, totals)
    return types, totals


def top_total(path, index, unit):
    """The "of N total" figure of `go tool pprof -top` for one sample type."""
    args = ["-top", "-sample_index=%d" % index]
    unit_flag = {"bytes": "B", "nanoseconds": "ns"}.get(unit)
    if unit_flag:
        args.append("-unit=" + unit_flag)
    out = pprof(*(args + [path]))
    m = re.search(r"of (\S+) total", out)
    if not m:
        raise RuntimeError("%s: no total in go tool pprof -top -sample_index=%d" % (path, index))
    return m.group(1)


def is_gauge(sample_type):
    return sample_type.split("/")[0] in GAUGES


def top_number(path, index, unit):
    """top_total as an integer (exact: bytes in B, nanoseconds in ns)."""
    t = top_total(path, index, unit)
    m = re.match(r"^(-?\d+)(B|ns)?$", t)
    if not m:
        raise RuntimeError("%s: go tool pprof -top total %r is not an exact integer" % (path, t))
    return int(m.group(1))


def cmd_totals(args):
    if "--" not in args or args.index("--") < 1 or args.index("--") != len(args) - 2:
        return usage()
    sep = args.index("--")
    expected, base = args[:sep], args[-1]
    gt, gv = raw_totals(base)
    wv = [0] * len(gt)
    for f in expected:
        t, v = raw_totals(f)
        if t != gt:
            print("sample types: %s has %s, the base %s" % (f, t, gt), file=sys.stderr)
            return 1
        wv = add(wv, v)
    bad = 0
    for i, st in enumerate(gt):
        unit = st.split("/")[1]
        gtop = top_number(base, i, unit)
        wtop = sum(top_number(f, i, unit) for f in expected)
        same = wv[i] == gv[i] and wtop == gtop
        bad += not same
        print("%s %s: -raw total %d (expected %d), -top total %d (expected %d)"
              % ("ok" if same else "DIFFERENT", st, gv[i], wv[i], gtop, wtop),
              file=sys.stdout if same else sys.stderr)
    return 1 if bad else 0


def pushes_of(out, app, kind):
    man = json.load(open(os.path.join(out, "manifest.json")))
    ps = [p for p in man["pushes"] if p["app"] == app and p["kind"] == kind and p["status"] == 200]
    for p in ps:
        if not p.get("sent"):
            raise RuntimeError("push %d has no sent profile in the manifest" % p["seq"])
    return sorted(ps, key=lambda p: p["seq"])


def totals_of(out, rel, types):
    t, v = raw_totals(os.path.join(out, rel))
    if t != types:
        raise RuntimeError("%s: sample types %s, the base's %s" % (rel, t, types))
    return v


def add(a, b, k=1):
    return [x + k * y for x, y in zip(a, b)]


def expected_totals(out, ps, types):
    """What the kinds' rules make of the pushes ps (in order): (the totals
    per column, the counter part of each instance, words saying how)."""
    gauge = [is_gauge(t) for t in types]
    counters = [0] * len(types)
    per_inst = {}  # instance -> its counter part
    latest = {}  # instance -> the totals of its latest push
    lives = {}  # instance -> [totals of the last snapshot of each life]
    deltas = 0
    for p in ps:
        inst = p.get("instance") or ""
        v = totals_of(out, p["sent"], types)
        latest[inst] = v
        if p["mode"] == "cumulative":
            if inst not in lives or p.get("reset"):
                lives.setdefault(inst, []).append(v)
            else:
                lives[inst][-1] = v
        else:
            if p.get("sent_prev"):
                v = add(v, totals_of(out, p["sent_prev"], types), -1)
            counters = add(counters, v)
            per_inst[inst] = add(per_inst.get(inst, [0] * len(types)), v)
            deltas += 1
    for inst in sorted(lives):
        for v in lives[inst]:
            counters = add(counters, v)
            per_inst[inst] = add(per_inst.get(inst, [0] * len(types)), v)
    want = [0 if g else c for g, c in zip(gauge, counters)]
    for v in latest.values():
        for i, g in enumerate(gauge):
            if g:
                want[i] += v[i]
    how = []
    if deltas:
        how.append("%d delta pushes summed" % deltas)
    if lives:
        how.append("the last snapshot of each life: %s" % ", ".join(
            "%s %d" % (repr(i) if i else "(anonymous)", len(lives[i])) for i in sorted(lives)))
    if any(gauge):
        how.append("gauges of the latest push of %d instance(s)" % len(latest))
    return want, per_inst, how


def cmd_semantics(args):
    naive = "--naive" in args
    args = [a for a in args if a != "--naive"]
    if len(args) != 4:
        return usage()
    out, app, kind, base = args
    types, got = raw_totals(base)
    ps = pushes_of(out, app, kind)
    if not ps:
        print("no successful push of %s/%s in the manifest" % (app, kind), file=sys.stderr)
        return 2
    if naive:
        want = [0] * len(types)
        for p in ps:
            want = add(want, totals_of(out, p["sent"], types))
        how = ["the plain sum of the %d pushes" % len(ps)]
    else:
        want, _, how = expected_totals(out, ps, types)
    bad = 0
    for i, st in enumerate(types):
        same = want[i] == got[i]
        bad += not same
        print("%s %s/%s %s: base %d, expected %d" % ("ok" if same else "DIFFERENT", app, kind, st, got[i], want[i]),
              file=sys.stdout if same or naive else sys.stderr)
    print("  (%d pushes; %s)" % (len(ps), "; ".join(how)))
    sys.stdout.flush()
    return 1 if bad else 0


def cmd_last_snapshot(args):
    if len(args) not in (4, 5):
        return usage()
    out, app, kind, base = args[:4]
    types, got = raw_totals(base)
    ps = pushes_of(out, app, kind)
    insts = sorted({p.get("instance") or "" for p in ps})
    if len(args) == 5:
        inst = args[4]
    elif len(insts) == 1:
        inst = insts[0]
    else:
        print("%s/%s: pushes of %d instances, name one" % (app, kind, len(insts)), file=sys.stderr)
        return 2
    mine = [p for p in ps if (p.get("instance") or "") == inst]
    if len(mine) < 2 or any(p["mode"] != "cumulative" for p in mine) or any(p.get("reset") for p in mine[1:]):
        print("%s/%s: instance %r: want >= 2 cumulative snapshots without a restart, have %d pushes"
              % (app, kind, inst, len(mine)), file=sys.stderr)
        return 2
    # the other instances' counter parts, by the kinds' rules
    _, per_inst, _ = expected_totals(out, ps, types)
    others = [0] * len(types)
    for i, v in per_inst.items():
        if i != inst:
            others = add(others, v)
    last = totals_of(out, mine[-1]["sent"], types)
    total = [0] * len(types)
    for p in mine:
        total = add(total, totals_of(out, p["sent"], types))
    bad, checked = 0, 0
    for i, st in enumerate(types):
        if is_gauge(st):
            continue
        checked += 1
        part = got[i] - others[i]
        ok = part == last[i] and part != total[i]
        bad += not ok
        print("%s %s/%s %s: the %d snapshots of instance %s add %d to the base (the last snapshot %d, their sum %d)%s" %
              ("ok" if ok else "WRONG", app, kind, st, len(mine), inst or "(anonymous)", part, last[i], total[i],
               "; the other instances add %d" % others[i] if len(insts) > 1 else ""),
              file=sys.stdout if ok else sys.stderr)
    if not checked:
        print("%s/%s has no counter column" % (app, kind), file=sys.stderr)
        return 2
    return 1 if bad else 0


COUNTER_KINDS = {"heap", "mutex", "block", "threadcreate"}


def metric_values(path, name):
    vals = {}
    for line in open(path):
        m = re.match(r'^%s\{kind="([a-z]+)"\} (\S+)$' % re.escape(name), line.strip())
        if m:
            vals[m.group(1)] = int(float(m.group(2)))
    return vals


def cmd_counts(args):
    if len(args) != 2:
        return usage()
    out, metrics = args
    man = json.load(open(os.path.join(out, "manifest.json")))
    ps = sorted((p for p in man["pushes"] if p["status"] == 200), key=lambda p: p["seq"])
    uploads, first, restarts = {}, {}, {}
    seen = set()
    for p in ps:
        k = p["kind"]
        uploads[k] = uploads.get(k, 0) + 1
        if p["mode"] != "cumulative" or k not in COUNTER_KINDS:
            continue
        inst = (p["app"], k, p.get("instance") or "")
        if inst not in seen:
            seen.add(inst)
            first[k] = first.get(k, 0) + 1
        elif p.get("reset"):
            restarts[k] = restarts.get(k, 0) + 1
    bad = 0
    for name, want in (("pgopipe_worker_kind_uploads_total", uploads),
                       ("pgopipe_worker_first_snapshots_total", first),
                       ("pgopipe_worker_instance_restarts_total", restarts)):
        got = {k: v for k, v in metric_values(metrics, name).items() if v}
        same = got == want
        bad += not same
        print("%s %s: %s (from the pushes: %s)" % ("ok" if same else "DIFFERENT", name, got, want),
              file=sys.stdout if same else sys.stderr)
    return 1 if bad else 0


def usage():
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


def main():
    if len(sys.argv) < 2:
        return usage()
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"totals": cmd_totals, "semantics": cmd_semantics, "last-snapshot": cmd_last_snapshot,
          "counts": cmd_counts}.get(cmd)
    if not fn:
        return usage()
    try:
        return fn(args)
    except (RuntimeError, OSError, ValueError, KeyError) as e:
        print("base-check: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
