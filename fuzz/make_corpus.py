#!/usr/bin/env python3
"""Writes fuzz/corpus/<target>/ seeds: the inputs of the README and of the two outside
reviews (café subjects, the 4 TiB argon2 hash, hostile URLs), every Django hash format
of the tests, and well-formed JWTs, JWK Sets and DPoP proofs. Run it again after
changing it; the files are committed, the fuzzer's own growth is not.
Needs python3 with `cryptography` (for real keys)."""
import base64, hashlib, json, os, sys

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, padding
from cryptography.hazmat.primitives import hashes

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
NOW = 1_750_000_000


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def fields(*parts):
    return b"\0".join(p.encode() if isinstance(p, str) else p for p in parts)


def j(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def jws(header, claims, sig=b"signature"):
    return f"{b64u(j(header).encode())}.{b64u(j(claims).encode())}.{b64u(sig)}"


def int_b64(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(size, "big"))


# Keys are made afresh on each run: only their shape matters to the targets.
rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
rsa_pub = rsa_key.public_key().public_numbers()
RSA_JWK = {"kty": "RSA", "n": int_b64(rsa_pub.n), "e": int_b64(rsa_pub.e), "kid": "rsa-1", "use": "sig", "alg": "RS256"}
ec_key = ec.generate_private_key(ec.SECP256R1())
ec_pub = ec_key.public_key().public_numbers()
EC_JWK = {"kty": "EC", "crv": "P-256", "x": int_b64(ec_pub.x, 32), "y": int_b64(ec_pub.y, 32), "kid": "ec-1"}
ed_key = ed25519.Ed25519PrivateKey.generate()
from cryptography.hazmat.primitives import serialization
ED_X = ed_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
ED_JWK = {"kty": "OKP", "crv": "Ed25519", "x": b64u(ED_X), "kid": "ed-1"}


def signed_rs256(header, claims):
    msg = f"{b64u(j(header).encode())}.{b64u(j(claims).encode())}".encode()
    sig = rsa_key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    return f"{msg.decode()}.{b64u(sig)}"


def signed_eddsa(header, claims):
    msg = f"{b64u(j(header).encode())}.{b64u(j(claims).encode())}".encode()
    return f"{msg.decode()}.{b64u(ed_key.sign(msg))}"


# --- form: body \0 Authorization header ------------------------------------------
basic = lambda s: "Basic " + base64.b64encode(s.encode()).decode()
for i, (body, header) in enumerate([
    ("grant_type=client_credentials&scope=orders%3Aread", basic("orders:s3cret")),
    ("grant_type=client_credentials", basic("app:pa+ss%3A:w@rd")),
    ("grant_type=password&username=alice&password=a+long+passphrase", basic("app:secret")),
    ("grant_type=refresh_token&refresh_token=abc", basic("caf\u00e9:caf\u00e9")),
    ("grant_type=client_credentials&client_id=billing&client_secret=x%2By", ""),
    ("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=eyJhbGciOiJSUzI1NiJ9.e30.c2ln", ""),
    ("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-spiffe&client_assertion=a.b.c&client_id=orders", ""),
    ("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=a.b.c&subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb", basic("x:y")),
    ("scope=&grant_type=x&&flag", "basic   " + base64.b64encode(b"a:").decode()),
    ("scope=a&scope=b", "Bearer abc"),
    ("scope=%FF%FE&sc%00ope=a", basic(":")),
    ("token=abc&token_type_hint=refresh_token", basic("id-only")),
]):
    put("form", f"seed-{i:02}", fields(body, header))

# --- jwt: compact JWS, or header \0 claims ----------------------------------------
aud = "https://tessera.example"
assertion_claims = {"iss": "orders", "sub": "orders", "aud": aud, "exp": NOW + 60, "iat": NOW, "jti": "a-1"}
k8s = {"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:shop:orders", "aud": [aud], "exp": NOW + 600, "iat": NOW,
       "kubernetes.io": {"namespace": "shop", "serviceaccount": {"name": "orders"}}}
gha = {"iss": "https://token.actions.githubusercontent.com", "sub": "repo:acme/app:ref:refs/heads/main", "aud": aud, "exp": NOW + 300,
       "repository": "acme/app", "ref": "refs/heads/main"}
svid = {"sub": "spiffe://prod.example.org/ns/shop/sa/orders", "aud": [aud], "exp": NOW + 300}
cafe = {"iss": "https://issuer.example", "sub": "caf\u00e9", "aud": aud, "exp": NOW + 60, "iat": NOW}
tokens = [
    signed_rs256({"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}, assertion_claims),
    signed_rs256({"alg": "RS256", "kid": "k8s"}, k8s),
    jws({"alg": "RS256", "typ": "JWT", "kid": "gha"}, gha),
    jws({"alg": "ES256", "typ": "JOSE", "kid": "svid"}, svid),
    jws({"alg": "EdDSA", "typ": "at+jwt"}, cafe),
    jws({"alg": "HS256", "typ": "JWT"}, assertion_claims),
    jws({"alg": "none"}, assertion_claims, b""),
    jws({"alg": "RS256", "typ": "dpop+jwt"}, {"iss": "a\u0000b", "sub": "a\u0000b"}),
    jws({"alg": "PS256", "typ": "client-authentication+jwt"}, {"iss": "x", "sub": "x", "aud": [aud, "other"] * 20, "exp": NOW + 10}),
    "a.b.c.d", "..", "eyJhbGciOiJSUzI1NiJ9..", "",
]
for i, t in enumerate(tokens):
    put("jwt", f"seed-{i:02}", t)
for i, (h, c) in enumerate([({"alg": "RS256", "typ": "JWT"}, assertion_claims), ({"alg": "ES256"}, k8s),
                             ({"alg": "EdDSA", "typ": "JWT"}, cafe), ({"alg": "RS256"}, svid)]):
    put("jwt", f"fields-{i:02}", fields(j(h), j(c)))

# --- dpop: a proof, or header-overrides \0 claims (signed by the harness) ----------
url = "https://tessera.example/oauth/token"
dpop_claims = {"jti": "e1j3V_bKic8-LAEB", "htm": "POST", "htu": url, "iat": NOW}
for i, (h, c) in enumerate([
    ({}, {}),
    ({"typ": "jwt"}, {}),
    ({"alg": "RS256"}, {}),
    ({"jwk": dict(ED_JWK, d="AAAA")}, {}),
    ({}, {"htu": url + "?x=1#f", "htm": "post"}),
    ({}, {"iat": NOW - 61}),
    ({}, {"iat": NOW + 6}),
    ({}, {"jti": ""}),
    ({}, {"jti": "\u00e9" * 200}),
    ({}, {"ath": "wrong"}),
    ({}, "not json"),
    ({"jwk": RSA_JWK}, {}),
]):
    put("dpop", f"fields-{i:02}", fields(j(h), c if isinstance(c, str) else j(c)))
dpop_hdr = {"typ": "dpop+jwt", "alg": "EdDSA", "jwk": ED_JWK}
put("dpop", "proof-eddsa", signed_eddsa(dpop_hdr, dpop_claims))
put("dpop", "proof-rs256", signed_rs256({"typ": "dpop+jwt", "alg": "RS256", "jwk": {k: RSA_JWK[k] for k in ("kty", "n", "e")}}, dpop_claims))
put("dpop", "proof-private", jws({"typ": "dpop+jwt", "alg": "ES256", "jwk": dict(EC_JWK, d="AAAA")}, dpop_claims))

# --- subject_token: a token, or header-overrides \0 claims (signed by the harness) --
for i, (h, c) in enumerate([
    ({}, {}),
    ({"typ": "JWT"}, {}),
    ({"kid": "other"}, {}),
    ({"alg": "RS256"}, {}),
    ({}, {"exp": NOW}),
    ({}, {"iss": "https://evil.example"}),
    ({}, {"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}),
    ({}, {"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}),
    ({}, {"act": {"sub": "a", "act": {"sub": "b"}}, "ext": {"iss": "x", "sub": "caf\u00e9"}}),
    ({}, {"sub": None}),
]):
    put("subject_token", f"fields-{i:02}", fields(j(h), j(c)))
put("subject_token", "foreign", signed_rs256({"alg": "RS256", "typ": "at+jwt", "kid": "fuzz"}, {"iss": aud, "sub": "u", "exp": NOW + 60, "iat": NOW}))

# --- client_keys: JWK Sets and issuer bundles ---------------------------------------
pub = lambda k: {m: k[m] for m in k if m not in ("kid", "use", "alg")}
sets = [
    {"keys": [RSA_JWK]},
    {"keys": [RSA_JWK, EC_JWK, ED_JWK]},
    {"keys": [dict(EC_JWK, use="jwt-svid")], "spiffe_sequence": 1, "spiffe_refresh_hint": 300},
    {"keys": [pub(ED_JWK), {"kty": "RSA", "use": "enc", "n": RSA_JWK["n"], "e": "AQAB"}]},
    {"keys": [dict(RSA_JWK, d="AAAA")]},
    {"keys": [{"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}]},
    {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
    {"keys": [{"kty": "RSA", "n": b64u(b"\xc3" * 127 + b"\x01"), "e": "AQAB"}]},
    {"keys": [dict(ED_JWK, kid="k" * 257)]},
    {"keys": [pub(ED_JWK)] * 21},
    {"keys": []},
    {"keys": {}},
    [],
]
for i, s in enumerate(sets):
    put("client_keys", f"seed-{i:02}", j(s))
put("client_keys", "not-json", "{\"keys\": [")

# --- stored_hash: every Django format of the tests, PHC strings, the 4 TiB hash -----
hashes = [
    "pbkdf2_sha256$1000$s4ltS4ltS4lt$MOC6kSgAqd5PM42Euf5a66Qa5IxL2qZ0WULZ8snT7Oc=",
    "pbkdf2_sha1$1000$s4ltS4ltS4lt$Ibqk77RN7DlW9AwX0LRGGlTyGCc=",
    "argon2$argon2id$v=19$m=1024,t=1,p=2$czRsdFM0bHRTNGx0$WYNheDf/0B+eBm+BR8RXIC5u23mcSymDncxkRE08trs",
    "bcrypt_sha256$$2b$04$LMLc9Zay0gaFS3fzRr8wpe7ZfFEWlL1iFc3cLsBG76O7UTml5oj9S",
    "pbkdf2_sha256$2000000$s4ltS4ltS4lt$oj9ao+uxkvZ9Y+T4Dubpf/YrNb2INpSjnkqlzgsUE50=",
    "pbkdf2_sha256$2000001$s4ltS4ltS4lt$bfYl64dr7zeqqMnimbhTU2t2I+eQ+EXC5gfSJ4k2Uic=",
    "bcrypt_sha256$$2b$14$axPqbDKyZFPRLEvySxPqb.NvBTVE7FrVcc4AcUKOw34sAmJ0NC84G",
    "bcrypt_sha256$$2b$15$axPqbDKyZFPRLEvySxPqb.6YZyUlicwKJ7Z1SwygWS/JNJ0LyuSM.",
    "argon2$argon2id$v=19$m=262144,t=1,p=1$czRsdFM0bHRTNGx0UzRsdA$EH2wk82ilhjFIdGit2L4lda8lqX0SUYtfEOlMvr2wJQ",
    "argon2$argon2id$v=19$m=1024,t=16,p=16$czRsdFM0bHRTNGx0UzRsdA$bxLZMVVGVwrXzNRKlgsDnpeHWRaXzUrxcxKcKdDooGo",
    "argon2$argon2id$v=19$m=1024,t=17,p=1$czRsdFM0bHRTNGx0UzRsdA$mmfXqDndNOuK1MtvcjLrllut49UBTCeiwvZOOpUoZjk",
    "argon2$argon2id$v=19$m=1024,t=1,p=17$czRsdFM0bHRTNGx0UzRsdA$x5N04dzl7ITWwYPjlRAEiRFqDqtq49OUsd3vS9YMj3o",
    "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "argon2$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2i$v=16$m=64,t=1,p=1,keyid=AAAA$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    "$argon2d$m=64,t=1,p=1$c2FsdA$aGFzaA",
    "md5$s4lt$0b2fdd1b3a6fc39bb3b9e4a2f36e7d1d",
    "sha1$s4lt$0b2fdd1b3a6fc39bb3b9e4a2f36e7d1d12345678",
    "unsalted_md5$$0b2fdd1b3a6fc39bb3b9e4a2f36e7d1d",
    "crypt$$abc",
    "!unusable-marker",
    "pbkdf2_sha256$1000$caf\u00e9$MOC6kSgAqd5PM42Euf5a66Qa5IxL2qZ0WULZ8snT7Oc=",
    "caf\u00e9$1$2",
]
for i, h in enumerate(hashes):
    put("stored_hash", f"seed-{i:02}", h)

# --- federation: bound subject \0 token subject \0 claims ---------------------------
for i, (s, sub, c) in enumerate([
    ("system:serviceaccount:shop:orders", "system:serviceaccount:shop:orders", {"kubernetes.io.namespace": "shop"}),
    ("repo:acme/*", "repo:acme/app", {"repository": "acme/app", "ref": "refs/heads/main"}),
    ("repo:acme/*", "repo:acme-evil/app", {}),
    ("repo:acme*", "repo:acme-evil", {}),
    ("caf\u00e9", "caf\u00e9", {"team": "caf\u00e9"}),
    ("caf\u00e9", "cafe\u0301", {}),
    ("caf\u00e9*", "caf\u00e9s", {}),
    ("d\u00e9p\u00f4t:\u00e9/*", "d\u00e9p\u00f4t:\u00e9/x", {}),
    ("\u00e9*\u00e9", "\u00e9", {}),
    ("*", "anything", {}),
    ("\u00e9" * 513, "\u00e9", {}),
    ("spiffe://prod.example.org/ns/shop/*", "spiffe://prod.example.org/ns/shop/sa/x", {"iss": "reserved"}),
    ("a/**", "a/b", {f"k{n}": "v" for n in range(17)}),
    ("\u0007\u00e9", "spiffe://", {"": "v", "k": ""}),
]):
    put("federation", f"seed-{i:02}", fields(s, sub, j(c)))

# --- apply: the README's file and variations ---------------------------------------
readme_apply = open(os.path.join(os.path.dirname(ROOT), "..", "README.md")).read().split("# clients.toml\n", 1)[1].split("```", 1)[0]
readme_apply = readme_apply.replace('secret_file = "/run/secrets/billing"', 'secret_env = "HOME"')
applies = [
    readme_apply,
    '[[issuer]]\nname = "mesh"\nspiffe_trust_domain = "prod.example.org"\njwks = ' + json.dumps(j({"keys": [EC_JWK]})) + "\n",
    '[[issuer]]\nname = "ci"\nissuer = "https://token.actions.githubusercontent.com"\njwks_uri = "https://token.actions.githubusercontent.com/.well-known/jwks"\n\n'
    '[[client]]\nclient_id = "deploy"\nauth_method = "federated"\nissuer = "ci"\nsubject = "repo:acme/*"\nclaims = { ref = "refs/heads/main" }\n',
    '[[client]]\nclient_id = "caf\u00e9"\nauth_method = "federated"\nissuer = "ci"\nsubject = "caf\u00e9"\n',
    '[[client]]\nclient_id = "jwt"\nauth_method = "private_key_jwt"\njwks = ' + json.dumps(j({"keys": [RSA_JWK]})) + '\ngrant_types = ["client_credentials"]\nrequire_dpop = true\n',
    '[[client]]\nclient_id = "a"\nscope = "x"\n[[client]]\nclient_id = "a"\n',
    '[[client]]\nclient_id = "b"\naccess_token_ttl = "600"\n',
    '[[client]]\nclient_id = "b"\nunknown = 1\n',
    '[[issuer]]\nname = "x"\nissuer = "https://ops:iss-s3cret@issuer.example"\njwks_uri = "https://issuer.example/jwks?password=JwksSecret2"\n',
    '[[client]]\nclient_id = "\u00e9\u00e9"\nsubject = "\u00e9*"\nissuer = "\u00e9"\n',
    '[[client]\n',
]
for i, a in enumerate(applies):
    put("apply", f"seed-{i:02}", a)

# --- django_import: dumpdata JSON ---------------------------------------------------
def user(pk, name, pw, active=True, model="auth.user"):
    return {"model": model, "pk": pk, "fields": {"username": name, "password": pw, "is_active": active,
                                                 "is_staff": False, "is_superuser": False, "email": "", "last_login": None}}
dumps = [
    [user(1, "alice", hashes[0]), user(2, "bob", hashes[1]), user(3, "carol", hashes[2]), user(4, "dave", hashes[3])],
    [user(1, "mallory", "argon2" + hashes[12])],
    [user(1, "eve", hashes[12])],
    [user(1, "old", "md5$s4lt$0b2fdd1b3a6fc39bb3b9e4a2f36e7d1d"), user(2, "off", "!x", False)],
    [user(1, "caf\u00e9", hashes[0]), user(2, "CAF\u00c9", hashes[0])],
    [user(1, "a", hashes[0]), user(1, "b", hashes[0])],
    [user(1, "a", hashes[0]), user(2, "a", hashes[0])],
    [user("7", "x" * 151, hashes[0])],
    [user(1, "a", hashes[0], model="accounts.user")],
    [{"model": "auth.user"}],
    {"model": "auth.user"},
]
for i, d in enumerate(dumps):
    put("django_import", f"seed-{i:02}", j(d))
put("django_import", "html", "<html>dumpdata</html>")

# --- config: the README's example and hostile values --------------------------------
configs = [
    'bind = "0.0.0.0:8080"\nissuer = "https://auth.example.com"\ndatabase_url = "postgres://tessera@db/tessera"\naccess_token_ttl = 600\nlog = "info"\n',
    'database_url = "postgres://app:s3cret-pw@127.0.0.1:5432/tessera?sslpassword=hunter2&sslkey=/k/sslk3y&application_name=x"\n',
    'database_url = "postgres://app:p@XQ1@127.0.0.1:5432/db"\n',
    'database_url = "postgres://app:pa#XQ2@127.0.0.1:5432/db"\n',
    'database_url = "host=127.0.0.1 port=5432 password=XQ5"\n',
    'key_encryption_key = "0123456789abcdef0123456789abcdef-not-a-key"\n',
    'key_encryption_key = 12345678901234\n',
    'acess_token_ttl = 600\n',
    'access_token_ttl = "600"\n',
    'otlp_endpoint = "https://otlp:tok3n-s3cret@collector.example:4318"\notlp_sample_ratio = 2.0\n',
    'bind = "caf\u00e9:80"\nsigning_alg = "\u00e9"\nlog = "info,\u00e9=trace"\n',
    'assertion_audience = "legacy"\nclient_assertion_max_lifetime = 59\n',
    'argon2_memory_kib = 4294967295\nargon2_iterations = 0\n',
    'issuer = "https://ops:iss-s3cret@issuer.example/"\n',
]
for i, c in enumerate(configs):
    put("config", f"seed-{i:02}", c)

# --- redact: scheme \0 user \0 password \0 rest \0 query value ----------------------
for i, parts in enumerate([
    ("postgres", "app", "s3cret-pw", "127.0.0.1:5432/tessera?sslpassword=hunter2&sslkey=/k/sslk3y", "hunter2"),
    ("postgres", "app", "p@XQ1", "127.0.0.1:5432/db", "x"),
    ("postgres", "app", "pa#XQ2", "127.0.0.1:5432/db", "x"),
    ("postgres", "app", "pa?XQ3", "127.0.0.1:5432/db", "x"),
    ("postgres", "app", "pa/XQ4", "127.0.0.1:5432/db", "x"),
    ("https", "ops", "iss-s3cret", "issuer.example", "JwksSecret2"),
    ("https", "ops", "pa#iss-s3cret", "issuer.example", ""),
    ("https", "ops", "iss-s3cret", "[bad", ""),
    ("sqlite", "", "caf\u00e9", "/var/lib/tessera.db", "caf\u00e9"),
    ("otlp+http", "caf\u00e9", "\u00e9\u00e9", "collector.example:4318/v1/traces", "tok3n"),
]):
    put("redact", f"seed-{i:02}", fields(*parts))
put("redact", "libpq", "host=127.0.0.1 port=5432 password=XQ5")
put("redact", "message", "error sending request for url (https://ops:iss-s3cret@issuer.example/jwks?password=JwksSecret2): timed out")
# --- regressions: inputs the fuzzers found (each fixed with a unit test) ------------
put("config", "regress-cr-in-key", 'accrtiosa6x_lifettl\r"me = \n5ssertion2_ma3x_lifettl "6?\n')
put("config", "regress-lanes", "argon2_parallelism = 1111111110\nargon2_memory_kib = 79\n")
put("apply", "regress-esc-in-key", '[[client]]\nclient_id = "x"\nsc\u001b[2Kope = 1\n')
put("stored_hash", "regress-lanes", "$16$m=79,t=0,p=1111111110")
put("stored_hash", "regress-lanes-argon2id", "$argon2id$v=19$m=79,t=1,p=1111111110$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
put("redact", "regress-quote-in-password", fields("https", "ops", "pa#iss-s3'", "", "", "", "uer.example", ""))
put("redact", "regress-paren-in-path", fields("postgres", "app", "p@XQ1", "127.)0.0.1:5432/db", "x"))
put("redact", "regress-at-in-query", fields("postgres", "app", "s3cret-pw", "127.0.0.1", "se@cret"))
print("corpus written to", ROOT)
