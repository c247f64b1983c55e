"""The embedded local stack: emulator + in-process Lambda runtime + stream poller + API front.

``LocalStack`` configures this process's environment (table, state machine, emulator endpoint,
local index under ``data_dir``) so the real handlers find their resources, exactly as they would
read them from their Lambda environment in AWS. One stack per process.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from engram import wiring
from engram.logic.auth import create_api_key

from engram_dev import patches
from engram_dev.emulator import EmulatedResources, Emulator
from engram_dev.front import ApiFront
from engram_dev.lambda_runtime import LambdaRuntime, install_into_moto
from engram_dev.stream import StreamPoller

DEV_TENANT = "dev"


class LocalStack:
    """Start with ``start()`` (or as a context manager); ``api_url``, ``api_key`` and ``runtime`` are then set.

    ``data_dir`` holds the local index; it is emptied at start because the emulator's DynamoDB starts
    empty each time (the index is derived from the table). ``api_key`` defaults to ``ENGRAM_API_KEY``
    or a new random key for tenant ``dev``.
    """

    def __init__(
        self, port: int = 0, data_dir: str | Path = ".engram", api_key: str | None = None, emulator_port: int = 0
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir).resolve()
        self.api_key = api_key or os.environ.get("ENGRAM_API_KEY") or None
        self.emulator = Emulator(port=emulator_port)
        self.runtime = LambdaRuntime()
        self.resources: EmulatedResources | None = None
        self.front: ApiFront | None = None
        self.poller: StreamPoller | None = None

    def start(self) -> LocalStack:
        patches.install_botocore_hooks()  # before this process's first AWS client (see engram_dev.patches)
        index_dir = self.data_dir / "index"
        if index_dir.exists():
            shutil.rmtree(index_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.resources = self.emulator.start()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.resources.endpoint_url,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_REGION": "us-east-1",
                "ENGRAM_TABLE_NAME": self.resources.table_name,
                "ENGRAM_STATE_MACHINE_ARN": self.resources.state_machine_arn,
                "ENGRAM_INDEX_BACKEND": "local",
                "ENGRAM_DEVELOPMENT": "true",
                "ENGRAM_DATA_DIR": str(self.data_dir),
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_DISABLED": "true",
            }
        )
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        wiring.reset()
        install_into_moto(self.runtime, self.emulator.port)
        deps = wiring.dependencies()
        self.api_key = create_api_key(deps.api_keys, deps.clock, DEV_TENANT, "local dev key", self.api_key)
        self.poller = StreamPoller(self.emulator.client("dynamodbstreams"), self.resources.stream_arn, self.runtime)
        self.poller.start()
        self.front = ApiFront(self.runtime, port=self.port)
        self.front.start()
        return self

    @property
    def api_url(self) -> str:
        assert self.front is not None, "start() first"
        return self.front.url

    def stop(self) -> None:
        if self.front:
            self.front.stop()
        if self.poller:
            self.poller.stop()
        self.emulator.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
