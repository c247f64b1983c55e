"""Per-tenant usage plans of a deployed stack (API Gateway; the local stack does not emulate them).

Each tenant has one API Gateway API key per REST API, whose value is
``engram.logic.auth.usage_identifier_key(api_id, tenant_id)``: the authorizer returns that value as
``usageIdentifierKey``, and API Gateway holds the tenant to the throttle and quota of the usage plan the
key is on (403 ``PERMISSION_DENIED`` while it is on none). ``assign_tenant`` finds or creates that key
(named ``engram-<api id>-<tenant>``) and puts it on a usage plan; ``engram keys create`` and
``engram keys plan`` call it. Every call goes through the given boto3 ``apigateway`` client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engram.logic.auth import usage_identifier_key


class UsagePlanError(Exception):
    """The tenant cannot be put on the plan as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Assignment:
    """Where a tenant's requests are counted: ``api_key_id`` (its API Gateway key on ``api_id``) is on
    ``usage_plan_id``. ``created_key``/``added_to_plan``: whether this call created the key / added it to the
    plan (False: it already was). ``enabled`` is False when an operator disabled the key (the tenant then
    gets 403)."""

    tenant_id: str
    api_id: str
    usage_plan_id: str
    api_key_id: str
    created_key: bool
    added_to_plan: bool
    enabled: bool


def key_name(api_id: str, tenant_id: str) -> str:
    """The API Gateway key's name: ``engram-<api id>-<tenant>``."""
    return f"engram-{api_id}-{tenant_id}"


def api_of_plan(apigateway: Any, usage_plan_id: str) -> str:
    """The id of the one REST API ``usage_plan_id`` covers. Raises ``UsagePlanError`` when it covers none
    or several (then the API is ambiguous: give the stack instead)."""
    plan = apigateway.get_usage_plan(usagePlanId=usage_plan_id)
    apis = sorted({stage["apiId"] for stage in plan.get("apiStages", [])})
    if len(apis) != 1:
        raise UsagePlanError(
            f"usage plan {usage_plan_id} covers {len(apis)} APIs ({', '.join(apis) or 'none'}); "
            "give --stack-name so the API is known"
        )
    return apis[0]


def tenant_api_key(apigateway: Any, api_id: str, tenant_id: str) -> tuple[dict[str, Any], bool]:
    """``(key, created)``: the tenant's API Gateway key on ``api_id`` (``id``, ``name``, ``value``,
    ``enabled``), created now when absent. Raises ``UsagePlanError`` when a key of that name holds another
    value (it was changed by hand: delete it, then run again)."""
    name, value = key_name(api_id, tenant_id), usage_identifier_key(api_id, tenant_id)
    for page in apigateway.get_paginator("get_api_keys").paginate(nameQuery=name, includeValues=True):
        for key in page.get("items", []):
            if key.get("name") != name:
                continue
            if key.get("value") != value:
                raise UsagePlanError(
                    f"API key {key['id']} ({name}) does not hold tenant {tenant_id}'s usage key; "
                    f"delete it (aws apigateway delete-api-key --api-key {key['id']}) and run again"
                )
            return key, False
    created = apigateway.create_api_key(
        name=name,
        value=value,
        enabled=True,
        description=f"Engram tenant {tenant_id}: its requests count against the usage plan this key is on",
        tags={"engram:tenant": tenant_id, "engram:api": api_id},
    )
    return created, True


def _plans_of_key(apigateway: Any, api_key_id: str) -> list[dict[str, Any]]:
    pages = apigateway.get_paginator("get_usage_plans").paginate(keyId=api_key_id)
    return [plan for page in pages for plan in page.get("items", [])]


def assign_tenant(apigateway: Any, usage_plan_id: str, tenant_id: str, api_id: str | None = None) -> Assignment:
    """Put ``tenant_id`` on ``usage_plan_id`` (for REST API ``api_id``; default: the one the plan covers).

    Idempotent: a tenant already on the plan is left as it is. Raises ``UsagePlanError`` when the tenant
    is on another plan of the same API (API Gateway counts a key on one plan per stage: remove it from
    that plan first) and lets botocore's ``ClientError`` through (an unknown plan, missing permissions).
    """
    api_id = api_id or api_of_plan(apigateway, usage_plan_id)
    key, created = tenant_api_key(apigateway, api_id, tenant_id)
    plans = _plans_of_key(apigateway, key["id"])
    added = not any(plan["id"] == usage_plan_id for plan in plans)
    if added:
        others = [p["id"] for p in plans if any(s.get("apiId") == api_id for s in p.get("apiStages", []))]
        if others:
            raise UsagePlanError(
                f"tenant {tenant_id} is on usage plan {others[0]} of API {api_id}; to move it, first run "
                f"aws apigateway delete-usage-plan-key --usage-plan-id {others[0]} --key-id {key['id']}"
            )
        apigateway.create_usage_plan_key(usagePlanId=usage_plan_id, keyId=key["id"], keyType="API_KEY")
    return Assignment(
        tenant_id=tenant_id,
        api_id=api_id,
        usage_plan_id=usage_plan_id,
        api_key_id=str(key["id"]),
        created_key=created,
        added_to_plan=added,
        enabled=bool(key.get("enabled", True)),
    )
