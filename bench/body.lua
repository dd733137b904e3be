-- wrk script: the same form body (BENCH_BODY) every time, with HTTP Basic BENCH_AUTH
-- when set: federated client_credentials (platform tokens are reusable) and token
-- exchange (the subject token is too).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local auth = os.getenv("BENCH_AUTH")
if auth and #auth > 0 then
  wrk.headers["Authorization"] = "Basic " .. auth
end

dofile("bench/report.lua")
