"""Engram's development tooling, installed by the checkout's ``pyproject.toml`` and never part of the
Lambda layer: the embedded local stack (``stack``: the moto emulator, the in-process Lambda runtime, the
stream poller, the API front, the local index), the ``engram`` command (``cli``), the benchmarks
(``bench``), the soak, the scripted OpenAI-compatible server, the OpenAPI writer, and every change made
to third-party libraries (``patches``)."""
