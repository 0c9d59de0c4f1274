"""A faust worker that logs in as a region and prints every value of one topic: the integration test of
the secured broker (tests/integration/test_kafka_acls.py) runs it to prove that a service's faust app --
group join, its own internal topics, fetching -- works under SASL_SSL and the region's ACLs.
Configured by environment: TONGBAN_KAFKA and TONGBAN_KAFKA_* (services/common/kafka_security.py),
READER_APP_ID, READER_TOPIC, READER_DATADIR.

Run: python -m tests.faust_region_reader worker --without-web --loglevel=warn"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from services.common.faust_app import create_app, raw_topic

app = create_app(os.environ.get("READER_APP_ID", "tongban-reader"), os.environ.get("TONGBAN_KAFKA", "localhost:9092"),
                 datadir=Path(os.environ.get("READER_DATADIR", "/tmp/tongban-reader")))
topic = raw_topic(app, os.environ.get("READER_TOPIC", "tongban.test.events.v1"))


@app.agent(topic)
async def read(stream: Any) -> None:
    async for value in stream:
        print(f"read {value.decode()}", flush=True)


if __name__ == "__main__":
    app.main()
