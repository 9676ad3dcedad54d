"""One agent call over HTTP: the pooled client, a JSON POST with bounded retries, error answers and bounded bodies.

- `AgentCall` carries one step's call: request, config, the credential headers (secret; never logged) and a
  `Redactor` that scrubs every resolved secret out of text that leaves the executor.
- `post` sends one JSON POST and hands the 2xx response to a consumer. It retries 429, 5xx and connection errors
  (not timeouts, not other statuses) up to `max_attempts`, with exponential backoff or the server's Retry-After.
  Transport failures become fixed phrases and an error body is quoted only as the `message` of a JSON error
  from a well-formed HTTP answer: what an endpoint sends back (a banner, a page) never reaches the step's
  error, so an endpoint cannot be used to read or probe what answers at an address.
- `new_client` is the pooled client; its connections go only where the egress policy allows (executors.egress).
- `read_limited` reads a body, stopping at `max_response_bytes` (`sse.iter_sse` does the same for event streams).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from services.common.agent_config import AgentConfig
from services.common.logs import get_logger
from services.common.netpolicy import EgressPolicy
from services.runs.app.executor import StepFailed, StepRequest
from services.runs.executors.egress import DestinationRefused, Resolver, guarded_transport
from services.runs.executors.secrets import Redactor

log = get_logger("agentorch.runs.executors")

T = TypeVar("T")

ERROR_BODY_BYTES = 4096  # how much of an error response is read to explain it
ERROR_DETAIL_CHARS = 300


@dataclass(frozen=True)
class AgentCall:
    request: StepRequest
    config: AgentConfig
    headers: Mapping[str, str] = field(repr=False)  # credential headers: secret
    redactor: Redactor = field(repr=False, default_factory=Redactor)
    timeout: float = 60.0  # the whole call's budget, seconds
    url: str = ""  # where the call goes (the protocol's endpoint URL), fixed before credentials are resolved

    @property
    def label(self) -> str:
        return f"agent {self.request.agent_slug!r} (step {self.request.step_id!r})"

    def fail(self, what: str, *, retryable: bool) -> StepFailed:
        return StepFailed(f"{self.label}: {self.redactor.text(what)}", retryable=retryable)

    def request_headers(self, accept: str) -> dict[str, str]:
        return {
            **self.config.headers,
            **self.headers,
            "Content-Type": "application/json",
            "Accept": accept,
            "Idempotency-Key": self.request.idempotency_key,
        }


class RetryHere(StepFailed):
    """A retryable failure before any of the answer was read: `post` tries again (after `retry_after`, if set)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message, retryable=True)
        self.retry_after = retry_after


def new_client(
    max_connections: int = 100, policy: EgressPolicy | None = None, resolver: Resolver | None = None
) -> httpx.AsyncClient:
    """The pooled client for every agent call of a replica. Redirects are not followed (credentials stay put);
    connections go only to addresses `policy` allows (default: public addresses only)."""
    # Keep every connection alive: with fewer, concurrent calls to one agent reconnect on every request.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        transport=guarded_transport(policy or EgressPolicy(), limits, resolver),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "agentorch-runs"},
    )


def destination(url: str) -> str:
    """`host:port` of an agent URL, as the vault's allowed_hosts match it (IPv6 in brackets, port explicit).
    ValueError when `url` is not an absolute http(s) URL (an agent card saved before cards were validated)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError("is not a URL") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("is not an absolute http:// or https:// URL")
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def post(
    call: AgentCall,
    client: httpx.AsyncClient,
    url: str,
    body: Mapping[str, Any],
    *,
    accept: str,
    consume: Callable[[httpx.Response], Awaitable[T]],
    headers: Mapping[str, str] | None = None,
) -> T:
    """POST `body` as JSON and return `consume(response)` for a 2xx answer, retrying what may be retried."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    config = call.config

    async def once() -> T:
        started = False
        try:
            async with client.stream(
                "POST",
                url,
                content=payload,
                headers={**(headers or {}), **call.request_headers(accept)},
                timeout=httpx.Timeout(call.timeout, connect=min(call.timeout, 10.0)),
            ) as response:
                await check_status(call, response)
                started = True
                return await consume(response)
        except DestinationRefused as exc:
            raise call.fail(str(exc), retryable=False) from None
        except httpx.ConnectTimeout:
            raise RetryHere(
                call.fail(f"cannot connect to the agent at {url} (timed out)", retryable=True).message
            ) from None
        except httpx.TimeoutException:
            raise call.fail(f"no complete answer within {call.timeout:g}s", retryable=True) from None
        except httpx.TransportError as exc:
            # Fixed phrases only: an exception's text can quote what the peer sent (a banner, a bad status line).
            if started:
                raise call.fail("the connection broke while reading the answer", retryable=True) from None
            raise RetryHere(call.fail(_transport_failure(exc, url), retryable=True).message) from None

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RetryHere) and error.retry_after is not None:
            return error.retry_after
        base = min(config.max_backoff_seconds, config.backoff_seconds * 2.0 ** (state.attempt_number - 1))
        return base * (1 + 0.1 * random.random())  # noqa: S311 - jitter, not cryptography

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "agent call will be retried",
            agent=call.request.agent_slug,
            step=call.request.step_id,
            idempotency_key=call.request.idempotency_key,
            try_number=state.attempt_number,
            wait_seconds=round(state.upcoming_sleep, 3),
            error=call.redactor.text(str(error)),
        )

    retrying = AsyncRetrying(
        stop=stop_after_attempt(config.max_attempts) | _WaitTooLong(config.max_backoff_seconds),
        wait=wait,
        retry=retry_if_exception_type(RetryHere),
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                return await once()
    except RetryHere as exc:
        tries = retrying.statistics.get("attempt_number", 1)
        if exc.retry_after is not None and exc.retry_after > config.max_backoff_seconds:
            note = f"asked to retry after {exc.retry_after:g}s, more than max_backoff_seconds; not waiting"
        else:
            note = f"gave up after {tries} tr{'y' if tries == 1 else 'ies'}"
        raise StepFailed(f"{exc.message} ({note})", retryable=True) from None
    raise AssertionError("unreachable")  # pragma: no cover


class _WaitTooLong(stop_base):
    """Stop retrying when the server asks for a longer wait than max_backoff_seconds."""

    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        return isinstance(error, RetryHere) and error.retry_after is not None and error.retry_after > self._limit


def _transport_failure(exc: httpx.TransportError, url: str) -> str:
    if isinstance(exc, httpx.ConnectError):
        return f"cannot reach the agent at {url}"
    if isinstance(exc, httpx.ProtocolError):
        return f"no valid HTTP answer from the agent at {url}"
    return f"the connection to the agent at {url} broke"


async def check_status(call: AgentCall, response: httpx.Response) -> None:
    """Raise for a non-2xx answer: RetryHere for 429/5xx, a non-retryable StepFailed for the rest."""
    status = response.status_code
    if 200 <= status < 300:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > call.config.max_response_bytes:
            raise too_large(call)
        return
    detail = await error_detail(call, response)
    if status == 429:
        raise RetryHere(call.fail(f"rate limited (HTTP 429){detail}", retryable=True).message, retry_after(response))
    if status >= 500:
        raise RetryHere(
            call.fail(f"agent error (HTTP {status}){detail}", retryable=True).message, retry_after(response)
        )
    if status in (401, 403):
        raise call.fail(
            f"the agent refused the request (HTTP {status}){detail}; check the step's credentials and the agent's "
            "credential_header / credential_scheme",
            retryable=False,
        )
    if status == 404:
        raise call.fail(f"no such endpoint (HTTP 404 at {response.request.url}){detail}", retryable=False)
    raise call.fail(f"the agent rejected the request (HTTP {status}){detail}", retryable=False)


async def error_detail(call: AgentCall, response: httpx.Response) -> str:
    """A short, redacted explanation from an error answer: the message of a JSON error body (`error.message`,
    `error` or `message`), nothing else. Other bodies (HTML pages, banners, text) are not quoted: the status says
    what happened, and an endpoint's own bytes must not reach the step's error."""
    if not _is_json(response):
        return ""
    try:
        raw = bytearray()
        async for chunk in response.aiter_bytes():
            raw += chunk
            if len(raw) > ERROR_BODY_BYTES:
                return ""  # a JSON error message is short; a cut document would not parse anyway
    except httpx.HTTPError:
        return ""
    try:
        document = json.loads(bytes(raw))
    except ValueError:
        return ""
    text = ""
    if isinstance(document, dict):
        error = document.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            text = error["message"]
        elif isinstance(error, str):
            text = error
        elif isinstance(document.get("message"), str):
            text = document["message"]
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return ""
    if len(text) > ERROR_DETAIL_CHARS:
        text = text[:ERROR_DETAIL_CHARS] + "…"
    return f": {call.redactor.text(text)}"


def _is_json(response: httpx.Response) -> bool:
    media = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def too_large(call: AgentCall) -> StepFailed:
    return call.fail(
        f"the answer is larger than max_response_bytes ({call.config.max_response_bytes} bytes); stopped reading",
        retryable=False,
    )


def malformed(call: AgentCall, what: str) -> StepFailed:
    return call.fail(f"malformed response: {what}", retryable=False)


async def read_limited(call: AgentCall, response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > call.config.max_response_bytes:
            raise too_large(call)
    return bytes(body)


def parse_json(call: AgentCall, body: bytes | str, what: str = "the body") -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise malformed(call, f"{what} is not JSON") from None
