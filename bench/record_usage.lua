-- wrk script: recordUsage with the SDK keys in $BENCH_KEYS (one per line), a unique
-- idempotency key per request ($BENCH_RUN-thread-n). Prints one JSON line with the figures.
-- With BENCH_EVENTS=N (N > 1) each request is one recordUsages call of N events instead, each
-- with its own key ($BENCH_RUN-thread-n-i).
-- There is no per-response Lua (it would steal the server's CPU): HTTP and socket errors are
-- counted here, and bench/run.sh counts GraphQL errors as requests that recorded no event.
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  keys = {}
  for line in io.lines(os.getenv("BENCH_KEYS")) do
    keys[#keys + 1] = line
  end
  run = os.getenv("BENCH_RUN") or "run"
  events = tonumber(os.getenv("BENCH_EVENTS") or "1")
  counter = 0
end

function request()
  counter = counter + 1
  local key = keys[((counter + id * 7) % #keys) + 1]
  local body
  if events > 1 then
    local inputs = {}
    for i = 1, events do
      inputs[i] = '{"metric":"recordings","idempotencyKey":"' .. run .. '-' .. id .. '-' .. counter
        .. '-' .. i .. '"}'
    end
    body = '{"query":"mutation($i: [RecordUsageInput!]!) { recordUsages(inputs: $i) '
      .. '{ usage { used } error { code } } }","variables":{"i":[' .. table.concat(inputs, ",") .. ']}}'
  else
    body = '{"query":"mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }",'
      .. '"variables":{"i":{"metric":"recordings","idempotencyKey":"'
      .. run .. '-' .. id .. '-' .. counter .. '"}}}'
  end
  return wrk.format("POST", "/graphql",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end

function done(summary, latency, requests)
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    '{"requests": %d, "rps": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, "http_errors": %d}\n',
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errs))
end
