-- wrk script: logins, one after another, with the owners in $BENCH_LOGINS ("email password"
-- per line). The storm beside the SDK load.
function init(args)
  logins = {}
  for line in io.lines(os.getenv("BENCH_LOGINS")) do
    local email, password = line:match("^(%S+) (.+)$")
    logins[#logins + 1] = { email, password }
  end
  counter = 0
end

function request()
  counter = counter + 1
  local who = logins[(counter % #logins) + 1]
  local body = '{"query":"mutation($i: LoginInput!) { login(input: $i) { token } }",'
    .. '"variables":{"i":{"email":"' .. who[1] .. '","password":"' .. who[2] .. '"}}}'
  return wrk.format("POST", "/graphql", { ["Content-Type"] = "application/json" }, body)
end

function done(summary, latency, requests)
  io.write(string.format('{"logins": %d, "login_p50_ms": %.2f}\n',
    summary.requests, latency:percentile(50) / 1000))
end
