-- wrk script: client_credentials requests with HTTP Basic, latency percentiles at the end.
-- BENCH_AUTH (base64 of id:secret) comes from the environment (set by bench/run.sh).
wrk.method = "POST"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

dofile("bench/report.lua")
