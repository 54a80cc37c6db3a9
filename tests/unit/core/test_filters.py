"""The core's neutral filter tree compiled to SQL, whichever face parsed it."""

from __future__ import annotations

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table
from sqlalchemy.dialects import postgresql, sqlite

from hangar.core.errors import InvalidFilterValue, UnknownField
from hangar.core.filters import (
    And,
    Compare,
    Field,
    Not,
    Op,
    Or,
    OrderBy,
    as_bool,
    as_int,
    compile_filter,
    compile_order,
)

_T = Table(
    "things", MetaData(), Column("name", String), Column("size", Integer), Column("done", Boolean)
)
FIELDS = {
    "name": Field(_T.c.name),
    "size": Field(_T.c.size, as_int),
    "done": Field(_T.c.done, as_bool),
}


def sql(tree: object, dialect: object = None) -> str:
    compiled = compile_filter(tree, FIELDS)  # type: ignore[arg-type]
    assert compiled is not None
    return str(
        compiled.compile(
            dialect=dialect or sqlite.dialect(), compile_kwargs={"literal_binds": True}
        )
    )


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (Compare("name", Op.EQ, "a"), "things.name = 'a'"),
        (Compare("name", Op.EQ, None), "things.name IS NULL"),
        (Compare("name", Op.NE, None), "things.name IS NOT NULL"),
        (Compare("size", Op.GE, "3"), "things.size >= 3"),
        (Compare("size", Op.IN, (1, 2)), "things.size IN (1, 2)"),
        (Compare("name", Op.LIKE, "a%"), "things.name LIKE 'a%'"),
        (Compare("name", Op.CONTAINS, "a_b"), "things.name LIKE '%' || 'a/_b' || '%' ESCAPE '/'"),
        (Not(Compare("size", Op.LT, 1)), "things.size >= 1"),
        (
            Or((Compare("size", Op.GT, 1), And((Compare("name", Op.NE, "x"),)))),
            "things.size > 1 OR things.name != 'x'",
        ),
        (And(()), "1"),
        (Or(()), "0"),
    ],
)
def test_trees_compile_to_sql(tree: object, expected: str) -> None:
    assert sql(tree) == expected


def test_regex_is_a_match_operator() -> None:
    assert sql(Compare("name", Op.REGEX, "^a.*"), postgresql.dialect()) == "things.name ~ '^a.*'"


def test_no_tree_is_no_condition() -> None:
    assert compile_filter(None, FIELDS) is None


def test_unknown_fields_are_named() -> None:
    with pytest.raises(UnknownField) as caught:
        compile_filter(And((Compare("name", Op.EQ, "a"), Compare("colour", Op.EQ, "b"))), FIELDS)
    assert caught.value.field == "colour"
    with pytest.raises(UnknownField):
        compile_order([OrderBy("colour")], FIELDS, [])


@pytest.mark.parametrize(
    ("compare", "reason"),
    [
        (Compare("size", Op.EQ, "many"), "invalid literal for int() with base 10: 'many'"),
        (Compare("size", Op.IN, 3), "a list is expected"),
        (Compare("size", Op.EQ, [3]), "a list is not allowed here"),
        (Compare("name", Op.LIKE, True), "a string is expected"),
        (Compare("done", Op.LE, "true"), "true and false compare only for equality"),
    ],
)
def test_values_that_do_not_fit_say_why(compare: Compare, reason: str) -> None:
    with pytest.raises(InvalidFilterValue) as caught:
        compile_filter(compare, FIELDS)
    assert (caught.value.field, caught.value.reason) == (compare.field, reason)


def test_order_puts_the_default_last() -> None:
    clauses = compile_order(
        [OrderBy("size", descending=True), OrderBy("name")], FIELDS, [_T.c.name]
    )
    assert [str(c) for c in clauses] == ["things.size DESC", "things.name ASC", "things.name"]
