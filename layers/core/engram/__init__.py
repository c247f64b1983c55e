"""Engram: a self-hostable memory bank for AI agents.

Layers: ``models`` (pydantic shapes), ``logic`` (use cases, imports only ports), ``ports`` (Protocols),
``adapters`` (one module per external system), ``api`` (the HTTP routes). The embedded local stack and
the developer tools are the separate ``engram_dev`` package (``dev/``), never part of the Lambda layer.
"""

__version__ = "0.1.0"
