-- wrk script: POST the body in $BODY_FILE as JSON, and print the latency percentiles
-- (p50, p99, p99.9, in milliseconds) and requests/s as one line at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT req/s=%.0f p50_ms=%.3f p99_ms=%.3f p99.9_ms=%.3f errors=%d requests=%d\n",
    summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, errors, summary.requests))
end
