"""JWT verification and claim mapping (no I/O: keys in memory)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWKSet
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from pydantic import SecretStr, ValidationError

from gateway.auth.authenticator import bearer_token
from gateway.auth.jwt import JwtConfigError, JwtVerifier, claim, role_names
from gateway.config import JwtSettings
from services.common.errors import Unauthenticated

SECRET = "s" * 48
SETTINGS = JwtSettings(hs256_secret=SecretStr(SECRET), issuer="https://idp.test/", audience="agentorch")
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


class In:
    """A time relative to when the token is made (parameters are built at collection, long before)."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    changes = {k: now + v.seconds if isinstance(v, In) else v for k, v in changes.items()}
    values: dict[str, Any] = {
        "sub": "user-1",
        "iss": "https://idp.test/",
        "aud": "agentorch",
        "exp": now + 60,
        "iat": now,
        "org": "acme",
        "roles": ["operator"],
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


def hs256(**changes: Any) -> str:
    return jwt.encode(claims(**changes), SECRET, algorithm="HS256")


def jwks(**keys: Any) -> PyJWKSet:
    documents = []
    for kid, key in keys.items():
        algorithm = RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else ECAlgorithm
        document = json.loads(algorithm.to_jwk(key.public_key()))
        documents.append({**document, "kid": kid, "use": "sig"})
    return PyJWKSet.from_dict({"keys": documents})


def verifier(settings: JwtSettings = SETTINGS, **keys: Any) -> JwtVerifier:
    secret = settings.hs256_secret.get_secret_value().encode() if settings.hs256_secret else None
    return JwtVerifier(settings, hs256_secret=secret, jwk_set=jwks(**keys) if keys else None)


async def rejected(verifier: JwtVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.verify(token)
    assert not token or token not in caught.value.message
    return caught.value.message


async def test_a_valid_hs256_token_becomes_a_user_principal() -> None:
    principal = await verifier().verify(hs256())
    assert (principal.subject, principal.organization_slug, principal.roles, principal.kind) == (
        "user-1",
        "acme",
        frozenset({"operator"}),
        "user",
    )


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"exp": In(-120)}, "expired"),
        ({"nbf": In(120)}, "not valid yet"),
        ({"iss": "https://evil.test/"}, "issuer"),
        ({"aud": "other"}, "audience"),
        ({"exp": None}, "'exp'"),
        ({"iss": None}, "'iss'"),
        ({"aud": None}, "'aud'"),
        ({"sub": None}, "'sub'"),
        ({"sub": "x" * 201}, "'sub'"),
        ({"org": None}, "organization"),
        ({"org": "Not A Slug"}, "organization"),
        ({"org": ["acme"]}, "organization"),
    ],
)
async def test_bad_claims_are_rejected(changes: dict[str, Any], reason: str) -> None:
    assert reason in await rejected(verifier(), hs256(**changes))


async def test_leeway_is_bounded() -> None:
    now = int(time.time())
    strict = verifier(SETTINGS.model_copy(update={"leeway_seconds": 0}))
    await rejected(strict, hs256(exp=now - 5))
    assert (await verifier().verify(hs256(exp=now - 5))).subject == "user-1"
    with pytest.raises(ValidationError):
        JwtSettings(hs256_secret=SecretStr(SECRET), issuer="i", audience="a", leeway_seconds=301)


async def test_forged_and_malformed_tokens() -> None:
    v = verifier()
    assert "signature" in await rejected(v, jwt.encode(claims(), "x" * 48, algorithm="HS256"))
    none = jwt.encode(claims(), None, algorithm="none")
    assert "algorithm" in await rejected(v, none)
    assert "algorithm" in await rejected(v, jwt.encode(claims(), SECRET * 2, algorithm="HS512"))
    for garbage in ("", "abc", "a.b.c", "e30.e30.", hs256()[:-3]):
        await rejected(v, garbage)


async def test_asymmetric_keys_from_a_jwks() -> None:
    v = verifier(SETTINGS.model_copy(update={"hs256_secret": None}), rsa1=RSA_KEY, ec1=EC_KEY)
    rs = jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "rsa1"})
    es = jwt.encode(claims(), EC_KEY, algorithm="ES256", headers={"kid": "ec1"})
    assert (await v.verify(rs)).subject == (await v.verify(es)).subject == "user-1"
    # A key the set does not have, a kid pointing at a key of another algorithm, an HS256 token without a secret.
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "signature" in await rejected(v, jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "rsa1"}))
    assert "unknown key" in await rejected(v, jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "nope"}))
    assert "does not match" in await rejected(
        v, jwt.encode(claims(), RSA_KEY, algorithm="RS256", headers={"kid": "ec1"})
    )
    assert "algorithm" in await rejected(v, hs256())


async def test_an_hs256_token_signed_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: the public key (which anyone has) used as an HMAC secret. PyJWT refuses to sign that,
    so the token is built by hand."""
    v = verifier(SETTINGS.model_copy(update={"hs256_secret": None}), rsa1=RSA_KEY)
    pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': 'rsa1'}).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    assert "algorithm" in await rejected(v, f"{signing_input}.{b64(signature)}")


async def test_claim_mapping_follows_dotted_paths_and_ignores_unknown_roles() -> None:
    supabase = SETTINGS.model_copy(
        update={"organization_claim": "app_metadata.organization_slug", "roles_claim": "app_metadata.roles"}
    )
    token = hs256(org=None, roles=None, app_metadata={"organization_slug": "acme", "roles": ["Admin", "owner", 3]})
    principal = await verifier(supabase).verify(token)
    assert (principal.organization_slug, principal.roles) == ("acme", frozenset({"admin"}))
    auth0 = SETTINGS.model_copy(update={"organization_claim": "https://example.com/org"})
    assert (
        await verifier(auth0).verify(hs256(org=None, **{"https://example.com/org": "beta"}))
    ).organization_slug == "beta"


def test_role_and_claim_helpers() -> None:
    assert role_names("viewer") == {"viewer"}
    assert role_names(["viewer", "author", "root", None]) == {"viewer", "author"}
    assert role_names({"admin": True}) == frozenset()
    assert claim({"a": {"b": {"c": 1}}}, "a.b.c") == 1
    assert claim({"a": {"b": 1}}, "a.b.c") is None
    assert claim({"a.b": 2, "a": {"b": 1}}, "a.b") == 2


async def test_a_platform_organization_makes_a_platform_principal() -> None:
    v = verifier(SETTINGS.model_copy(update={"platform_organization": "platform-ops"}))
    assert (await v.verify(hs256(org="platform-ops", roles=["admin"]))).organization_slug == ""
    assert (await verifier().verify(hs256(org="platform-ops"))).organization_slug == "platform-ops"


def test_settings_need_issuer_audience_and_a_long_secret(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="ISSUER"):
        JwtSettings(hs256_secret=SecretStr(SECRET))
    with pytest.raises(ValidationError, match="http"):
        JwtSettings(jwks_url="file:///etc/passwd", issuer="i", audience="a")
    assert not JwtSettings().enabled
    with pytest.raises(JwtConfigError, match="32 bytes"):
        JwtVerifier.from_settings(JwtSettings(hs256_secret=SecretStr("short"), issuer="i", audience="a"))
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    assert JwtVerifier.from_settings(JwtSettings(hs256_secret_file=secret_file, issuer="i", audience="a"))
    with pytest.raises(JwtConfigError, match="HS256_SECRET_FILE"):
        JwtVerifier.from_settings(JwtSettings(hs256_secret_file=tmp_path / "missing", issuer="i", audience="a"))


@pytest.mark.parametrize(
    ("metadata", "token"),
    [
        ((("authorization", "Bearer abc"),), "abc"),
        ((("authorization", "bearer   abc "),), "abc"),
        ((("Authorization", "BEARER abc"),), "abc"),
    ],
)
def test_bearer_tokens_are_read_from_authorization(metadata: Any, token: str) -> None:
    assert bearer_token(metadata) == token


@pytest.mark.parametrize(
    "metadata",
    [(), (("authorization", "Basic abc"),), (("authorization", "Bearer"),), (("authorization", "Bearer a"),) * 2],
)
def test_missing_or_malformed_authorization(metadata: Any) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(metadata)
