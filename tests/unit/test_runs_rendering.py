"""The runs service's renderer: templates that may take time render on a worker thread, so the event loop keeps
running while they do; cheap ones stay inline."""

from __future__ import annotations

import asyncio
import threading

import pytest

from services.common.templating import DEFAULT_LIMITS, TemplateLimitExceeded, render
from services.runs.app.rendering import Renderer

NESTED = "{% for a in range(100000) %}{% for b in range(4000) %}{% endfor %}{% endfor %}"


async def test_the_event_loop_keeps_running_while_an_expensive_template_renders() -> None:
    renderer = Renderer(DEFAULT_LIMITS)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    try:
        with pytest.raises(TemplateLimitExceeded, match="template exceeds 100000 loop iterations"):
            await renderer.run([NESTED], lambda: render(NESTED, {}, renderer.limits))
        during = ticks  # rendered inline, the loop could not have run the ticker before the render ended
    finally:
        task.cancel()
        renderer.close()
    assert during > 0
    assert renderer.spent > 0


async def test_expensive_templates_render_on_a_worker_thread_and_cheap_ones_inline() -> None:
    renderer = Renderer(DEFAULT_LIMITS)
    cheap, loop = "Hello {{ params.who }}", "{% for i in range(3) %}{{ i }}{% endfor %}"
    threads: dict[str, str] = {}

    def rendered(source: str) -> str:
        threads[source] = threading.current_thread().name
        return render(source, {"params": {"who": "you"}})

    try:
        assert await renderer.run([loop], lambda: rendered(loop)) == "012"
        assert await renderer.run([cheap], lambda: rendered(cheap)) == "Hello you"  # first time: compiled off loop
        assert await renderer.run([cheap], lambda: rendered(cheap)) == "Hello you"
    finally:
        renderer.close()
    assert threads[loop].startswith("template-render")
    assert threads[cheap] == threading.current_thread().name
