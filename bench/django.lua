-- wrk script: password-grant logins of users imported from Django (bench/run.sh makes
-- them: dj1 … djN, password BENCH_DJANGO_PASSWORD), each request the next user, so a
-- run over fresh users measures first logins (Django's PBKDF2, then the argon2id
-- rehash) and a run wrapping at BENCH_DJANGO_USERS measures logins of users already
-- moved to argon2id.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic " .. os.getenv("BENCH_AUTH")
local users = tonumber(os.getenv("BENCH_DJANGO_USERS"))
local password = os.getenv("BENCH_DJANGO_PASSWORD")
local n = 0

request = function()
  n = n % users + 1
  return wrk.format(nil, nil, nil,
    "grant_type=password&username=dj" .. n .. "&password=" .. password)
end

dofile("bench/report.lua")
