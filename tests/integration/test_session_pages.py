"""Reading a session is bounded (issue 10, item 10): ``GET /v1/sessions/{id}/events`` pages with
``page_size``/``page_token``/``next_page_token``, and a page stops before about 5 MB, so no response comes
near Lambda's 6 MB limit."""

from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _events(start: int, count: int, text: str = "turn") -> dict:
    return {
        "events": [
            {
                "event_id": f"e{i:04d}",
                "timestamp": (T0 + timedelta(seconds=i)).isoformat(),
                "content": {"role": "user", "parts": [{"text": f"{text} {i}" if text == "turn" else text}]},
            }
            for i in range(start, start + count)
        ]
    }


def _pages(api, path: str) -> list[list[str]]:
    pages, token = [], None
    while True:
        status, body = api.request("GET", path + (f"&page_token={token}" if token else ""))
        assert status == 200, body
        pages.append([e["event_id"] for e in body["events"]])
        token = body.get("next_page_token")
        if token is None:
            return pages


def test_a_session_is_read_page_by_page(api):
    # Given a session of 250 events
    sid = f"s-{uuid.uuid4().hex[:8]}"
    for start in (0, 100, 200):
        assert api.request("POST", f"/v1/sessions/{sid}/events", _events(start, 50 if start == 200 else 100))[0] == 201
    every = [f"e{i:04d}" for i in range(250)]

    # When it is listed 100 at a time, by default, and its last 150 in pages of 100
    hundreds = _pages(api, f"/v1/sessions/{sid}/events?page_size=100")
    default = _pages(api, f"/v1/sessions/{sid}/events?role=user")
    last = _pages(api, f"/v1/sessions/{sid}/events?limit=150&page_size=100")

    # Then the pages follow each other oldest first, without gaps or repeats
    assert hundreds == [every[:100], every[100:200], every[200:]]
    assert default == [every]  # 1,000 per page by default
    assert last == [every[100:200], every[200:]]
    # and a token of another session, or garbage, is refused (400, as every page token not issued for it)
    _, first = api.request("GET", f"/v1/sessions/{sid}/events?page_size=1")
    other = f"s-{uuid.uuid4().hex[:8]}"
    api.request("POST", f"/v1/sessions/{other}/events", _events(0, 2))
    assert api.request("GET", f"/v1/sessions/{other}/events?page_token={first['next_page_token']}")[0] == 400
    assert api.request("GET", f"/v1/sessions/{sid}/events?page_token=garbage")[0] == 400
    assert api.request("GET", f"/v1/sessions/{sid}/events?page_size=1001")[0] == 422


def test_no_page_comes_near_the_lambda_response_limit(api):
    # Given a session of 20 events of 32,000 emoji each (about 450 KB each in a response: 9 MB in all)
    sid = f"s-{uuid.uuid4().hex[:8]}"
    for start in (0, 10):
        status, _ = api.request("POST", f"/v1/sessions/{sid}/events", _events(start, 10, "\U0001f600" * 32_000))
        assert status == 201

    # When it is listed page after page
    sizes, ids, token = [], [], None
    while True:
        path = f"/v1/sessions/{sid}/events" + (f"?page_token={token}" if token else "")
        request = urllib.request.Request(api.base_url + path, headers={"Authorization": f"Bearer {api.api_key}"})
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the local stack's URL
            raw = response.read()
        body = json.loads(raw)
        sizes.append(len(json.dumps(raw.decode())))  # as the body travels in Lambda's response payload
        ids += [e["event_id"] for e in body["events"]]
        token = body.get("next_page_token")
        if token is None:
            break

    # Then every page stays under 5 MB (Lambda's limit is 6 MB), and together they hold every event once
    assert len(sizes) >= 2 and max(sizes) < 5_000_000, sizes
    assert ids == [f"e{i:04d}" for i in range(20)]
