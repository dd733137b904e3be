"""Turns bench/run.sh's RESULT lines (stdin) into ratios against openssl's sign rate."""
import os
import sys

sign = float(os.environ["SIGN_RATE"])
sign_ms = 1000 / sign
rows = {}
for line in sys.stdin:
    name, *pairs = line.split()
    kv = dict(p.split("=") for p in pairs)
    rows[(name, int(kv["conns"]))] = {k: float(v) for k, v in kv.items()}


def verdict(ok):
    return "ok" if ok else "MISSED"


t32, t1 = rows.get(("token", 32)), rows.get(("token", 1))
print()
# tessera's own CPU per request against one signature on the same core: unlike the
# throughput ratio it does not depend on where wrk or PostgreSQL run.
sign_us = 1e6 / sign
print(f"one RSA-2048 signature (openssl, same core): {sign_us:.0f} us")
for (name, conns), r in sorted(rows.items()):
    if r.get("cpu_us"):
        line = (f"  {name} @{conns}: tessera CPU {r['cpu_us']:.0f} us/request = "
                f"{r['cpu_us'] / sign_us:.2f} x one signature")
        if r.get("db_cpu_us"):
            line += f"; PostgreSQL CPU {r['db_cpu_us']:.0f} us/request"
        print(line)
c = rows.get(("token", 32))
if c and c.get("cpu_us"):
    x = c["cpu_us"] / sign_us
    print(f"tessera CPU per RS256 token / one signature: {x:.2f} (target <= 1.08) {verdict(x <= 1.08)}")
r = rows.get(("refresh", 32))
if r and r.get("cpu_us") and os.environ.get("BENCH_POSTGRES"):
    x = r["cpu_us"] / sign_us
    print(f"tessera CPU per refresh (PostgreSQL) / one signature: {x:.2f} (target <= 1.25) {verdict(x <= 1.25)}")
if t32:
    ratio = t32["rps"] / sign
    print(f"tokens/s @32 / openssl sign/s: {ratio:.3f} (target >= 0.85, errors {int(t32['errors'])}) "
          f"{verdict(ratio >= 0.85 and t32['errors'] == 0)}")
    tail = t32["p99_ms"] / t32["p50_ms"]
    print(f"p99 / p50 @32: {tail:.2f} (target <= 2) {verdict(tail <= 2)}")
if t1:
    p50x = t1["p50_ms"] / sign_ms
    print(f"p50 @1 / one signature ({sign_ms:.3f} ms): {p50x:.2f}x (target < 1.5x) {verdict(p50x < 1.5)}")
pk = rows.get(("token-pkjwt", 32))
if pk:
    ratio = pk["rps"] / sign
    print(f"private_key_jwt tokens/s @32 / openssl sign/s: {ratio:.3f} (target >= 0.75, errors {int(pk['errors'])}) "
          f"{verdict(ratio >= 0.75 and pk['errors'] == 0)}")
dp = rows.get(("token-dpop", 32))
if dp and t32:
    x = dp["rps"] / t32["rps"]
    print(f"DPoP-bound tokens/s @32 / plain tokens/s: {x:.3f} (target >= 0.85, errors {int(dp['errors'])}) "
          f"{verdict(x >= 0.85 and dp['errors'] == 0)}")
    extra_us = 1e6 / dp["rps"] - 1e6 / t32["rps"]
    allowed_us = 1e6 / (0.85 * t32["rps"]) - 1e6 / t32["rps"]
    verify = os.environ.get("VERIFY_RATE")
    if verify:
        verify_us = 1e6 / float(verify)
        print(f"  a proof costs {extra_us:.0f} us of core time per token (the target allows {allowed_us:.0f} us); "
              f"one P-256 verification alone is {verify_us:.0f} us (openssl, same core)")
for name, what in (("token-federated", "federated client_credentials (RS256 platform token verified)"),
                   ("token-exchange", "token exchange (RS256 tessera token verified)")):
    r = rows.get((name, 32))
    if r:
        ratio = r["rps"] / sign
        print(f"{what} tokens/s @32 / openssl sign/s: {ratio:.3f} (target >= 0.85, errors {int(r['errors'])}) "
              f"{verdict(ratio >= 0.85 and r['errors'] == 0)}")
tr = rows.get(("token-traced", 32))
if tr:
    ratio = tr["rps"] / sign
    line = (f"traced client_credentials (spans exported over OTLP/HTTP) tokens/s @32 / openssl sign/s: "
            f"{ratio:.3f} (target >= 0.85, errors {int(tr['errors'])}) {verdict(ratio >= 0.85 and tr['errors'] == 0)}")
    if t32:
        line += f"; {tr['rps'] / t32['rps']:.3f} of untraced"
    print(line)
es = rows.get(("token-es256", 32))
if es and t32:
    x = es["rps"] / t32["rps"]
    print(f"ES256 tokens/s @32 / RS256 tokens/s: {x:.1f}x ({es['rps']:.0f}/s, target >= 8x, errors {int(es['errors'])}) "
          f"{verdict(x >= 8 and es['errors'] == 0)}")
r = rows.get(("refresh", 32))
if r:
    ratio = r["rps"] / sign
    target = 0.6 if os.environ.get("BENCH_POSTGRES") else 0.75
    print(f"refreshes/s @32 / openssl sign/s: {ratio:.3f} (target >= {target}, errors {int(r['errors'])}) "
          f"{verdict(ratio >= target and r['errors'] == 0)}")
mp = rows.get(("many-params", 1))
if mp:
    print(f"a body of 10,000 parameters (refused, 1 conn): p50 {mp['p50_ms']:.2f} ms, p99 {mp['p99_ms']:.2f} ms "
          f"(target < 5 ms) {verdict(mp['p50_ms'] < 5)}")
flood, during = rows.get(("password-flood", 8)), rows.get(("token-during-flood", 32))
if flood and during and t32:
    kept = during["rps"] / t32["rps"]
    print(f"password logins/s (default argon2id, 8 conns): {flood['rps']:.1f}, p50 {flood['p50_ms']:.0f} ms, "
          f"errors {int(flood['errors'])}")
    print(f"client_credentials during the flood / alone: {kept:.2f} (target > 0.5) {verdict(kept > 0.5)}")
first, second = rows.get(("django-first-login", 8)), rows.get(("django-second-login", 8))
during = rows.get(("token-during-django-flood", 32))
if first:
    print(f"first logins of Django-imported users/s (PBKDF2 1,000,000 rounds + argon2id rehash, 8 conns): "
          f"{first['rps']:.1f}, p50 {first['p50_ms']:.0f} ms, errors {int(first['errors'])}")
if second:
    print(f"second logins of the same users/s (argon2id, 8 conns): {second['rps']:.1f}, "
          f"p50 {second['p50_ms']:.0f} ms, errors {int(second['errors'])}")
if during and t32:
    kept = during["rps"] / t32["rps"]
    print(f"client_credentials during the Django first-login flood / alone: {kept:.2f} (target > 0.5) "
          f"{verdict(kept > 0.5)}")
for name, target in (("jwks", 30000), ("jwks-304", 30000)):
    r = rows.get((name, 32))
    if r:
        print(f"{name} req/s @32: {r['rps']:.0f} (target >= {target}, errors {int(r['errors'])}) "
              f"{verdict(r['rps'] >= target and r['errors'] == 0)}")
