"""Serve both reference agents: `python -m reference_agents --a2a-port 9100 --openai-port 9200`.

They listen on loopback only. The OpenAI-compatible agent requires `Authorization: Bearer <key>` when a key is
given (`--api-key KEY`, or `--api-key-env NAME` to read it from that environment variable so that it stays out
of the process list).
Ctrl-C or SIGTERM stops them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys

from reference_agents import LOOPBACK, a2a_agent, openai_agent, serving


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reference_agents", description=__doc__.splitlines()[0])
    parser.add_argument("--a2a-port", type=int, default=9100, help="port of the A2A agent (0: any free port)")
    parser.add_argument("--openai-port", type=int, default=9200, help="port of the OpenAI-compatible agent")
    parser.add_argument("--a2a-name", default="reference-a2a", help="the A2A agent's name (its answers start with it)")
    parser.add_argument("--openai-name", default="reference-openai", help="the OpenAI-compatible agent's name")
    parser.add_argument("--api-key", help="the key the OpenAI agent requires (visible in the process list)")
    parser.add_argument(
        "--api-key-env", metavar="NAME", help="environment variable holding the key the OpenAI agent requires"
    )
    parser.add_argument("--no-streaming", action="store_true", help="the A2A card says it does not stream")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> None:
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else args.api_key
    if args.api_key_env and not api_key:
        raise SystemExit(f"reference_agents: environment variable {args.api_key_env} is empty or unset")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    a2a_app = a2a_agent.create_app(args.a2a_name, streaming=not args.no_streaming)
    openai_app = openai_agent.create_app(args.openai_name, api_key=api_key)
    async with (
        serving(a2a_app, host=LOOPBACK, port=args.a2a_port) as a2a,
        serving(openai_app, host=LOOPBACK, port=args.openai_port) as openai,
    ):
        print(f"reference A2A agent:    {a2a.url}  (card: {a2a.url}/.well-known/agent-card.json)", flush=True)
        print(f"reference OpenAI agent: {openai.url}/v1  (auth: {'bearer key' if api_key else 'none'})", flush=True)
        await stop.wait()


def run(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(run())
