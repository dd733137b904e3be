-- wrk script: a token request whose body carries 10,000 distinct parameters (~57 KB),
-- as the form-parsing attack sent them. The answer is 400 invalid_request (counted as
-- "errors" by wrk's status check); what matters is how long the server takes for it.
-- BENCH_AUTH (base64 of id:secret) comes from the environment (set by bench/run.sh).
local parts = {"grant_type=client_credentials"}
for i = 0, 9999 do
  parts[#parts + 1] = string.format("%x", i)
end
wrk.method = "POST"
wrk.body = table.concat(parts, "&")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")

dofile("bench/report.lua")
