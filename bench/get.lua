-- wrk script: GET with optional If-None-Match (BENCH_INM) and Cookie (BENCH_COOKIE, a
-- console session), latency percentiles at the end.
local inm = os.getenv("BENCH_INM")
if inm and inm ~= "" then wrk.headers["If-None-Match"] = inm end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end

dofile("bench/report.lua")
