"""Engram: a self-hostable memory bank for AI agents.

Layers (DESIGN.md §2): ``models`` (pydantic shapes), ``logic`` (use cases, imports only ports),
``ports`` (Protocols), ``adapters`` (one module per external system), ``local`` (the embedded stack).
"""

__version__ = "0.1.0"
