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
        **overrides,
    }
    return faust.App(app_id, **settings)


def raw_topic(app: Any, name: str) -> Any:
    """A topic of stored-event envelopes: keys and values are bytes, decoded by consumer.decode."""
    return app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
