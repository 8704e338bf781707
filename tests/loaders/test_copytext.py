"""COPY text and JSON documents built with Arrow: exact for any text, checked against the json
module, a reference COPY decoder and PostgreSQL itself."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, create_engine, text

from loaders.copytext import arrow_values, copy_payload, json_documents
from tests.databases import postgres_database

TRICKY = ["plain", "", 'quo"te', "back\\slash", "tab\there", "new\nline", "cr\rx", "\x01ctl",
          "Ñandú Pérez", "emoji 🙂", "\\N", "semi;colon", "comma,", "\u2028sep"]  # fmt: skip
texts = st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=30)


def decode_copy(payload: bytes, columns: int) -> list[list[str | None]]:
    """A reference reader of PostgreSQL's COPY text format, one character at a time."""
    escapes = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
    rows = []
    for line in payload.decode().split("\n")[:-1]:
        fields: list[str | None] = []
        for raw in line.split("\t"):
            if raw == "\\N":
                fields.append(None)
                continue
            out, i = [], 0
            while i < len(raw):
                if raw[i] == "\\":
                    out.append(escapes[raw[i + 1]])
                    i += 2
                else:
                    out.append(raw[i])
                    i += 1
            fields.append("".join(out))
        assert len(fields) == columns
        rows.append(fields)
    return rows


def test_tricky_text_survives_copy_text() -> None:
    values = [*TRICKY, None]
    payload = copy_payload([arrow_values(pd.Series(values, dtype=object))])
    assert decode_copy(bytes(payload), 1) == [[v] for v in values]


@settings(max_examples=200, deadline=None)
@given(texts)
def test_any_text_survives_copy_text(values: list[str | None]) -> None:
    values = [v.replace("\x00", "") if v is not None else None for v in values]  # COPY has no NUL
    payload = copy_payload([arrow_values(pd.Series(values, dtype=object)), pa.scalar(7)])
    assert decode_copy(bytes(payload), 2) == [[v, "7"] for v in values]


def test_booleans_numbers_and_constants_in_copy_text() -> None:
    columns = [pa.array([True, False, None]), pa.array([1, None, 30]), pa.scalar("c", pa.string())]
    assert bytes(copy_payload(columns)) == b"t\t1\tc\nf\t\\N\tc\n\\N\t30\tc\n"


@settings(max_examples=200, deadline=None)
@given(texts)
def test_json_documents_equal_what_the_json_module_reads_back(values: list[str | None]) -> None:
    frame = pd.DataFrame({"a": values, "b": [None] * len(values), "active": True, "load_id": 3})
    columns = {name: arrow_values(frame[name]) for name in frame.columns}
    documents = json_documents(columns).to_pylist()
    expected = [{"a": v, "b": None, "active": True, "load_id": 3} for v in values]
    assert [json.loads(d) for d in documents] == expected


def test_json_documents_of_tricky_text_and_arrow_strings() -> None:
    arrow_backed = pd.Series(TRICKY, dtype="str")
    documents = json_documents({"x": arrow_values(arrow_backed), "y": arrow_values(arrow_backed)})
    assert [json.loads(d) for d in documents.to_pylist()] == [{"x": v, "y": v} for v in TRICKY]


@pytest.fixture
def pg_engine(postgres_template: tuple[Engine, str]) -> Iterator[Engine]:
    admin, _template = postgres_template
    with postgres_database(admin) as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_reads_copy_text_and_json_as_written(pg_engine: Engine) -> None:
    values = [v for v in TRICKY if "\x00" not in v] + [None]
    column = arrow_values(pd.Series(values, dtype=object))
    documents = json_documents({"v": column})
    with pg_engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (n int, v text, doc json, flag boolean)"))
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy("COPY t (n, v, doc, flag) FROM STDIN") as copy:
            copy.write(
                copy_payload([pa.array(range(len(values))), column, documents, pa.scalar(True)])
            )
        rows = conn.execute(text("SELECT v, doc, flag FROM t ORDER BY n")).all()
    assert [r[0] for r in rows] == values
    assert [r[1] for r in rows] == [{"v": v} for v in values]
    assert all(r[2] is True for r in rows)
