-- wrk script: refresh_token grant, each token used once. Tokens come from the file
-- BENCH_TOKENS (one per line, at least one per connection); every response's new
-- refresh token goes back into the pool, so each chain keeps rotating.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

local pool = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do
  if #line > 0 then table.insert(pool, line) end
end

request = function()
  local token = table.remove(pool)
  if token == nil then token = "pool-exhausted" end
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
end

response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(pool, token) end
end

dofile("bench/report.lua")
