-- Shared by the generated wrk scripts (closed loop: no delay between requests).

init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

-- One JSON line for the runner (latency in microseconds; status = non-2xx/3xx answers).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d,' ..
    ' "max_us": %d, "status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
