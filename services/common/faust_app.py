"""Faust apps for Tongban consumers, built with the tuned settings (groups join in seconds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def create_app(app_id: str, bootstrap: str, *, datadir: Path, **overrides: Any) -> Any:
    import faust

    from services.common.faust_transport import consumer_url
    from services.common.kafka_settings import faust_app_settings

    settings: dict[str, Any] = {
        "datadir": str(datadir),
        # One worker per region and service on a machine: no web port to clash. (The `faust worker`
        # command turns the web server back on unless given --without-web.)
        "web_enabled": False,
        "consumer_auto_offset_reset": "earliest",
        **faust_app_settings(bootstrap),
        # The consumers wait less for a fetch than faust's own (faust_transport.py says why).
        "broker_consumer": consumer_url(bootstrap),
        "TableManager": table_manager(),
        **overrides,
    }
    return faust.App(app_id, **settings)


def table_manager() -> type:
    """faust's TableManager without the second it sleeps before the app subscribes.

    faust (0.15.3) waits 1 s when the table manager starts, so that tables declared while the app
    starts can register before the consumer subscribes; only then does the group join begin (which
    takes ~3 s on the development broker), so every worker's first assignment came a second later.
    Our apps declare every table (most declare none) when they are built, before the worker starts:
    nothing can arrive during that second, and the join starts at once."""
    from faust.tables import TableManager

    class _TableManager(TableManager):  # type: ignore[misc]
        async def on_start(self) -> None:
            if not self.should_stop:
                await self._update_channels()
                await self.recovery.start()

    return _TableManager


def raw_topic(app: Any, name: str) -> Any:
    """A topic of stored-event envelopes: keys and values are bytes, decoded by consumer.decode."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
