"""The quick start's SQLite reads the export through exports.portable: the same records, in the
same layout, as PostgreSQL's SQL gives (checked here on PostgreSQL, against that SQL)."""

import json

import pytest
from django.db import connection
from django.http import QueryDict

from exports import portable, rows, selectors
from exports.options import options_parse
from exports.selectors import export_plan

pytestmark = pytest.mark.django_db


def _plan(data, query: str = "include_in_progress=1"):
    return export_plan(options=options_parse(project=data.project, query=QueryDict(query)))


def _sql_records(slide) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(rows.rows_sql(tables=selectors._tables()), rows.rows_params(slide=slide))
        return cursor.fetchall()


def _comparable(record: tuple) -> tuple:
    # Geometry text is compared as parsed JSON (the two write its spacing differently), the
    # wrong label ids as lists.
    record = list(record)
    record[3] = json.loads(record[3])
    if record[20] is not None:
        record[20] = json.loads(record[20])
    record[19] = list(record[19]) if record[19] else None
    if record[22] is not None:
        record[22] = json.loads(record[22])
    return tuple(record)


def test_the_orm_records_of_every_slide_are_those_of_the_sql(export_data):
    plan = _plan(export_data)
    compared = 0
    for slide in plan.slides:
        expected = [_comparable(r) for r in _sql_records(slide)]
        assert [_comparable(r) for r in portable.records(slide=slide)] == expected
        compared += len(expected)
    # Corrections, relabels and missed regions are among them (conftest's table).
    assert compared >= 12


def test_the_orm_counts_are_those_of_the_sql(export_data):
    plan = _plan(export_data)
    pairs = [(a, slide.id) for slide in plan.slides for a in slide.assignments]
    params = {"assignments": [a for a, _ in pairs], "slides": [s for _, s in pairs]}
    sql = selectors._count_groups(pairs, params)

    def normal(groups):
        return sorted((*g[:6], tuple(g[6] or ()), g[7]) for g in groups)

    assert normal(portable.counts(work=pairs)) == normal(sql)


def test_an_export_on_another_database_reads_through_the_orm(export_data, monkeypatch):
    plan = _plan(export_data, "policy=consensus&apply_corrections=1")
    expected = {
        slide.id: list(selectors.export_rows(options=plan.options, plan=plan, slide=slide))
        for slide in plan.slides
    }
    monkeypatch.setattr(connection, "vendor", "sqlite")

    assert _plan(export_data, "policy=consensus&apply_corrections=1").counts == plan.counts
    for slide in plan.slides:
        got = list(selectors.export_rows(options=plan.options, plan=plan, slide=slide))
        assert [r._replace(geometry=json.loads(r.geometry)) for r in got] == [
            r._replace(geometry=json.loads(r.geometry)) for r in expected[slide.id]
        ]
