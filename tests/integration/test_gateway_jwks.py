"""RS256/ES256 tokens verified with keys from a JWKS URL (served on loopback) or a JWKS file, through the gateway."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from agentorch.gateway.v1 import gateway_service_pb2 as gw
from agentorch.gateway.v1 import gateway_service_pb2_grpc as gw_grpc
from gateway.bootstrap import spec as gateway_spec
from gateway.config import BackendSettings, JwtSettings
from services.common.settings import DatabaseSettings
from tests.support.gateway import AUDIENCE, ISSUER, bearer, gateway_settings, new_org
from tests.support.rpc import channel_as
from tests.support.servers import RunningServer, running

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
NOWHERE = BackendSettings(registry="127.0.0.1:1", runs="127.0.0.1:1", credentials="127.0.0.1:1")


def jwks_document() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [{**rsa_jwk, "kid": "rsa-1", "use": "sig"}, {**ec_jwk, "kid": "ec-1", "use": "sig"}]}


def token(org: str, key: Any, algorithm: str, kid: str, **changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": "idp-user", "iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "org": org, "roles": ["viewer"]}
    claims.update(changes)
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def jwks_url() -> Iterator[tuple[str, list[str]]]:
    body = json.dumps(jwks_document()).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", requests
    finally:
        server.shutdown()
        thread.join(5)


async def who(gateway: RunningServer, bearer_token: str) -> gw.WhoAmIResponse:
    async with channel_as(gateway.target, bearer(bearer_token)) as channel:
        reply: gw.WhoAmIResponse = await gw_grpc.GatewayServiceStub(channel).WhoAmI(gw.WhoAmIRequest())
        return reply


async def refused(gateway: RunningServer, bearer_token: str) -> grpc.StatusCode:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await who(gateway, bearer_token)
    return caught.value.code()


@pytest.fixture
async def url_gateway(database: DatabaseSettings, jwks_url: tuple[str, list[str]]) -> AsyncIterator[RunningServer]:
    settings = JwtSettings(jwks_url=jwks_url[0], issuer=ISSUER, audience=AUDIENCE)
    async with running(gateway_spec(gateway_settings(database, NOWHERE, jwt=settings))) as gateway:
        yield gateway


async def test_tokens_verified_with_keys_from_a_jwks_url(
    url_gateway: RunningServer, jwks_url: tuple[str, list[str]]
) -> None:
    org = new_org()
    for key, algorithm, kid in ((RSA_KEY, "RS256", "rsa-1"), (EC_KEY, "ES256", "ec-1")):
        reply = await who(url_gateway, token(org, key, algorithm, kid))
        assert (reply.subject, reply.organization_slug, reply.authentication) == ("idp-user", org, "jwt")
    assert len(jwks_url[1]) == 1  # fetched once, then cached

    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert await refused(url_gateway, token(org, impostor, "RS256", "rsa-1")) == grpc.StatusCode.UNAUTHENTICATED
    assert await refused(url_gateway, token(org, impostor, "RS256", "unknown")) == grpc.StatusCode.UNAUTHENTICATED
    expired = token(org, RSA_KEY, "RS256", "rsa-1", exp=int(time.time()) - 600)
    assert await refused(url_gateway, expired) == grpc.StatusCode.UNAUTHENTICATED
    hs = jwt.encode({"sub": "x", "org": org, "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, "k" * 40)
    assert await refused(url_gateway, hs) == grpc.StatusCode.UNAUTHENTICATED


async def test_tokens_verified_with_keys_from_a_jwks_file(database: DatabaseSettings, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks_document()))
    settings = JwtSettings(jwks_file=path, issuer=ISSUER, audience=AUDIENCE)
    async with running(gateway_spec(gateway_settings(database, NOWHERE, jwt=settings))) as gateway:
        org = new_org()
        assert (await who(gateway, token(org, EC_KEY, "ES256", "ec-1"))).organization_slug == org
        other = ec.generate_private_key(ec.SECP256R1())
        assert await refused(gateway, token(org, other, "ES256", "ec-1")) == grpc.StatusCode.UNAUTHENTICATED


async def test_an_unreachable_jwks_url_is_unavailable_not_unauthenticated(database: DatabaseSettings) -> None:
    settings = JwtSettings(jwks_url="http://127.0.0.1:1/jwks.json", issuer=ISSUER, audience=AUDIENCE)
    async with running(gateway_spec(gateway_settings(database, NOWHERE, jwt=settings))) as gateway:
        assert await refused(gateway, token(new_org(), RSA_KEY, "RS256", "rsa-1")) == grpc.StatusCode.UNAVAILABLE
