"""The one place a run's candidates live, whatever the engine: every network trial's and baseline's
TrialRecord and out-of-fold predictions, the fold models of the best cross-validated networks, and the facts
the processes of a run share (which process started it, its MLflow parent run).

They live in the run's database: the SQLite file in the run folder (beside the Optuna study, for the engines
that keep one), or the `--storage` database that processes on several machines share. Resuming a run, a
worker joining it, the leaderboard, `test_candidate` and the report all read the records from here.
"""

from __future__ import annotations

import io
import json
import time
import zlib
from typing import Collection, Iterator

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.mysql import LONGBLOB
from sqlalchemy.exc import IntegrityError, OperationalError

from autosearch.errors import AutosearchError, describe
from autosearch.records import CandidateKind, TrialRecord
from autosearch.redact import redact

METADATA = sa.MetaData()
RECORDS = sa.Table(
    "autosearch_records", METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("study", sa.String(512), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("number", sa.Integer),
    sa.Column("record", sa.Text, nullable=False),
    sa.UniqueConstraint("study", "name"),
)
PREDICTIONS = sa.Table(  # a candidate's predictions of the development samples, as a compressed .npy
    "autosearch_predictions", METADATA,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)
FOLD_MODELS = sa.Table(  # the weights of a network's fold models, for the best networks only (`keep_fold_models`)
    "autosearch_fold_models", METADATA,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("data", sa.LargeBinary().with_variant(LONGBLOB(), "mysql", "mariadb"), nullable=False),  # not 64 KB
)
FACTS = sa.Table(
    "autosearch_facts", METADATA,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
BAG = "bag"  # the kind a network bagged over several fold splits is stored under (`stored_kind`)
PARENT_RUN_ID = "parent_run_id"  # the MLflow run every process of the run logs under
STARTED = "started"  # set once, by the process that started the run


# The pip package of a database driver SQLAlchemy looks for (the module it failed to import), for the message.
DRIVERS = {"psycopg": '"psycopg[binary]"', "psycopg2": "psycopg2-binary", "pymysql": "PyMySQL",
           "MySQLdb": "mysqlclient"}


class TrialStore:
    """The records and shared facts of one search (`study`) in the database at `url`."""

    def __init__(self, url: str, study: str):
        self.url, self.study = url, study
        self.sqlite = url.startswith("sqlite")
        try:
            self.engine = sa.create_engine(url, connect_args={"timeout": 60} if self.sqlite else {})
        except ImportError as error:  # the dialect's driver is not installed
            package = DRIVERS.get(getattr(error, "name", None) or "", getattr(error, "name", None) or "its driver")
            raise AutosearchError(f"--storage {redact(url)} needs a database driver that is not installed ({error}); "
                                  f"pip install {package}, or use another --storage") from None
        except (sa.exc.NoSuchModuleError, sa.exc.ArgumentError):
            raise AutosearchError(f"--storage {redact(url)} is not a database URL; write it like "
                                  "sqlite:////path/runs.db or postgresql://user@host/db") from None
        if self.sqlite:  # as the Optuna study in the same file: write-ahead log, commits survive a crash
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            _retry(lambda: METADATA.create_all(self.engine))  # processes started together race to create them
        except sa.exc.DBAPIError as error:
            fix = ("that its folder exists and can be written" if self.sqlite
                   else "that it is running and the URL, user and password are right")
            raise AutosearchError(f"cannot use the database at {redact(url)} ({describe(error, 200)}); check {fix}") \
                from None

    def close(self) -> None:
        """Release the database; SQLite's write-ahead log is folded back into the file (a copy of the run
        folder taken afterwards holds every record)."""
        if self.sqlite:
            try:
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            except OperationalError:
                pass  # another process holds the database; its own close folds the log in
        self.engine.dispose()

    # --- facts shared by the processes of a run --------------------------------------------------------
    def claim(self) -> bool:
        """True for exactly one process: the first to ask starts the run; the others join it."""
        try:
            with self.engine.begin() as connection:
                connection.execute(sa.insert(FACTS).values(study=self.study, key=STARTED, value=str(time.time())))
            return True
        except IntegrityError:
            return False

    def get(self, key: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(FACTS.c.value).where(
                FACTS.c.study == self.study, FACTS.c.key == key)).scalar()

    def set(self, key: str, value: str) -> None:
        with self.engine.begin() as connection:
            where = (FACTS.c.study == self.study) & (FACTS.c.key == key)
            if not connection.execute(sa.update(FACTS).where(where).values(value=value)).rowcount:
                connection.execute(sa.insert(FACTS).values(study=self.study, key=key, value=value))

    # --- candidates ------------------------------------------------------------------------------------
    def save(self, record: TrialRecord, predictions: np.ndarray | None = None) -> None:
        """Keep `record` and its out-of-fold `predictions` (replacing earlier ones of the same name: a trial
        that ran again)."""
        row = dict(kind=stored_kind(record), number=record.number, record=json.dumps(record.to_dict(), default=str))
        with self.engine.begin() as connection:
            where = (RECORDS.c.study == self.study) & (RECORDS.c.name == record.name)
            if not connection.execute(sa.update(RECORDS).where(where).values(**row)).rowcount:
                connection.execute(sa.insert(RECORDS).values(study=self.study, name=record.name, **row))
            where = (PREDICTIONS.c.study == self.study) & (PREDICTIONS.c.name == record.name)
            connection.execute(sa.delete(PREDICTIONS).where(where))
            if predictions is not None:
                connection.execute(sa.insert(PREDICTIONS).values(study=self.study, name=record.name,
                                                                 data=pack(predictions)))

    def drop(self, name: str) -> None:
        """Forget the candidate `name` and its predictions (an ensemble or stacker a later sitting did not make
        again)."""
        with self.engine.begin() as connection:
            for table in (RECORDS, PREDICTIONS):
                connection.execute(sa.delete(table).where((table.c.study == self.study) & (table.c.name == name)))

    def keep_fold_models(self, name: str, weights: list[list[np.ndarray]], drop: Collection[str] = ()) -> None:
        """Keep the weights of `name`'s fold models (one list of arrays per fold, as Keras' `get_weights`
        gives them) and drop those of the candidates in `drop`: serving a network bagged then needs its
        fold models built, not trained again (`trial_runner.kept_bag`)."""
        with self.engine.begin() as connection:
            connection.execute(sa.delete(FOLD_MODELS).where(
                (FOLD_MODELS.c.study == self.study) & FOLD_MODELS.c.name.in_([*drop, name])))
            connection.execute(sa.insert(FOLD_MODELS).values(study=self.study, name=name,
                                                             data=pack_weights(weights)))

    def fold_models(self, name: str) -> list[list[np.ndarray]] | None:
        """The kept weights of `name`'s fold models, or None."""
        with self.engine.connect() as connection:
            data = connection.execute(sa.select(FOLD_MODELS.c.data).where(
                FOLD_MODELS.c.study == self.study, FOLD_MODELS.c.name == name)).scalar()
        return None if data is None else unpack_weights(data)

    def kept(self) -> set[str]:
        """The candidates whose fold models are kept."""
        with self.engine.connect() as connection:
            return set(connection.execute(sa.select(FOLD_MODELS.c.name).where(
                FOLD_MODELS.c.study == self.study)).scalars())

    def predictions(self) -> dict[str, np.ndarray]:
        """Every candidate's stored out-of-fold predictions, by name."""
        query = sa.select(PREDICTIONS.c.name, PREDICTIONS.c.data).where(PREDICTIONS.c.study == self.study)
        with self.engine.connect() as connection:
            return {name: unpack(data) for name, data in connection.execute(query)}

    def records(self, kind: str | None = None) -> list[TrialRecord]:
        """Baselines in the order they were fitted, then network trials in trial order."""
        return list(self._records(kind))

    def _records(self, kind: str | None) -> Iterator[TrialRecord]:
        query = sa.select(RECORDS.c.record).where(RECORDS.c.study == self.study)
        if kind is not None:
            query = query.where(RECORDS.c.kind == kind)
        query = query.order_by(RECORDS.c.kind != str(CandidateKind.BASELINE), RECORDS.c.number, RECORDS.c.id)
        with self.engine.connect() as connection:
            for (text,) in connection.execute(query):
                yield TrialRecord.from_dict(json.loads(text))

    def count(self, kind: str = CandidateKind.NETWORK) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(RECORDS).where(
                RECORDS.c.study == self.study, RECORDS.c.kind == kind)).scalar()

    def numbers(self) -> set[int]:
        """The trial numbers of the stored network trials."""
        with self.engine.connect() as connection:
            return set(connection.execute(sa.select(RECORDS.c.number).where(
                RECORDS.c.study == self.study, RECORDS.c.kind == str(CandidateKind.NETWORK))).scalars())


def stored_kind(record: TrialRecord) -> str:
    """The kind a record is stored under: its own, but `bag` for a network bagged over several fold splits
    (`bagging.py`), which the search's counts (`count`, `numbers`, `records("nn")`) leave out: a network trained
    again, not a trial.

    >>> from autosearch.records import State
    >>> stored_kind(TrialRecord("dense-001-bag3", "nn", "dense", {}, State.COMPLETE, 0.9, 1.0, repeats=3))
    'bag'
    """
    return BAG if record.repeats > 1 else record.kind


def pack(array: np.ndarray) -> bytes:
    """An array as compressed .npy bytes (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return zlib.compress(buffer.getvalue())


def unpack(data: bytes) -> np.ndarray:
    return np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False)


def pack_weights(weights: list[list[np.ndarray]]) -> bytes:
    """Fold models' weights as one .npz (no pickles): array `i_j` is fold i's j-th.

    >>> w = [[np.zeros((2, 3)), np.ones(3)], [np.ones((2, 3)), np.zeros(3)]]
    >>> [[a.shape for a in fold] for fold in unpack_weights(pack_weights(w))]
    [[(2, 3), (3,)], [(2, 3), (3,)]]
    """
    buffer = io.BytesIO()
    np.savez(buffer, **{f"{i}_{j}": np.asarray(a) for i, fold in enumerate(weights) for j, a in enumerate(fold)})
    return zlib.compress(buffer.getvalue(), 1)


def unpack_weights(data: bytes) -> list[list[np.ndarray]]:
    with np.load(io.BytesIO(zlib.decompress(data)), allow_pickle=False) as arrays:
        keys = sorted((tuple(map(int, k.split("_"))) for k in arrays.files))
        folds = [[] for _ in range(max((i for i, _ in keys), default=-1) + 1)]
        for i, j in keys:
            folds[i].append(arrays[f"{i}_{j}"])
    return folds


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _retry(action, attempts: int = 6) -> None:
    for attempt in range(attempts):
        try:
            return action()
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
