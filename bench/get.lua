-- wrk script: GET with optional If-None-Match (BENCH_INM), latency percentiles at the end.
local inm = os.getenv("BENCH_INM")
if inm and inm ~= "" then wrk.headers["If-None-Match"] = inm end

dofile("bench/report.lua")
