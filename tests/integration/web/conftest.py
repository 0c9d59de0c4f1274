"""One stack for every browser test of the console (package scope): two regions running marriage,
disability and relief, with the web console `tongban up` starts, and one headless Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.stack.config import StackConfig
from services.stack.stackfile import StackInfo
from services.stack.up import Stack
from tests.integration.web.console import browser


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every browser test drives the stack through the console: the broker under it is incidental
    (marker stack_client), so the Apache Kafka pass of `./dev test` leaves them out."""
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.stack_client)


@pytest.fixture(scope="package")
def stack(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackInfo]:
    data = tmp_path_factory.mktemp("web") / "data"
    supervisor = Stack(StackConfig(data, regions=("640000", "510000"), services=("marriage", "disability", "relief"),
                                   kafka=kafka_broker.bootstrap,
                                   topic_prefix=f"t.web.{uuid.uuid4().hex[:10]}", scheduler_interval=0.5,
                                   web_port=0),
                       out=lambda _line: None)
    info = supervisor.start()
    try:
        yield info
    finally:
        supervisor.stop()


@pytest.fixture(scope="package")
def console(stack: StackInfo) -> str:
    """The console `tongban up` started with the stack (a `tongban web` process of its own)."""
    assert stack.web_url, "the stack started no web console"
    return stack.web_url.rstrip("/")


@pytest.fixture(scope="package")
def chromium() -> Iterator[Any]:
    with browser() as chromium:
        yield chromium


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
