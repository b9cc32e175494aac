-- wrk script: recordUsage with the SDK keys in $BENCH_KEYS (one per line), a unique
-- idempotency key per request. Prints one JSON line with the figures when done.
local threads = {}
local next_id = 1

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  keys = {}
  for line in io.lines(os.getenv("BENCH_KEYS")) do
    keys[#keys + 1] = line
  end
  run = os.getenv("BENCH_RUN") or "run"
  counter = 0
  errors = 0
  sample = nil
end

function request()
  counter = counter + 1
  local key = keys[((counter + id * 7) % #keys) + 1]
  local body = '{"query":"mutation($i: RecordUsageInput!) { recordUsage(input: $i) { used } }",'
    .. '"variables":{"i":{"metric":"recordings","idempotencyKey":"'
    .. run .. '-' .. id .. '-' .. counter .. '"}}}'
  return wrk.format("POST", "/graphql",
    { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }, body)
end

function response(status, headers, body)
  if status ~= 200 or string.find(body, '"errors"', 1, true) then
    errors = errors + 1
    if sample == nil then sample = body end
  end
end

function done(summary, latency, requests)
  local errs = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  local sample_body = ""
  for _, thread in ipairs(threads) do
    errs = errs + thread:get("errors")
    local s = thread:get("sample")
    if s ~= nil and sample_body == "" then sample_body = s end
  end
  io.write(string.format(
    '{"requests": %d, "rps": %.1f, "p50_ms": %.2f, "p99_ms": %.2f, "errors": %d, "sample_error": %q}\n',
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, errs, sample_body:sub(1, 300)))
end
