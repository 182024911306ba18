"""BatchExecuteStatement's parameterised INSERTs in the local moto, as DynamoDB runs them.

The Enrich stage claims a batch's new players with BatchExecuteStatement: up to 25 ``INSERT INTO "<table>" VALUE
{'a': ?, 'b': ?}`` statements a call, each its own write (``lambdas/common/enrich/players.py``). In DynamoDB an
INSERT whose key exists fails alone with the statement error ``DuplicateItem`` and changes nothing; the others are
written. moto 5.2.5 cannot run that statement: its PartiQL parser refuses a ``?`` parameter in a VALUE tuple (a
TypeError, so a 500), and its INSERT of a literal tuple overwrites an item that exists. Its ExecuteStatement also
serialises every item of every table for each statement.

``batch_execute_statement`` here runs a batch made only of such INSERTs itself: for each statement, under the
lock of the backend's writes (``moto_dynamodb._LOCK``, handed in), ``DuplicateItem`` when the key exists, else
moto's own ``put_item`` (its checks of the item). Any other batch goes to moto's own code. As in DynamoDB, more
than 25 statements is a ValidationException of the whole call. tests/unit/test_moto_dynamodb_partiql.py.
"""

from __future__ import annotations

import functools
import re
from typing import Any

#: DynamoDB's limit of statements in one BatchExecuteStatement.
MAX_STATEMENTS = 25
_INSERT = re.compile(
    r"""\s*INSERT\s+INTO\s+"(?P<table>[A-Za-z0-9_.-]{3,255})"\s+VALUE\s+\{(?P<names>\s*'[^']+'\s*:\s*\?\s*"""
    r"""(?:,\s*'[^']+'\s*:\s*\?\s*)*)\}\s*""",
    re.IGNORECASE,
)
_NAME = re.compile(r"'([^']+)'")


@functools.lru_cache(maxsize=256)
def parameterised_insert(statement: str) -> tuple[str, tuple[str, ...]] | None:
    """(table, attribute names in order) of ``INSERT INTO "t" VALUE {'a': ?, ...}``; None for anything else."""
    match = _INSERT.fullmatch(statement)
    if match is None:
        return None
    return match["table"], tuple(_NAME.findall(match["names"]))


def _error(code: str, message: str) -> dict[str, Any]:
    return {"Error": {"Code": code, "Message": message}}


def _insert(backend: Any, lock: Any, table_name: str, names: tuple[str, ...], parameters: list[Any]) -> dict[str, Any]:
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models.dynamo_type import DynamoType

    if len(parameters) != len(names):
        return _error("ValidationError", "Number of parameters in request and statement don't match.")
    item = dict(zip(names, parameters, strict=True))
    table = backend.tables.get(table_name)
    if table is None:
        return _error("ResourceNotFound", "Requested resource not found")
    keys = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
    if any(a not in item for a in keys):
        return _error("ValidationError", "One or more parameter values were invalid: Missing the key in the item")
    if any(item[a] in ({"S": ""}, {"B": ""}) for a in keys):
        return _error("ValidationError", "One or more parameter values are not valid. A key attribute cannot be empty")
    with lock:
        try:
            hash_key = DynamoType(item[table.hash_key_attr])
            range_key = DynamoType(item[table.range_key_attr]) if table.range_key_attr else None
            if table.get_item(hash_key, range_key) is not None:
                return _error("DuplicateItem", "Duplicate primary key exists in table")
            backend.put_item(table_name, item)
        except DynamodbException as exc:  # moto's refusal of this item (a key of the wrong type...): this statement's
            return _error("ValidationError", str(getattr(exc, "message", "") or type(exc).__name__))
    return {"TableName": table_name}


def batch_inserts(original: Any, lock: Any) -> Any:
    """moto's ``DynamoDBBackend.batch_execute_statement``, with a batch of parameterised INSERTs run as above
    (``lock``: the backend's write lock)."""

    @functools.wraps(original)
    def batch_execute_statement(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from moto.dynamodb.exceptions import MockValidationException

        if len(statements) > MAX_STATEMENTS:
            raise MockValidationException(
                f"1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have "
                f"length less than or equal to {MAX_STATEMENTS}"
            )
        inserts = [parameterised_insert(str(s.get("Statement", ""))) for s in statements]
        parsed = [i for i in inserts if i is not None]
        if not statements or len(parsed) < len(statements):
            return original(self, statements)
        return [
            _insert(self, lock, table, names, list(s.get("Parameters") or []))
            for s, (table, names) in zip(statements, parsed, strict=True)
        ]

    return batch_execute_statement
