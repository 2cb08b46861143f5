-- Files one request per call, each for a different file (a random SHA-256), so that
-- none is refused as already pending.
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
local token = os.getenv("TOKEN")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token
request = function()
  local hex = {}
  for i = 1, 64 do hex[i] = string.format("%x", math.random(0, 15)) end
  local body = '{"event": {"computer": "lakeside-fd-01", "user": "LAKESIDE\\\\amy", ' ..
    '"path": "C:\\\\Users\\\\amy\\\\Downloads\\\\tool.exe", "sha256": "' .. table.concat(hex) ..
    '", "time": "2026-11-22T10:00:00Z"}, "message": "load"}'
  return wrk.format(nil, "/api/v1/requests", nil, body)
end
done = function(summary, latency, requests)
  io.write(string.format("requests %d, errors %d (status %d), p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
