from pathlib import Path

from gateway.schema import schema

SCHEMA_FILE = Path(__file__).parent.parent / "schema.graphql"


def test_schema_graphql_matches_the_code() -> None:
    assert SCHEMA_FILE.read_text() == schema.as_str() + "\n", "schema.graphql is stale: run `make schema`"
