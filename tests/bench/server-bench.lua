-- server-bench.lua — wrk script for tests/bench/server-bench.sh: every request
-- POSTs the same real gzipped CPU profile (PGOPIPE_BENCH_PROFILE) to
-- /api/profile/bench; done() prints one machine-readable summary line.
local f = assert(io.open(os.getenv("PGOPIPE_BENCH_PROFILE"), "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.path = "/api/profile/" .. (os.getenv("PGOPIPE_BENCH_APP") or "bench")
wrk.body = body
wrk.headers["Content-Type"] = "application/octet-stream"
local token = os.getenv("PGOPIPE_AUTH_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d body_bytes=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errs.status, errs.connect, errs.read, errs.write, errs.timeout, #body))
end
