-- wrk script for tests/serve/test_serve_wrk.sh: POSTs one /get_reward body over and over and
-- counts every status. Arguments (after --): BODY_FILE [EXPECTED_FILE]. A 200 whose body differs
-- from EXPECTED_FILE (the answer to the same body sent alone) is counted as mismatched: scores must
-- not depend on what a request was batched with. A 429 without Retry-After is counted too.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  return text
end

function init(args)
  wrk.method = "POST"
  wrk.body = slurp(args[1])
  wrk.headers["Content-Type"] = "application/json"
  expected = args[2] and slurp(args[2]) or nil
  ok, refused, other, mismatched, no_retry_after = 0, 0, 0, 0, 0
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if expected and body ~= expected then mismatched = mismatched + 1 end
  elseif status == 429 then
    refused = refused + 1
    if not headers["Retry-After"] then no_retry_after = no_retry_after + 1 end
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local total = {ok = 0, refused = 0, other = 0, mismatched = 0, no_retry_after = 0}
  for _, thread in ipairs(threads) do
    for key, _ in pairs(total) do total[key] = total[key] + thread:get(key) end
  end
  local e = summary.errors
  io.write(string.format("STATUS ok=%d refused=%d other=%d mismatched=%d no_retry_after=%d\n", total.ok,
                         total.refused, total.other, total.mismatched, total.no_retry_after))
  io.write(string.format("ERRORS connect=%d read=%d write=%d timeout=%d\n", e.connect, e.read, e.write, e.timeout))
  io.write(string.format("FIGURES requests_per_s=%.1f p50_ms=%.2f p99_ms=%.2f\n",
                         summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
                         latency:percentile(99) / 1000))
end
