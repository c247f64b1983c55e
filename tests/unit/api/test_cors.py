"""CORS answers (``engram.api.cors``): the preflight, and the header added to the API's responses."""

from __future__ import annotations

import pytest
from engram.api.cors import ALLOW_HEADERS, preflight_response, with_allow_origin

ORIGIN = "https://app.example.com"


def test_a_preflight_allows_the_origin_the_methods_and_the_headers_engram_reads() -> None:
    # Given an allowed origin, When a browser sends its preflight
    response = preflight_response(ORIGIN)
    # Then the answer is an empty 204 that lets it send Authorization, JSON and an Idempotency-Key
    assert response["statusCode"] == 204 and response["body"] == ""
    headers = response["headers"]
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert {"Authorization", "Content-Type", "Idempotency-Key"} == set(ALLOW_HEADERS.split(","))
    assert headers["Access-Control-Allow-Headers"] == ALLOW_HEADERS
    assert set(headers["Access-Control-Allow-Methods"].split(",")) >= {"GET", "POST", "PUT", "PATCH", "DELETE"}
    assert int(headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("origin", [None, ""])
def test_without_an_origin_a_preflight_allows_nothing(origin: str | None) -> None:
    assert preflight_response(origin)["headers"] == {}


def test_the_origin_is_added_to_either_header_shape_of_a_proxy_response() -> None:
    # Given the two shapes a REST proxy response may have
    multi = {"statusCode": 200, "body": "{}", "multiValueHeaders": {"Content-Type": ["application/json"]}}
    single = {"statusCode": 415, "body": "{}", "headers": {"Content-Type": "application/json"}}
    # When the origin is added, Then each carries it beside its other headers
    assert with_allow_origin(multi, ORIGIN)["multiValueHeaders"] == {
        "Content-Type": ["application/json"],
        "Access-Control-Allow-Origin": [ORIGIN],
    }
    assert with_allow_origin(single, ORIGIN)["headers"] == {
        "Content-Type": "application/json",
        "Access-Control-Allow-Origin": ORIGIN,
    }
    assert with_allow_origin({"statusCode": 204}, "*")["headers"] == {"Access-Control-Allow-Origin": "*"}


def test_without_an_origin_a_response_is_unchanged() -> None:
    response = {"statusCode": 200, "headers": {"Content-Type": "application/json"}}
    assert with_allow_origin(dict(response), None) == response
