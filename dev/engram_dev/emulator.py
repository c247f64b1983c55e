"""The embedded AWS emulator (moto server, in this process) with Engram's resources created from
``template.yaml``'s own properties: the table (with its stream and TTL), a Lambda function per
template function (run in-process by ``lambda_runtime``), and the state machine from the ASL file
with the template's ``DefinitionSubstitutions``. So the local stack and the template cannot drift.

Facts this relies on (moto 5.2.5): Step Functions executes real ASL when
``stepfunctions.execute_state_machine`` is on; the state-machine runner calls Lambda at
``localhost:$MOTO_PORT``, so ``MOTO_PORT`` is set to the port actually used. This process's own AWS
requests to the emulator are answered in the calling thread (``engram_dev.patches.
answer_emulator_requests_in_process``); other processes reach it over TCP at ``endpoint_url``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import zipfile
from dataclasses import dataclass
from typing import Any

import boto3

from engram_dev import patches
from engram_dev.lambda_runtime import ACCOUNT_ID
from engram_dev.project import functions, load_template, project_root

REGION = "us-east-1"
ROLE_NAME = "engram-local"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmulatedResources:
    endpoint_url: str
    table_name: str
    state_machine_arn: str
    stream_arn: str


class Emulator:
    """Starts moto on 127.0.0.1 (``port`` 0 = a free one) and creates Engram's resources."""

    def __init__(self, port: int = 0, prefix: str = "engram") -> None:
        self.port = port or free_port()
        self.prefix = prefix
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> EmulatedResources:
        from moto.server import ThreadedMotoServer

        os.environ["MOTO_PORT"] = str(self.port)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        patches.answer_emulator_requests_in_process(self.port, self.app)
        self._configure()
        return self._create_resources()

    @property
    def app(self) -> Any:
        """The running emulator's WSGI application (requests to it can be answered in this process)."""
        assert self._server is not None, "start() first"
        return patches.emulator_wsgi_app(self._server)

    def stop(self) -> None:
        if self._server is not None:
            patches.answer_emulator_requests_in_process(self.port, None)
            self._server.stop()
            self._server = None

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def _configure(self) -> None:
        import urllib.request

        body = json.dumps({"lambda": {"use_docker": False}, "stepfunctions": {"execute_state_machine": True}})
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/config",
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            response.read()

    def _create_resources(self) -> EmulatedResources:
        resources = load_template()["Resources"]
        table_name = self._create_table(resources["Table"]["Properties"])
        role_arn = self._create_role()
        arns = self._create_functions(role_arn)
        state_machine_arn = self._create_state_machine(
            resources["GenerateMemoriesStateMachine"]["Properties"], arns, role_arn
        )
        stream_arn = self.client("dynamodb").describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        return EmulatedResources(self.endpoint_url, table_name, state_machine_arn, stream_arn)

    def _create_table(self, props: dict[str, Any]) -> str:
        name = f"{self.prefix}-table"
        ddb = self.client("dynamodb")
        ddb.create_table(
            TableName=name,
            BillingMode=props["BillingMode"],
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
            StreamSpecification={"StreamEnabled": True, **props["StreamSpecification"]},
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            ddb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        return name

    def _create_role(self) -> str:
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = self.client("iam").create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust))
        return str(role["Role"]["Arn"])

    def _create_functions(self, role_arn: str) -> dict[str, str]:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "# run in-process by engram_dev.lambda_runtime\n")
        lam = self.client("lambda")
        arns = {}
        for logical_id, props in functions().items():
            created = lam.create_function(
                FunctionName=logical_id,
                Runtime="python3.12",
                Role=role_arn,
                Handler=props["Handler"],
                Code={"ZipFile": buffer.getvalue()},
                Timeout=int(props.get("Timeout", 30)),
            )
            arns[logical_id] = str(created["FunctionArn"])
        return arns

    def _create_state_machine(self, props: dict[str, Any], arns: dict[str, str], role_arn: str) -> str:
        definition = (project_root() / props["DefinitionUri"]).read_text()
        for placeholder, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + placeholder + "}", _resolve(value, arns))
        created = self.client("stepfunctions").create_state_machine(
            name=f"{self.prefix}-generate-memories",
            definition=definition,
            roleArn=role_arn,
            type=props.get("Type", "STANDARD"),
        )
        return str(created["stateMachineArn"])


def _resolve(value: Any, arns: dict[str, str]) -> str:
    """A substitution value: a literal, or ``!GetAtt <Function>.Arn``."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in arns:
            return arns[logical_id]
        raise ValueError(f"cannot resolve !GetAtt {logical_id}.{attribute} locally")
    if isinstance(value, str):
        return value
    raise ValueError(f"cannot resolve substitution {value!r} locally")


__all__ = ["ACCOUNT_ID", "EmulatedResources", "Emulator", "free_port"]
