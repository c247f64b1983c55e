"""Every Engram model builds its validator on first use (``engram.models.base.EngramModel``), so importing
a module of models costs a function's cold start only the class definitions."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys
import threading

import engram.models
from engram.models.base import EngramModel
from engram.models.mem0 import Mem0History, Mem0HistoryEntry
from pydantic import BaseModel, ConfigDict, Field, RootModel, TypeAdapter


def _models() -> list[type[BaseModel]]:
    found = []
    for info in pkgutil.iter_modules(engram.models.__path__):
        module = importlib.import_module(f"engram.models.{info.name}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseModel) and value.__module__ == module.__name__ and value is not EngramModel:
                found.append(value)
    return found


def test_every_model_defers_building_its_validator() -> None:
    models = _models()
    assert len(models) > 50  # the walk found them
    assert [m.__qualname__ for m in models if m.model_config.get("defer_build") is not True] == []
    assert [m.__qualname__ for m in models if not issubclass(m, EngramModel)] == []


def test_the_history_root_model_is_the_parametrized_one_it_replaces() -> None:
    # Given Mem0History (an EngramModel and RootModel with a ``root`` field: importing it builds nothing) and the
    # parametrized generic it was written as before (which builds its validator when it is created)
    eager = RootModel[list[Mem0HistoryEntry]]
    entry = {
        "id": "r1",
        "memory_id": "m1",
        "event": "ADD",
        "new_memory": "likes tea",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
    }
    # Then both validate and dump the same, and describe the same JSON (an array of Mem0HistoryEntry)
    assert Mem0History.model_validate([entry]).model_dump(mode="json") == eager.model_validate([entry]).model_dump(
        mode="json"
    )
    ours, theirs = Mem0History.model_json_schema(), eager.model_json_schema()
    assert {**ours, "title": None, "description": None} == {**theirs, "title": None, "description": None}
    assert ours["items"] == {"$ref": "#/$defs/Mem0HistoryEntry"}


def _first_use_in_threads(model: type[BaseModel], threads: int = 8) -> list[BaseException]:
    """Validate with ``model`` in ``threads`` threads started together (half through a ``TypeAdapter``,
    as Powertools does); what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)
    data = {"parts": [{"text": "a"}], "labels": {"k": "v"}}

    def use(index: int) -> None:
        start.wait()
        try:
            if index % 2:
                TypeAdapter(model).validate_python(data)
            else:
                model.model_validate(data).model_dump()
        except BaseException as error:  # collected for the test's thread to assert on
            errors.append(error)

    running = [threading.Thread(target=use, args=(index,)) for index in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return errors


def test_threads_that_first_use_a_model_at_once_all_get_it_built() -> None:
    """The local stack serves requests in threads: the first requests may use a deferred model together.
    pydantic 2.13 builds it in each of them at once and one can see another's half-built class
    (``AttributeError``); ``EngramModel.model_rebuild`` builds one at a time."""
    switch = sys.getswitchinterval()
    # Switch threads as often as possible, to meet the race: without the lock this fails about one run in five.
    sys.setswitchinterval(1e-6)
    try:
        for _ in range(60):  # fresh (unbuilt) models each time

            class Part(EngramModel):
                text: str = Field(min_length=1)

            class Whole(EngramModel):
                model_config = ConfigDict(extra="forbid")
                parts: list[Part]
                labels: dict[str, str] = Field(default_factory=dict)

            assert _first_use_in_threads(Whole) == []
    finally:
        sys.setswitchinterval(switch)
