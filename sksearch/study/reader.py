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
import sqlite3
from typing import TYPE_CHECKING, Any, Callable

from ..errors import UserError, show
from .damage import Damaged, check_records, damaged_error
from .optuna_private import METRIC_NAMES_KEY
from .store import (
    BASELINES_SUFFIX,
    StudyRef,
    baseline_number,
    baselines_study,
    beside,
    check_sqlite,
    load_study,
    one_shot_study,
    recover_hot_journal,
)
from .table import CURVE, TrialRecord, records_from_study, subnet_table, trials_table

if TYPE_CHECKING:
    import pandas as pd

# Alembic revisions of Optuna's RDB schema whose tables this reader knows (Optuna 3.2 to 5.x).
KNOWN_SCHEMAS = ("v3.2.0.a",)
_VALUE = {"INF_POS": math.inf, "INF_NEG": -math.inf}
_INT = ("IntDistribution", "IntUniformDistribution", "IntLogUniformDistribution")
_FLOAT = ("FloatDistribution", "UniformDistribution", "LogUniformDistribution", "DiscreteUniformDistribution")


# Databases whose REPEATABLE READ is a snapshot taken at the transaction's first read (MVCC);
# elsewhere the reader keeps the database's default level, and the tolerant decoding in
# ``_records`` covers what a write between two of its SELECTs can add.
_SNAPSHOT_DIALECTS = ("postgresql", "mysql", "mariadb")


class _Connection:
    """A read-only connection that runs this module's SELECTs: ``{key}`` in a query stands for
    the quoted column name ``key`` (a reserved word in some databases); binds are ``:name``.

    All its SELECTs run in one transaction that sees one snapshot of the database: a driver
    that writes a trial between two of them (a shared study's other driver) changes nothing
    they see, so the distributions read by one SELECT decode every row read by a later one."""

    def __init__(self, url: str, sqlite_path: str | None) -> None:
        self.url = url
        if sqlite_path:
            recover_hot_journal(sqlite_path)
            self._con = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
            # Python's sqlite3 opens no transaction for a SELECT (each one reads the database as
            # it is then); an explicit BEGIN keeps the first read's snapshot (WAL) or its shared
            # lock (rollback journal, writers wait) until the connection closes.
            self._con.execute("BEGIN")
            self._key = '"key"'
        else:
            import sqlalchemy

            self._engine = sqlalchemy.create_engine(url)
            con = self._engine.connect()
            if self._engine.dialect.name in _SNAPSHOT_DIALECTS:
                # PostgreSQL's default, READ COMMITTED, takes a new snapshot for every statement.
                options: dict[str, Any] = {"isolation_level": "REPEATABLE READ"}
                if self._engine.dialect.name == "postgresql":
                    options["postgresql_readonly"] = True
                con = con.execution_options(**options)
            self._con = con  # SQLAlchemy begins one transaction at the first SELECT; close() ends it
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
    """Internal float -> the value the sampler suggested (a choice, an int, a float);
    ``Damaged`` for a distribution or a value that no sampler writes."""
    spec = _json_values([distribution_json], lambda i: "a parameter's distribution")[0]
    kind, attrs = (spec.get("name"), spec.get("attributes", {})) if isinstance(spec, dict) else (None, None)
    if not isinstance(attrs, dict):
        raise Damaged(f"a parameter's distribution is {show(spec)}")
    if kind == "CategoricalDistribution":
        choices = attrs.get("choices")
        if not isinstance(choices, list) or not choices:
            raise Damaged(f"a parameter's choices are {show(choices)}")

        def choice(v: float) -> Any:
            if not _is_float(v) or not float(v).is_integer() or not 0 <= v < len(choices):
                raise Damaged(f"a parameter's value {show(v)} is no index into its {len(choices)} choices")
            return choices[int(v)]
        return choice
    if kind in _INT or kind in _FLOAT:
        low, high = attrs.get("low"), attrs.get("high")
        if not (_is_float(low) and _is_float(high) and low <= high):
            raise Damaged(f"a parameter's range is {show(low)} to {show(high)}")
        slack = 1e-9 * max(1.0, abs(low), abs(high))  # a float's last bit, as Optuna rounds a step

        def number(v: float) -> Any:
            if not _is_float(v) or not low - slack <= v <= high + slack:
                raise Damaged(f"a parameter's value {show(v)} is outside its range {low:g} to {high:g}")
            return int(v) if kind in _INT else float(v)
        return number
    from optuna.distributions import json_to_distribution

    try:
        external = json_to_distribution(distribution_json).to_external_repr
    except (ValueError, KeyError, TypeError) as exc:
        raise Damaged(f"a parameter's distribution is {show(spec)} ({show(exc)})") from None

    def other(v: float) -> Any:
        try:
            return external(v)
        except (ValueError, IndexError, TypeError, OverflowError):
            raise Damaged(f"a parameter's value {show(v)} does not fit its distribution {show(spec)}") from None
    return other


def _is_float(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _json_values(texts: list[str], label: Callable[[int], str] = lambda i: "a value") -> list[Any]:
    """Many JSON texts decoded in one parse (a study of 10,000 trials holds 100,000 attributes;
    one json.loads each costs a third of a second); ``Damaged`` naming the culprit (``label(i)``
    says what text ``i`` is) when one is no JSON this reader can take."""
    try:
        return json.loads("[" + ",".join(texts) + "]")
    except (ValueError, RecursionError, TypeError):
        pass
    out = []
    for i, text in enumerate(texts):
        what = label(i)
        try:
            out.append(json.loads(text))
        except RecursionError:  # json's decoder recurses once per level of [ or {
            raise Damaged(f"{what} is JSON nested too deeply") from None
        except (ValueError, TypeError) as exc:
            raise Damaged(f"{what} is not JSON ({show(text)}: {str(exc)[:80]})") from None
    return out


STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")


class _NoStudy(Exception):
    pass


def _records(con: _Connection, study_name: str, where: str, curves: bool = True, params: bool = True,
             states: tuple[str, ...] | None = None) -> tuple[list[TrialRecord], list[str]] | None:
    """The records and metric names; None when the schema is one this reader does not know.
    Without ``curves`` the trials' per-epoch records (the bulk of the data) are left out,
    without ``params`` their searched values; ``states`` keeps only trials in those states."""
    if not con.has_table("alembic_version"):
        raise UserError(f"{where}: {con.url} is not an Optuna study database (it has no alembic_version table)")
    versions = {row[0] for row in con.query("SELECT version_num FROM alembic_version")}
    if not versions & set(KNOWN_SCHEMAS):
        return None
    query = con.query
    found = query("SELECT study_id FROM studies WHERE study_name = :name", {"name": study_name})
    if not found:
        if beside(study_name):
            raise _NoStudy
        names = [r[0] for r in query("SELECT study_name FROM studies")]
        raise UserError(f"{where}: the database {con.url} holds no study named {study_name!r} (run.json's "
                        f"study_name); it holds: {', '.join(names) or 'no study'}")
    sid = {"sid": found[0][0]}
    names_json = query("SELECT value_json FROM study_system_attributes WHERE study_id = :sid AND {key} = :mkey",
                       {**sid, "mkey": METRIC_NAMES_KEY})
    n_objectives = len(query("SELECT objective FROM study_directions WHERE study_id = :sid", sid))
    metric_names = (_json_values([names_json[0][0]], lambda i: "the study's metric names")[0] if names_json
                    else [f"values_{i}" for i in range(n_objectives)])
    # A folder's own database holds one study: its rows need no join to be picked out.
    alone = query("SELECT count(*) FROM studies")[0][0] == 1
    in_states = f"state IN ({', '.join(repr(s) for s in states if s in STATES)})" if states else ""
    picked = [c for c in ("" if alone else "study_id = :sid", in_states) if c]
    mine = f" WHERE trial_id IN (SELECT trial_id FROM trials WHERE {' AND '.join(picked)})" if picked else ""
    also = " AND" if mine else " WHERE"
    records: dict[int, TrialRecord] = {}
    for trial_id, number, state, start, complete in query(
            "SELECT trial_id, number, state, datetime_start, datetime_complete FROM trials WHERE study_id = :sid"
            + (f" AND {in_states}" if in_states else ""), sid):
        records[trial_id] = TrialRecord(number, state, None, {}, {}, start, complete)
    # The SELECTs below share one snapshot (``_Connection``); where a database gives none, a row
    # written after an earlier SELECT (a trial it did not list, a parameter whose distribution
    # it did not read) is left out, to be read by the next read, rather than failing this one.
    # Decoding a parameter needs its distribution; a study almost always keeps one per name, so
    # the distributions are read once and the (long) JSON is not fetched with every row.
    pairs = query(f"SELECT DISTINCT param_name, distribution_json FROM trial_params{mine}", sid) if params else []
    if len({name for name, _ in pairs}) == len(pairs):
        decoders = {name: _decoder(dist) for name, dist in pairs}
        for trial_id, name, value in query(f"SELECT trial_id, param_name, param_value FROM trial_params{mine} "
                                           f"ORDER BY param_id", sid) if params else ():
            if trial_id in records and name in decoders:
                records[trial_id].params[name] = decoders[name](value)
    else:
        by_json: dict[str, Callable[[float], Any]] = {}
        for trial_id, name, value, dist in query(f"SELECT trial_id, param_name, param_value, distribution_json "
                                                 f"FROM trial_params{mine} ORDER BY param_id", sid):
            if trial_id in records:
                decode = by_json.get(dist) or by_json.setdefault(dist, _decoder(dist))
                records[trial_id].params[name] = decode(value)
    values: dict[int, dict[int, float]] = {}
    for trial_id, objective, value, kind in query(
            f"SELECT trial_id, objective, value, value_type FROM trial_values{mine}", sid):
        values.setdefault(trial_id, {})[objective] = _VALUE.get(kind, value)
    for trial_id, by_objective in values.items():
        if trial_id in records:
            records[trial_id].values = [by_objective[i] for i in sorted(by_objective)]
    attrs = query(f"SELECT trial_id, {{key}}, value_json FROM trial_user_attributes{mine}"
                  + ("" if curves else f"{also} {{key}} != :curve"), {**sid, "curve": CURVE})
    for (trial_id, key, _), value in zip(attrs, _json_values(
            [row[2] for row in attrs], lambda i: f"the trial attribute {show(attrs[i][1])} (trial_id {attrs[i][0]})")):
        if trial_id in records:
            records[trial_id].user_attrs[key] = value
    return list(records.values()), metric_names


def read_records(study: StudyRef, curves: bool = True, params: bool = True,
                 states: tuple[str, ...] | None = None, baselines: bool = True) -> tuple[list[TrialRecord], list[str]]:
    """The trials of ``study`` and the study's metric names; with
    ``curves``, each trial's per-epoch record (user attribute ``curve``) too; without
    ``params``, not their searched values; ``states`` (Optuna state names) picks trials.
    ``baselines`` adds the trials of the study's baselines (``store.baselines_study``),
    numbered -1, -2, ..."""
    study_name, where = study.name, study.where
    if study_name.endswith(BASELINES_SUFFIX):
        raise UserError(f"{where}: {study_name!r} names a study's baselines, which sksearch keeps beside the study "
                        f"(reference networks, not samples); name the study itself, "
                        f"{study_name[:-len(BASELINES_SUFFIX)]!r}")
    records, names = _read_one(study, curves, params, states)
    if baselines:
        try:
            extra, _ = _read_one(study.beside(baselines_study(study_name)), curves, params, states)
        except _NoStudy:
            extra = []
        for r in extra:
            r.number = baseline_number(r.number)
        records += extra
    return records, names


def _read_one(study: StudyRef, curves: bool, params: bool,
              states: tuple[str, ...] | None) -> tuple[list[TrialRecord], list[str]]:
    url, study_name, where = study.url, study.name, study.where
    path = check_sqlite(url, where)
    if path:
        # A damaged page can hand back text that is not UTF-8, which sqlite3 cannot decode.
        errors: tuple[type[Exception], ...] = (sqlite3.DatabaseError, UnicodeDecodeError)
    else:
        import sqlalchemy.exc

        errors = (sqlalchemy.exc.SQLAlchemyError, UnicodeDecodeError)
    try:
        con = _Connection(url, path)
        try:
            found = _records(con, study_name, where, curves, params, states)
        finally:
            con.close()
    except Damaged as exc:
        raise damaged_error(path or url, exc) from None
    except errors as exc:
        raise UserError(f"{where}: {path or url} is not a readable Optuna database "
                        f"({str(exc).splitlines()[0]})") from None
    except ImportError as exc:  # SQLAlchemy loads a database's driver (MySQLdb, psycopg2) on first use
        raise UserError(f"{where}: cannot read it: the database driver is not installed ({exc}); install the "
                        f"driver for this URL (e.g. pip install mysqlclient or psycopg2-binary)") from None
    if found is not None:
        check_records(*found, path or url)
        return found
    try:
        opened = load_study(study)  # a schema this reader does not know: Optuna reads it
    except UserError:
        if beside(study_name):
            raise _NoStudy from None
        raise
    records = [r for r in records_from_study(opened) if states is None or r.state in states]
    names = list(opened.metric_names or [])
    check_records(records, names, path or url)
    return records, names


def read_table(study: StudyRef, params: bool = True, states: tuple[str, ...] | None = None) -> pd.DataFrame:
    """The trials table (``table.py``); ``params`` and ``states`` as for ``read_records``."""
    records, metric_names = read_records(study, curves=False, params=params, states=states)
    return trials_table(records, metric_names)


def read_subnet_table(study: StudyRef) -> pd.DataFrame | None:
    """The table of the one-shot study beside ``study`` (its subnets, evaluated with
    inherited weights); None when the study has none."""
    try:
        records, metric_names = _read_one(study.beside(one_shot_study(study.name)), False, True, None)
    except _NoStudy:
        return None
    return subnet_table(records, metric_names)


def read_beside(study: StudyRef, name: str) -> list[TrialRecord] | None:
    """The trials (user attributes included) of the study ``name`` kept beside ``study`` in
    its database; None when there is none."""
    try:
        records, _ = _read_one(study.beside(name), True, False, None)
    except _NoStudy:
        return None
    return records


def describe_distribution(spec: dict[str, Any]) -> dict[str, Any]:
    """Optuna's distribution JSON as ``{"kind": "choice"|"int"|"float", "log": bool,
    "choices": [...] (choices only)}``."""
    kind, attrs = spec.get("name"), spec.get("attributes")
    attrs = attrs if isinstance(attrs, dict) else {}
    if kind == "CategoricalDistribution":
        return {"kind": "choice", "log": False, "choices": list(attrs.get("choices") or [])}
    return {"kind": "int" if kind in _INT else "float", "log": bool(attrs.get("log", False))}


def read_distributions(study: StudyRef) -> dict[str, dict[str, Any]]:
    """How each searched parameter was sampled (by name), as ``describe_distribution`` gives."""
    url, study_name = study.url, study.name
    path = check_sqlite(url, study.where)
    if path:
        con = _Connection(url, path)
        try:
            if con.has_table("alembic_version") and {r[0] for r in con.query(
                    "SELECT version_num FROM alembic_version")} & set(KNOWN_SCHEMAS):
                pairs = con.query("SELECT DISTINCT p.param_name, p.distribution_json FROM trial_params p "
                                  "JOIN trials t ON p.trial_id = t.trial_id JOIN studies s ON t.study_id = s.study_id "
                                  "WHERE s.study_name = :name", {"name": study_name})
                specs = _json_values([dist for _, dist in pairs], lambda i: f"{pairs[i][0]}'s distribution")
                return {name: describe_distribution(spec if isinstance(spec, dict) else {})
                        for (name, _), spec in zip(pairs, specs)}
        except Damaged as exc:
            raise damaged_error(path, exc) from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise UserError(f"{study.where}: {path} is not a readable Optuna database "
                            f"({str(exc).splitlines()[0]})") from None
        finally:
            con.close()
    from optuna.distributions import distribution_to_json

    out: dict[str, dict[str, Any]] = {}
    for trial in load_study(study).get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            out.setdefault(name, describe_distribution(json.loads(distribution_to_json(dist))))
    return out


def read_curves(study: StudyRef) -> dict[int, list[dict[str, Any]]]:
    """Each trial's per-epoch record, by trial number (an empty list where none was kept)."""
    records, _ = read_records(study)
    return {r.number: list(r.user_attrs.get(CURVE) or []) for r in records}
