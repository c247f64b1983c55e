"""The DynamoDB single table, through PynamoDB: the source of truth.

- ``items``: the item classes (one base class; keys, attributes, mapping to domain models) and the layout.
- ``table``: ``Table`` binds the item classes to one table; the transaction size; storage errors.
- ``codecs``: embeddings, stored documents, expiry times and page tokens as stored values.
- ``conditions``: filters as DynamoDB filter expressions.
- ``stream``: memories in stream records.
- one repository per aggregate (``memories``, ``operations``, ``sessions``, ``api_keys``, ``leases``,
  ``configs``, ``retention``), each implementing its port in ``engram.ports``.
- ``idempotency``: the Powertools idempotency persistence layer on this table (imports Powertools).
"""
