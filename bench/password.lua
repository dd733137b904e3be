-- wrk script: password grant logins with the right password (BENCH_USER/BENCH_PASSWORD),
-- to measure the argon2id cost and what a login flood leaves for other requests.
wrk.method = "POST"
wrk.body = "grant_type=password&username=" .. os.getenv("BENCH_USER")
        .. "&password=" .. os.getenv("BENCH_PASSWORD")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

dofile("bench/report.lua")
