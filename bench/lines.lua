-- wrk script: one pre-signed request per line of the file BENCH_LINES, each line used
-- once (client assertions and DPoP proofs carry single-use ids), in order.
--   BENCH_MODE=body: each line is a whole form body (private_key_jwt requests)
--   BENCH_MODE=dpop: each line is a DPoP header; the body is client_credentials with
--                    HTTP Basic BENCH_AUTH
-- Lines running out shows up as errors (the exhausted requests are refused).
wrk.method = "POST"
local mode = os.getenv("BENCH_MODE") or "body"
local auth = os.getenv("BENCH_AUTH")

local lines = {}
for line in io.lines(os.getenv("BENCH_LINES")) do
  if #line > 0 then lines[#lines + 1] = line end
end
local next_line = 0

request = function()
  next_line = next_line + 1
  local line = lines[next_line] or "exhausted"
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if mode == "dpop" then
    headers["Authorization"] = "Basic " .. auth
    headers["DPoP"] = line
    return wrk.format(nil, nil, headers, "grant_type=client_credentials")
  end
  return wrk.format(nil, nil, headers, line)
end

dofile("bench/report.lua")
