-- push-bench.lua — wrk script for tests/bench/push-bench.sh: Pyroscope-shaped
-- pushes as pyroscope-go sends them (POST /ingest, name=SERVICE{__session_id__=
-- ...,env=bench}, from/until in ns, a multipart body with the "profile" part
-- and, for heap, the sample_type_config part) from PGOPIPE_BENCH_INSTANCES
-- simulated processes (default 1000), each pushing a CPU profile and then a
-- heap profile per 15 s window; the windows are compressed (sent as fast as
-- the server answers). The bodies are real Go profiles
-- (PGOPIPE_BENCH_CPU, PGOPIPE_BENCH_HEAP). done() prints one summary line.
local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local b = f:read("*a")
  f:close()
  return b
end

local boundary = "d8f6c1b0e5a94c3fb2a17e0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281"
local stc = '{"alloc_objects":{"units":"objects"},"alloc_space":{"units":"bytes"},' ..
            '"inuse_objects":{"units":"objects","aggregation":"average"},' ..
            '"inuse_space":{"units":"bytes","aggregation":"average"}}'

local function part(name, filename, data)
  return "--" .. boundary .. "\r\n" ..
         'Content-Disposition: form-data; name="' .. name .. '"; filename="' .. filename .. '"\r\n' ..
         "Content-Type: application/octet-stream\r\n\r\n" .. data .. "\r\n"
end

local cpu_body = part("profile", "profile.pprof", slurp(os.getenv("PGOPIPE_BENCH_CPU"))) ..
                 "--" .. boundary .. "--\r\n"
local heap_body = part("profile", "profile.pprof", slurp(os.getenv("PGOPIPE_BENCH_HEAP"))) ..
                  part("sample_type_config", "sample_type_config.json", stc) ..
                  "--" .. boundary .. "--\r\n"
local instances = tonumber(os.getenv("PGOPIPE_BENCH_INSTANCES") or "1000")
local service = os.getenv("PGOPIPE_BENCH_SERVICE") or "bench-svc"
local headers = {["Content-Type"] = "multipart/form-data; boundary=" .. boundary}
local token = os.getenv("PGOPIPE_AUTH_TOKEN")
if token and token ~= "" then headers["Authorization"] = "Bearer " .. token end

-- Thread t of T (PGOPIPE_BENCH_THREADS, wrk's -t) sends its pushes c = 0, 1,
-- ...: kind c % 2 (CPU, then heap) of process n = (c / 2) * T + t, i.e.
-- instance n % instances in window n / instances.
local nthreads = tonumber(os.getenv("PGOPIPE_BENCH_THREADS") or "1")
local next_id = 0
local counter = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  counter = 0
  start_ns = 1763800000 * 1000000000
end

function request()
  local c = counter
  counter = counter + 1
  local kind = c % 2
  local n = math.floor(c / 2) * nthreads + id
  local inst = n % instances
  local window = math.floor(n / instances)
  local from = start_ns + window * 15000000000
  local name = string.format("%s%%7B__session_id__%%3D%016x%%2Cenv%%3Dbench%%7D", service, inst + 0x1000)
  local path = string.format("/ingest?name=%s&from=%d&until=%d&spyName=gospy&sampleRate=100&units=%s&aggregationType=%s",
                             name, from, from + 15000000000, kind == 0 and "samples" or "",
                             kind == 0 and "sum" or "")
  return wrk.format("POST", path, headers, kind == 0 and cpu_body or heap_body)
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errs = summary.errors
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d connect_err=%d read_err=%d write_err=%d timeouts=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, errs.status, errs.connect, errs.read, errs.write, errs.timeout))
end
