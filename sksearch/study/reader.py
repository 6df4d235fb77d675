"""Read a study's trials straight from Optuna's tables, read-only.

The read commands (``status``, ``pareto``, ``report``, ``export``) need the trials table and
nothing else of Optuna. Opening the study through Optuna's storage imports SQLAlchemy and
Alembic and checks the schema (about 0.3 s before a single row), and building FrozenTrials
costs more per trial than the table does; a plain SELECT over the same tables gives the same
rows in milliseconds. SQLite files are opened with the standard library (URI ``mode=ro``, so
nothing is ever created or written); other databases through SQLAlchemy.

The reader knows Optuna's RDB schema of version ``KNOWN_SCHEMAS``; on any other version it
reads through Optuna's own API instead. ``tests/study/test_reader.py`` checks that both give
the same table.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
from typing import Any, Callable

import pandas as pd

from ..errors import UserError
from .optuna_private import METRIC_NAMES_KEY
from .store import check_sqlite, load_study
from .table import TrialRecord, records_from_study, trials_table

# Alembic revisions of Optuna's RDB schema whose tables this reader knows (Optuna 3.2 to 5.x).
KNOWN_SCHEMAS = ("v3.2.0.a",)
_VALUE = {"INF_POS": math.inf, "INF_NEG": -math.inf}
_INT = ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution")
_FLOAT = ("FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution")

def recover_hot_journal(path: str) -> None:
    """Roll back what a writer killed mid-transaction left in ``path-journal``.

    A read-only connection cannot do that rollback and SQLite then refuses to read at all
    ("attempt to write a readonly database"); any later writer would do it first thing. It
    restores the last committed state and changes no committed row, so a read command may do
    it: one read-write connection, opened and closed here."""
    journal = path + "-journal"
    if os.path.exists(journal) and os.path.getsize(journal) > 0:
        con = sqlite3.connect(path)
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchall()
        finally:
            con.close()


class _Connection:
    """A read-only connection that runs this module's SELECTs: ``{key}`` in a query stands for
    the quoted column name ``key`` (a reserved word in some databases); binds are ``:name``."""

    def __init__(self, url: str, sqlite_path: str | None) -> None:
        self.url = url
        if sqlite_path:
            recover_hot_journal(sqlite_path)
            self._con = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
            self._key = '"key"'
        else:
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(url)
            self._con = self._engine.connect()
            self._key = self._engine.dialect.identifier_preparer.quote_identifier("key")

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        sql = sql.replace("{key}", self._key)
        if isinstance(self._con, sqlite3.Connection):
            return self._con.execute(sql, params or {}).fetchall()
        import sqlalchemy

        return [tuple(r) for r in self._con.execute(sqlalchemy.text(sql), params or {})]

    def has_table(self, name: str) -> bool:
        if isinstance(self._con, sqlite3.Connection):
            return bool(self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :n", {"n": name}))
        import sqlalchemy

        return sqlalchemy.inspect(self._con).has_table(name)

    def close(self) -> None:
        self._con.close()
        if not isinstance(self._con, sqlite3.Connection):
            self._engine.dispose()


def _decoder(distribution_json: str) -> Callable[[float], Any]:
    """Internal float -> the value the sampler suggested (a choice, an int, a float)."""
    spec = json.loads(distribution_json)
    kind, attrs = spec.get("name"), spec.get("attributes", {})
    if kind == "CategoricalDistribution":
        choices = attrs["choices"]
        return lambda v: choices[int(v)]
    if kind in _INT:
        return lambda v: int(v)
    if kind in _FLOAT:
        return float
    from optuna.distributions import json_to_distribution

    return json_to_distribution(distribution_json).to_external_repr


def _records(con: _Connection, study_name: str, where: str) -> tuple[list[TrialRecord], list[str]] | None:
    """The records and metric names; None when the schema is one this reader does not know."""
    if not con.has_table("alembic_version"):
        raise UserError(f"{where}: {con.url} is not an Optuna study database (it has no alembic_version table)")
    versions = {row[0] for row in con.query("SELECT version_num FROM alembic_version")}
    if not versions & set(KNOWN_SCHEMAS):
        return None
    query = con.query
    found = query("SELECT study_id FROM studies WHERE study_name = :name", {"name": study_name})
    if not found:
        names = [r[0] for r in query("SELECT study_name FROM studies")]
        raise UserError(f"{where}: the database {con.url} holds no study named {study_name!r} (run.json's "
                        f"study_name); it holds: {', '.join(names) or 'no study'}")
    sid = {"sid": found[0][0]}
    names_json = query("SELECT value_json FROM study_system_attributes WHERE study_id = :sid AND {key} = :mkey",
                       {**sid, "mkey": METRIC_NAMES_KEY})
    n_objectives = len(query("SELECT objective FROM study_directions WHERE study_id = :sid", sid))
    metric_names = json.loads(names_json[0][0]) if names_json else [f"values_{i}" for i in range(n_objectives)]
    records: dict[int, TrialRecord] = {}
    for trial_id, number, state, start, complete in query(
            "SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials WHERE study_id = :sid", sid):
        records[trial_id] = TrialRecord(number, state, None, {}, {}, start, complete)
    decoders: dict[str, Callable[[float], Any]] = {}
    for trial_id, name, value, dist in query(
            "SELECT p.trial_id, p.param_name, p.param_value, p.distribution_json FROM trial_params p "
            "JOIN trials t ON p.trial_id = t.trial_id WHERE t.study_id = :sid ORDER BY p.param_id", sid):
        decode = decoders.get(dist) or decoders.setdefault(dist, _decoder(dist))
        records[trial_id].params[name] = decode(value)
    values: dict[int, dict[int, float]] = {}
    for trial_id, objective, value, kind in query(
            "SELECT v.trial_id, v.objective, v.value, v.value_type FROM trial_values v "
            "JOIN trials t ON v.trial_id = t.trial_id WHERE t.study_id = :sid", sid):
        values.setdefault(trial_id, {})[objective] = _VALUE.get(kind, value)
    for trial_id, by_objective in values.items():
        records[trial_id].values = [by_objective[i] for i in sorted(by_objective)]
    for trial_id, key, value_json in query(
            "SELECT a.trial_id, a.{key}, a.value_json FROM trial_user_attributes a "
            "JOIN trials t ON a.trial_id = t.trial_id WHERE t.study_id = :sid", sid):
        records[trial_id].user_attrs[key] = json.loads(value_json)
    return list(records.values()), metric_names


def read_records(url: str, study_name: str, where: str) -> tuple[list[TrialRecord], list[str]]:
    """Every trial of the study ``study_name`` at ``url`` and the study's metric names."""
    path = check_sqlite(url, where)
    if path:
        errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError,)
    else:
        import sqlalchemy.exc

        errors = (sqlalchemy.exc.SQLAlchemyError,)
    try:
        con = _Connection(url, path)
        try:
            found = _records(con, study_name, where)
        finally:
            con.close()
    except errors as exc:
        raise UserError(f"{where}: {path or url} is not a readable Optuna database "
                        f"({str(exc).splitlines()[0]})") from None
    if found is not None:
        return found
    study = load_study(url, study_name, where)  # a schema this reader does not know: Optuna reads it
    return records_from_study(study), list(study.metric_names or [])


def read_table(url: str, study_name: str, where: str) -> pd.DataFrame:
    records, metric_names = read_records(url, study_name, where)
    return trials_table(records, metric_names)
