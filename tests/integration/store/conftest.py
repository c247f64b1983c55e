"""The store contract: every test here that takes ``stores`` runs twice, on the in-memory fakes
(``tests.fakes``) and on the DynamoDB adapter against the emulator, so the fakes the unit tests use behave
as the table does.

The DynamoDB side gets a fresh table per test (the template's table definition, in a moto server of its
own), so table-wide reads (retention) see only that test's items; its repositories come from
``engram.wiring.Dependencies``, as the handlers get theirs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from engram.settings import Settings
from engram.wiring import Dependencies
from engram_dev.emulator import free_port
from engram_dev.project import load_template

from tests.fakes import FakeStores

REGION = "us-east-1"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    """A moto server of the contract suite's own (its DynamoDB state is shared with any other in-process
    moto server, so tables get unique names)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def _create_table(endpoint: str) -> str:
    import boto3

    props = load_template()["Resources"]["Table"]["Properties"]
    name = f"contract-{uuid.uuid4().hex[:12]}"
    boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).create_table(
        TableName=name,
        BillingMode=props["BillingMode"],
        AttributeDefinitions=props["AttributeDefinitions"],
        KeySchema=props["KeySchema"],
        GlobalSecondaryIndexes=props["GlobalSecondaryIndexes"],
    )
    return name


@pytest.fixture(params=["fake", "dynamodb"])
def stores(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The seven repositories (``memories``, ``operations``, ``sessions``, ``api_keys``, ``leases``,
    ``configs``, ``retention``) on one backend: ``FakeStores`` or ``Dependencies`` on a new table."""
    if request.param == "fake":
        yield FakeStores()
        return
    import boto3

    endpoint = request.getfixturevalue("dynamodb_endpoint")
    name = _create_table(endpoint)
    yield Dependencies(Settings(table_name=name, aws_region=REGION, aws_endpoint_url=endpoint))
    boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint).delete_table(TableName=name)


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"
