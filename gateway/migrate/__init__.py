"""Migrations between providers: the engine (`engine.py`, `copy.py`), its store (`store.py`, `records.py`,
`tables.py`), the report, and its two faces (`cli.py`, `graphql.py`), both through `service.py`."""
