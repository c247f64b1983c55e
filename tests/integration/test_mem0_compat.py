"""The unmodified mem0 client (``mem0ai`` 2.2.1 ``MemoryClient`` / ``AsyncMemoryClient``) against the local
stack's ``/mem0`` surface: add (a string, a dict, a list; ``infer`` true and false), search with filters,
get_all with pagination, get, update, history, delete, delete_all, batch, entities; tenant isolation; the
routes Engram does not offer (501); filters it cannot honour (422 naming them); the Token scheme only under
/mem0. Telemetry is off (``MEM0_TELEMETRY=False``) and every test fails if anything in the process tries
to reach a host other than loopback (the client's telemetry, its default host, a DNS lookup)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from engram import wiring
from engram.logic.auth import create_api_key
from engram_dev.client import EngramClient


class NetworkGuard:
    """Refuses (and records) every connection or DNS lookup of a host that is not loopback."""

    def __init__(self) -> None:
        self.attempts: list[str] = []
        self._connect = socket.socket.connect
        self._connect_ex = socket.socket.connect_ex
        self._getaddrinfo = socket.getaddrinfo

    @staticmethod
    def loopback(host: Any) -> bool:
        if isinstance(host, bytes):
            host = host.decode()
        if host in ("localhost", "localhost.", "", None):
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def _check(self, what: str, address: Any) -> None:
        if isinstance(address, tuple) and not self.loopback(address[0]):
            self.attempts.append(f"{what} {address[0]}")
            raise OSError(f"test network guard: {what} to {address[0]} refused (loopback only)")

    def install(self, patch: pytest.MonkeyPatch) -> None:
        guard = self

        def connect(sock: socket.socket, address: Any) -> None:
            guard._check("connect", address)
            return guard._connect(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            guard._check("connect", address)
            return guard._connect_ex(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard._check("DNS lookup", (host,))
            return guard._getaddrinfo(host, *args, **kwargs)

        patch.setattr(socket.socket, "connect", connect)
        patch.setattr(socket.socket, "connect_ex", connect_ex)
        patch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="module")
def guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkGuard]:
    """The network guard, installed before mem0 is imported, with mem0's telemetry off and its config
    directory (which it writes at import) in a temporary directory."""
    network = NetworkGuard()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MEM0_TELEMETRY", "False")
        patch.setenv("MEM0_DIR", str(tmp_path_factory.mktemp("mem0-home")))
        network.install(patch)
        import mem0.memory.telemetry

        assert mem0.memory.telemetry.MEM0_TELEMETRY is False
        assert mem0.memory.telemetry.client_telemetry.posthog is None
        yield network


@pytest.fixture(autouse=True)
def nothing_left_loopback(guard: NetworkGuard) -> Iterator[None]:
    start = len(guard.attempts)
    yield
    assert guard.attempts[start:] == [], "something tried to reach a host other than loopback"


@pytest.fixture
def tenant_key(local_stack) -> Callable[[], str]:
    """``tenant_key()`` → an API key of a new tenant."""

    def make() -> str:
        deps = wiring.dependencies()
        return create_api_key(deps.api_keys, deps.clock, f"mem0-{uuid.uuid4().hex[:8]}", "mem0 test")

    return make


@pytest.fixture
def mem0_url(local_stack) -> str:
    return f"{local_stack.api_url}/mem0"


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


def _eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    """``check()``'s first truthy result, retried while the search index catches up."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def _status(error: BaseException) -> int:
    return int(getattr(error, "debug_info", {}).get("status_code", 0))


def _all_pages(client: Any, filters: dict[str, Any], page_size: int) -> tuple[list[dict[str, Any]], list[int]]:
    results, counts, page = [], [], 1
    while True:
        answer = client.get_all(filters=filters, page=page, page_size=page_size)
        results += answer["results"]
        counts.append(answer["count"])
        if answer["next"] is None:
            return results, counts
        assert answer["next"] == f"?page={page + 1}&page_size={page_size}"
        page += 1


def test_the_guard_refuses_any_host_but_loopback(guard):
    from mem0 import MemoryClient

    # Given the client left at its default host (mem0's platform)
    before = len(guard.attempts)
    # When it is built (it checks the key at once), Then the guard refuses the lookup and records it
    with pytest.raises(Exception, match="loopback only"):
        MemoryClient(api_key="egm_not-sent-anywhere")
    assert guard.attempts[before:] == ["DNS lookup api.mem0.ai"]
    del guard.attempts[before:]  # expected here: the other tests must record none


def test_memory_client_adds_finds_pages_changes_and_deletes(tenant_key, mem0_url, local_stack, user):
    from mem0 import MemoryClient

    key = tenant_key()
    # Given the unmodified client pointed at Engram's /mem0 (its key check answers with the tenant)
    client = MemoryClient(api_key=key, host=mem0_url)
    assert client.org_id and client.org_id == client.project_id
    # When it adds a string, a dict and a list without inference
    hiking = client.add("I love hiking in the Alps", user_id=user, infer=False)
    pet = client.add(
        {"role": "user", "content": "My dog is called Rex"}, user_id=user, infer=False, metadata={"kind": "pet"}
    )
    chess = client.add(
        [{"role": "user", "content": "I play chess on Sundays"}, {"role": "assistant", "content": "Chess it is"}],
        user_id=user,
        infer=False,
        metadata={"kind": "hobby"},
    )
    # Then each message's text is stored as it is
    assert hiking["status"] == "SUCCEEDED" and [e["event"] for e in hiking["results"]] == ["ADD"]
    assert hiking["results"][0]["memory"] == "I love hiking in the Alps"
    assert [e["memory"] for e in chess["results"]] == ["I play chess on Sundays", "Chess it is"]
    # And with inference (the default) a generation runs: answered at once, its operation as event_id
    pending = client.add([{"role": "user", "content": "I moved to Lisbon and I work as a nurse."}], user_id=user)
    assert pending["status"] == "PENDING" and pending["results"] == []
    operation = EngramClient(local_stack.api_url, key).wait(pending["event_id"])
    assert operation["status"] == "SUCCEEDED"
    generated = len(operation["result"]["generated_memories"])
    # Or, with async_mode false, waited for
    done = client.add("I prefer tea over coffee.", user_id=user, async_mode=False)
    assert done["status"] == "SUCCEEDED" and [e["event"] for e in done["results"]] == ["ADD"]
    total = 4 + generated + len(done["results"])

    # get_all pages through the user's memories, newest first, each once, with the count on every page
    listed, counts = _all_pages(client, {"user_id": user}, page_size=2)
    assert counts == [total] * len(counts) and len(listed) == total == len({m["id"] for m in listed})
    assert [m["created_at"] for m in listed] == sorted((m["created_at"] for m in listed), reverse=True)
    assert all(m["user_id"] == user and m["agent_id"] is None for m in listed)

    # search: by words and meaning, with metadata, OR and time filters, top_k
    found = _eventually(lambda: client.search("hiking in the Alps", filters={"user_id": user})["results"])
    assert found[0]["memory"] == "I love hiking in the Alps" and 0 <= found[0]["score"] <= 1
    pets = client.search("dog", filters={"AND": [{"user_id": user}, {"metadata": {"kind": "pet"}}]})["results"]
    assert [m["id"] for m in pets] == [pet["results"][0]["id"]]
    either = {"OR": [{"metadata": {"kind": "pet"}}, {"metadata": {"kind": {"in": ["hobby"]}}}]}
    assert client.get_all(filters={"AND": [{"user_id": user}, either]})["count"] == 3
    today = datetime.now(UTC).date()
    assert client.get_all(filters={"user_id": user, "created_at": {"gte": today.isoformat()}})["count"] == total
    assert client.get_all(filters={"user_id": user, "created_at": {"lt": today.isoformat()}})["count"] == 0
    assert len(client.search("hiking", filters={"user_id": user}, top_k=1)["results"]) == 1

    # get, update (text and metadata), history
    memory_id = hiking["results"][0]["id"]
    got = client.get(memory_id)
    assert got["memory"] == "I love hiking in the Alps" and got["user_id"] == user and got["metadata"] == {}
    updated = client.update(memory_id, text="I love hiking in the Dolomites", metadata={"kind": "hobby"})
    assert updated["memory"] == "I love hiking in the Dolomites" and updated["metadata"] == {"kind": "hobby"}
    history = client.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "I love hiking in the Alps"),
        ("UPDATE", "I love hiking in the Alps", "I love hiking in the Dolomites"),
    ]

    # delete: gone, its history kept
    assert client.delete(memory_id)["message"]
    with pytest.raises(Exception) as missing:
        client.get(memory_id)
    assert _status(missing.value) == 404 and type(missing.value).__name__ == "MemoryNotFoundError"
    assert [h["event"] for h in client.history(memory_id)] == ["ADD", "UPDATE", "DELETE"]

    # batch update and delete
    chess_ids = [e["id"] for e in chess["results"]]
    assert (
        "2" in client.batch_update([{"memory_id": i, "text": f"chess {n}"} for n, i in enumerate(chess_ids)])["message"]
    )
    assert client.get(chess_ids[1])["memory"] == "chess 1"
    assert "2" in client.batch_delete([{"memory_id": i} for i in chess_ids])["message"]
    assert client.get_all(filters={"user_id": user})["count"] == total - 3

    # delete_all: the user's scope is empty
    assert client.delete_all(user_id=user)["deleted_count"] == total - 3
    assert client.get_all(filters={"user_id": user}) == {"count": 0, "next": None, "previous": None, "results": []}


def test_async_memory_client_does_the_same(tenant_key, mem0_url, local_stack, user):
    from mem0 import AsyncMemoryClient

    async def scenario() -> None:
        client = AsyncMemoryClient(api_key=tenant_key(), host=mem0_url)
        plain = await client.add("I collect vinyl records", user_id=user, agent_id="music", infer=False)
        one = await client.add(
            {"role": "user", "content": "My favourite band is Queen"}, user_id=user, agent_id="music", infer=False
        )
        many = await client.add(
            [{"role": "user", "content": "I live in Porto."}], user_id=user, agent_id="music", async_mode=False
        )
        assert plain["status"] == one["status"] == many["status"] == "SUCCEEDED"
        scope = {"AND": [{"user_id": user}, {"agent_id": "music"}]}
        total = 2 + len(many["results"])
        first = await client.get_all(filters=scope, page=1, page_size=1)
        second = await client.get_all(filters=scope, page=2, page_size=1)
        assert first["count"] == second["count"] == total and first["results"] != second["results"]
        found = await client.search("vinyl records", filters=scope)
        assert found["results"] and found["results"][0]["memory"] == "I collect vinyl records"
        memory_id = plain["results"][0]["id"]
        assert (await client.get(memory_id))["agent_id"] == "music"
        await client.update(memory_id, text="I collect vinyl records and tapes")
        assert [h["event"] for h in await client.history(memory_id)] == ["ADD", "UPDATE"]
        await client.batch_update([{"memory_id": memory_id, "metadata": {"format": "vinyl"}}])
        assert (await client.get(memory_id))["metadata"] == {"format": "vinyl"}
        await client.delete(memory_id)
        await client.batch_delete([{"memory_id": one["results"][0]["id"]}])
        deleted = await client.delete_all(user_id=user, agent_id="music")
        assert deleted["deleted_count"] == total - 2
        assert (await client.get_all(filters=scope))["count"] == 0
        await client.async_client.aclose()

    asyncio.run(scenario())


def test_scopes_are_exact_and_entities_span_them(tenant_key, mem0_url, user):
    from mem0 import MemoryClient

    client = MemoryClient(api_key=tenant_key(), host=mem0_url)
    # Given memories of a user alone and of the same user with an agent
    own = client.add("I am vegetarian", user_id=user, infer=False)["results"][0]["id"]
    with_agent = client.add("Book window seats", user_id=user, agent_id="travel", infer=False)["results"][0]["id"]
    # Then each scope is matched exactly
    assert [m["id"] for m in client.get_all(filters={"user_id": user})["results"]] == [own]
    both = {"AND": [{"user_id": user}, {"agent_id": "travel"}]}
    assert [m["id"] for m in client.get_all(filters=both)["results"]] == [with_agent]
    # And the entities span scopes: the user has both memories, the agent one
    entities = {(e["type"], e["name"]): e for e in client.users()["results"]}
    assert entities[("user", user)]["total_memories"] == 2 and entities[("agent", "travel")]["total_memories"] == 1
    # And deleting the user entity deletes it in every scope
    assert client.delete_users(user_id=user) == {"message": "Entity deleted successfully."}
    assert client.users()["results"] == []
    for memory_id in (own, with_agent):
        with pytest.raises(Exception) as missing:
            client.get(memory_id)
        assert _status(missing.value) == 404


def test_another_tenants_key_sees_and_changes_nothing(tenant_key, mem0_url, user):
    from mem0 import MemoryClient

    a, b = MemoryClient(api_key=tenant_key(), host=mem0_url), MemoryClient(api_key=tenant_key(), host=mem0_url)
    assert a.org_id != b.org_id
    memory_id = a.add("The user lives in Lisbon", user_id=user, infer=False)["results"][0]["id"]
    _eventually(lambda: a.search("Lisbon", filters={"user_id": user})["results"])
    # Tenant B, with the very same user id and memory id, finds nothing and changes nothing
    assert b.search("Lisbon", filters={"user_id": user})["results"] == []
    assert b.get_all(filters={"user_id": user})["count"] == 0
    assert b.users()["results"] == []
    calls: list[Callable[[], Any]] = [
        lambda: b.get(memory_id),
        lambda: b.update(memory_id, text="hijacked"),
        lambda: b.history(memory_id),
        lambda: b.delete(memory_id),
        lambda: b.batch_update([{"memory_id": memory_id, "text": "hijacked"}]),
        lambda: b.batch_delete([{"memory_id": memory_id}]),
        lambda: b.delete_users(user_id=user),
    ]
    for call in calls:
        with pytest.raises(Exception) as refused:
            call()
        assert _status(refused.value) == 404
    assert b.delete_all(user_id=user)["deleted_count"] == 0
    assert a.get(memory_id)["memory"] == "The user lives in Lisbon"


def test_routes_engram_does_not_offer_answer_501_with_a_message(tenant_key, mem0_url):
    from mem0 import MemoryClient

    client = MemoryClient(api_key=tenant_key(), host=mem0_url)
    calls: dict[str, Callable[[], Any]] = {
        "create_memory_export": lambda: client.create_memory_export("{}", user_id="u"),
        "get_memory_export": lambda: client.get_memory_export(user_id="u"),
        "get_summary": lambda: client.get_summary({"user_id": "u"}),
        "feedback": lambda: client.feedback("m-1", "POSITIVE"),
        "get_profile": lambda: client.get_profile("u"),
        "generate_profile": lambda: client.generate_profile("u"),
        "sample_profiles": lambda: client.sample_profiles(),
        "get_profile_job": lambda: client.get_profile_job("job-1"),
        "get_profile_settings": lambda: client.get_profile_settings(),
        "update_profile_settings": lambda: client.update_profile_settings(enabled=True),
        "project.get": lambda: client.project.get(),
        "project.create": lambda: client.project.create("p"),
        "project.update": lambda: client.project.update(custom_instructions="x"),
        "project.delete": lambda: client.project.delete(),
        "project.get_members": lambda: client.project.get_members(),
        "project.add_member": lambda: client.project.add_member("a@example.com"),
        "project.update_member": lambda: client.project.update_member("a@example.com", "OWNER"),
        "project.remove_member": lambda: client.project.remove_member("a@example.com"),
        "get_webhooks": lambda: client.get_webhooks("p"),
        "create_webhook": lambda: client.create_webhook("https://example.com/hook", "h", "p", ["memory_add"]),
        "update_webhook": lambda: client.update_webhook(1, name="h"),
        "delete_webhook": lambda: client.delete_webhook(1),
    }
    for name, call in calls.items():
        with pytest.raises(Exception) as refused:
            call()
        assert _status(refused.value) == 501, name
        assert "does not offer" in str(refused.value), name


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda c, u: c.search("x", filters={"user_id": "*"}), "'*'"),
        (lambda c, u: c.search("x", filters={"user_id": {"in": [u, "other"]}}), "'in' on an entity"),
        (lambda c, u: c.search("x", filters={"OR": [{"user_id": u}, {"agent_id": "a"}]}), "inside OR"),
        (lambda c, u: c.search("x", filters={"user_id": u, "metadata": {"k": {"icontains": "v"}}}), "icontains"),
        (lambda c, u: c.search("x", filters={"user_id": u, "keywords": "v"}), "unknown filter key 'keywords'"),
        (lambda c, u: c.search("x", filters={"metadata": {"k": "v"}}), "at least one of user_id"),
        (lambda c, u: c.search("x", filters={"user_id": u}, rerank=True), "rerank"),
        (lambda c, u: c.search("x", filters={"user_id": u}, reference_date="2026-01-01"), "reference_date"),
        (lambda c, u: c.get_all(filters={"user_id": u, "created_at": {"gte": "last week"}}), "last week"),
        (lambda c, u: c.get_all(filters={"user_id": u, "categories": {"contains": "food"}}), "categories"),
        (lambda c, u: c.add("x", user_id=u, custom_instructions="only food"), "custom_instructions"),
        (lambda c, u: c.add("x", user_id=u, infer=False, metadata={"nested": {"a": 1}}), "nested"),
        (lambda c, u: c.get_all(filters={"user_id": u}, page_size=500), "page_size"),
        (lambda c, u: c.get_all(filters={"user_id": u}, page=10**20), "page"),
    ],
)
def test_what_engram_cannot_honour_is_a_422_naming_it(tenant_key, mem0_url, user, call, named):
    from mem0 import MemoryClient

    client = MemoryClient(api_key=tenant_key(), host=mem0_url)
    with pytest.raises(Exception) as refused:
        call(client, user)
    assert _status(refused.value) == 422 and named in str(refused.value), str(refused.value)


def test_the_token_scheme_works_under_mem0_only_and_bearer_everywhere(tenant_key, local_stack):
    key = tenant_key()
    with httpx.Client(base_url=local_stack.api_url, timeout=30) as http:
        token, bearer = {"Authorization": f"Token {key}"}, {"Authorization": f"Bearer {key}"}
        assert http.get("/mem0/v1/ping/", headers=token).status_code == 200
        assert http.get("/mem0/v1/ping/", headers=bearer).status_code == 200
        assert http.get("/mem0/v1/ping/", headers={"Authorization": "Token egm_not-a-key-of-anyone"}).status_code == 401
        # a Token key on Engram's own routes: the authorizer's policy allows /mem0 only
        refused = http.post("/v1/memories/retrieve", json={"scope": {"user_id": "u"}}, headers=token)
        assert refused.status_code == 403 and "/mem0 only" in refused.json()["error"]["message"]
        assert http.post("/v1/memories/retrieve", json={"scope": {"user_id": "u"}}, headers=bearer).status_code == 200


def test_the_authorizers_policy_for_a_token_key_allows_the_mem0_routes_only(tenant_key, local_stack):
    key = tenant_key()
    arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod"
    for method_arn in (f"{arn}/GET/mem0/v1/ping/", f"{arn}/POST/v1/memories/retrieve"):
        # Given mem0's Token scheme, on a /mem0 route and on one of Engram's own
        event = {"type": "TOKEN", "authorizationToken": f"Token {key}", "methodArn": method_arn}
        policy = local_stack.runtime.invoke("AuthorizerFunction", event)
        # Then the key resolves, and the policy (cached per header for every route) allows /mem0 only
        [statement] = policy["policyDocument"]["Statement"]
        assert statement["Effect"] == "Allow" and statement["Resource"] == [f"{arn}/*/mem0/*"]
        assert policy["context"]["tenant_id"]
    bearer = {"type": "TOKEN", "authorizationToken": f"Bearer {key}", "methodArn": f"{arn}/GET/mem0/v1/ping/"}
    [statement] = local_stack.runtime.invoke("AuthorizerFunction", bearer)["policyDocument"]["Statement"]
    assert statement["Resource"] == [f"{arn}/*/*"]


def test_an_idempotency_key_makes_an_add_run_once(tenant_key, local_stack, user):
    key = tenant_key()
    body = {"messages": [{"role": "user", "content": "I speak Portuguese"}], "user_id": user, "infer": False}
    with httpx.Client(base_url=f"{local_stack.api_url}/mem0", timeout=30) as http:
        headers = {"Authorization": f"Token {key}", "Idempotency-Key": f"add-{user}"}
        first = http.post("/v3/memories/add/", json=body, headers=headers)
        again = http.post("/v3/memories/add/", json=body, headers=headers)
        assert first.status_code == again.status_code == 200 and first.json() == again.json()
        other = http.post("/v3/memories/add/", json={**body, "infer": True}, headers=headers)
        assert other.status_code == 422 and other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
        listed = http.post(
            "/v3/memories/", json={"filters": {"user_id": user}}, headers={"Authorization": f"Token {key}"}
        )
    assert listed.status_code == 200 and listed.json()["count"] == 1


def test_an_expiration_date_sets_the_expiry_to_the_end_of_that_day(tenant_key, mem0_url, user):
    from mem0 import MemoryClient

    client = MemoryClient(api_key=tenant_key(), host=mem0_url)
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    memory_id = client.add("Trial ends soon", user_id=user, infer=False, expiration_date=day.isoformat())["results"][0][
        "id"
    ]
    assert client.get(memory_id)["expiration_date"] == day.isoformat()
    client.update(memory_id, expiration_date=None)
    assert client.get(memory_id)["expiration_date"] is None
