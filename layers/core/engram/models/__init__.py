"""Pydantic v2 models: the domain (``memory``, ``conversation``, ``operation``), the HTTP API
(``api``) and the workflow payloads (``workflow``)."""
