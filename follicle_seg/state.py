"""Run-state store: one SQLite file in the output folder recording every finished input.

Each input is keyed by its path and the sha256 of its bytes (a file changed in place is analysed
again); its `ImageResult` is stored as JSON in the same transaction that marks it done, so a run
killed at any moment (even ``kill -9``) loses at most the files in flight, and a rerun neither
repeats nor misses a file.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from follicle_seg.errors import OutputError, brief
from follicle_seg.types import (DUPLICATE, REJECTED_BY_NOTE, REJECTION_NOTE, Calibration, Follicle,
                                Identity, ImageRecord, ImageResult, Pane, Section)

STATE_FILE = "run_state.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    sop_instance_uid TEXT,
    status TEXT NOT NULL,
    result TEXT NOT NULL,
    seq INTEGER NOT NULL,
    analysis TEXT,
    PRIMARY KEY (path, sha256)
);
CREATE INDEX IF NOT EXISTS inputs_sop ON inputs (sop_instance_uid);
CREATE INDEX IF NOT EXISTS inputs_sha ON inputs (sha256);
CREATE INDEX IF NOT EXISTS inputs_seq ON inputs (seq);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    sha256 TEXT NOT NULL
);
"""


#: How a result is stored: its sequence number the largest so far plus one (from the index on seq),
#: and the analysis it was made by (:meth:`StateStore.check_analysis`; a build that does not know
#: the column, an older one run into the folder, leaves it empty).
RECORD = ("INSERT OR REPLACE INTO inputs (path, sha256, sop_instance_uid, status, result, seq, analysis) "
          "VALUES (?, ?, ?, ?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM inputs), ?)")  # fmt: skip


def _read_only(path: str | Path, query: str) -> list[tuple] | None:
    """The rows of ``query`` on a run-state file, read without writing to it; ``None`` when the
    file is not there or cannot be read."""
    if not Path(path).is_file():
        return None
    try:
        with closing(sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)) as db:
            return db.execute(query).fetchall()
    except sqlite3.Error:
        return None


def stored_analysis(path: str | Path) -> dict[str, str] | None:
    """The analysis identity a run-state file holds (:meth:`StateStore.check_analysis`), read
    without writing to it; ``None`` when there is none or the file cannot be read."""
    rows = _read_only(path, "SELECT value FROM meta WHERE name = 'analysis'")
    try:
        return json.loads(rows[0][0]) if rows else None
    except ValueError:
        return None


def stored_files(path: str | Path) -> list[tuple[str, str]] | None:
    """The input files a run-state file holds results of, (path, sha256) each, read without
    writing to it; ``None`` when it cannot be read."""
    rows = _read_only(path, "SELECT DISTINCT path, sha256 FROM inputs")
    return None if rows is None else [(str(p), str(sha)) for p, sha in rows]


class CorruptState(OutputError):
    """The run-state file is not a database (``--no-resume`` makes it anew)."""


class OtherAnalysis(OutputError):
    """The run state of ``folder`` holds results of another analysis (``differ`` says how it
    differs); ``--no-resume`` analyses every file again."""

    def __init__(self, folder: Path, differ: str) -> None:
        super().__init__(f"{folder}: holds the results of another analysis ({differ}); rerun with "
                         "--no-resume to analyse every file again, or choose another --out")  # fmt: skip
        self.folder, self.differ = folder, differ


#: A ``meta`` row: the series descriptions an earlier version stored are blanked (:meth:`StateStore._scrub`).
_SCRUBBED = "series descriptions blanked"


class StateStore:
    """The SQLite run state of one output folder.

    Parameters
    ----------
    path : Path
        The SQLite file (usually ``OUT/run_state.sqlite``).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._identity: str | None = None  # the analysis results are recorded under (check_analysis)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            if "analysis" not in {row[1] for row in self._db.execute("PRAGMA table_info(inputs)")}:
                self._db.execute("ALTER TABLE inputs ADD COLUMN analysis TEXT")  # a state of an earlier version
            self._db.execute("SELECT count(*) FROM inputs").fetchone()
            self._scrub()
        except sqlite3.OperationalError as exc:  # a full disk, no permission: the file may be sound
            raise OutputError(f"{self.path}: cannot open the run-state file ({exc})") from exc
        except sqlite3.DatabaseError as exc:
            raise CorruptState(
                f"{self.path}: the run-state file is corrupt ({exc}); "
                "rerun with --no-resume to rebuild it from scratch"
            ) from exc

    def _scrub(self) -> None:
        """Blank, once, the series descriptions a state written before they were left out holds
        (:func:`result_to_dict`), their old bytes overwritten (``secure_delete``); a file this
        process cannot write keeps them, though none is read: the results holding them are another
        build's, which :meth:`check_analysis` refuses or forgets."""
        try:
            if self._db.execute("SELECT 1 FROM meta WHERE name = ?", (_SCRUBBED,)).fetchone():
                return
            self._db.execute("PRAGMA secure_delete = ON")
            with self._db:
                self._db.execute("BEGIN")
                self._db.execute("UPDATE inputs SET result = json_set(result, '$.record.series_description', '') "
                                 "WHERE json_extract(result, '$.record.series_description') <> ''")
                self._db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, '1')", (_SCRUBBED,))
        except sqlite3.OperationalError:  # read-only, or a full disk: kept, never read (check_analysis)
            pass

    @classmethod
    def remade_if_corrupt(cls, path: Path) -> StateStore:
        """The store at ``path``, a corrupt file removed and made anew (``--no-resume``, the fix
        its error names: opening it to empty it failed the same way). Emptying is the caller's
        (:meth:`reset`), once nothing can stop the run."""
        try:
            return cls(path)
        except CorruptState:
            for stale in (Path(path), Path(f"{path}-wal"), Path(f"{path}-shm")):
                stale.unlink(missing_ok=True)
            return cls(path)

    def _write(self, sql: str, params: tuple = ()) -> None:
        """One write; a file that cannot be written (read-only, a full disk) stops the run with
        a one-line error naming it, not a traceback."""
        try:
            self._db.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise OutputError(f"{self.path}: cannot write the run-state file ({exc})") from exc

    def close(self) -> None:
        """Close the file, left in rollback-journal mode: every result moved from the ``-wal`` into
        it, which goes with the ``-shm``, so that a reader (:func:`stored_analysis`), opening it
        read-only, makes neither beside it as it did in WAL mode. Where that cannot be done (a
        reader has it open, a full disk) it stays in WAL mode, its results all there."""
        try:
            self._db.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            pass
        self._db.close()

    def reset(self) -> None:
        """Forget every recorded input and file hash (``--no-resume``)."""
        self._write("DELETE FROM inputs")
        self._write("DELETE FROM hashes")

    def hashes(self) -> dict[str, tuple[tuple[int, int, int, int], str]]:
        """Each path's hash as last taken, with the file's (size, mtime_ns, ctime_ns, inode) then."""
        return {path: ((size, mtime, ctime, ino), sha) for path, size, mtime, ctime, ino, sha
                in self._db.execute("SELECT path, size, mtime_ns, ctime_ns, ino, sha256 FROM hashes")}  # fmt: skip

    def keep_hashes(self, rows: list[tuple[str, tuple[int, int, int, int], str]]) -> None:
        """Keep ``(path, (size, mtime_ns, ctime_ns, inode), sha256)`` of files hashed this run."""
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)",
                                     [(path, *stat, sha) for path, stat, sha in rows])  # fmt: skip
        except sqlite3.OperationalError as exc:
            raise OutputError(f"{self.path}: cannot write the run-state file ({exc})") from exc

    def check_analysis(self, identity: dict[str, str]) -> None:
        """Keep results of one analysis only: ``identity`` names it (network weights, package
        version and source, pseudonymisation). A store holding results of another one refuses to
        resume, since its tables would mix two models, two builds of the program or two sets of
        patient ids, and so does one holding results written before identities were kept (by
        an unknown build and network), or results an older build recorded into it since (its
        identity unchanged: that build does not know it); an empty store, or one of rejected or
        failed files only (forgotten, to be read again), takes this one. The rejected or failed
        files such an older build recorded since are forgotten too (read again by this one): a
        file it rejected this build may analyse, and every result read back is this build's.

        Raises
        ------
        OtherAnalysis
            When the store holds results and was written by another analysis, or by an unknown one.
        """
        stored, named = self._analysis(), json.dumps(identity, sort_keys=True)
        analysed, others, unread = self._db.execute(  # (one scan of the table, not one a count)
            "SELECT coalesce(sum(status = 'ok'), 0), coalesce(sum(status = 'ok' AND analysis IS NOT ?1), 0), "
            "coalesce(sum(status != 'ok' AND analysis IS NOT ?1), 0) FROM inputs", (named,)
        ).fetchone()
        if stored != identity and not analysed:
            self.reset()  # rejected and failed files only: read again under the new analysis
        elif stored != identity:
            stored = stored or {}
            differ = "; ".join(
                f"{name} {stored.get(name, 'unknown')} then, {identity.get(name, 'unknown')} now"
                for name in sorted(set(stored) | set(identity))
                if stored.get(name) != identity.get(name)
            )
            raise OtherAnalysis(self.path.parent, differ)
        elif others:
            raise OtherAnalysis(self.path.parent, f"{others} result(s) recorded since by an older build of follicle_seg")
        elif unread:  # rejected or failed files an older build recorded since: read again
            self._write("DELETE FROM inputs WHERE status != 'ok' AND analysis IS NOT ?", (named,))
        self._identity = named
        self._write("INSERT OR REPLACE INTO meta (name, value) VALUES ('analysis', ?)", (named,))

    def _analysis(self) -> dict[str, str] | None:
        """The analysis identity kept, None when none is (or it cannot be read: taken as none)."""
        value = self.noted("analysis")
        try:
            return json.loads(value) if value else None
        except ValueError:
            return None

    def note(self, name: str, value: str) -> None:
        """Keep a value about the run folder (the worksheet's hash, say) beside the results."""
        self._write("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value))

    def noted(self, name: str) -> str | None:
        """A value :meth:`note` kept, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def notes(self, prefix: str) -> dict[str, str]:
        """Every value :meth:`note` kept under a name starting with ``prefix``, by the rest of the name
        (one query, not one a file)."""
        rows = self._db.execute("SELECT name, value FROM meta WHERE substr(name, 1, ?) = ?", (len(prefix), prefix))
        return {str(name)[len(prefix):]: str(value) for name, value in rows}

    def forget(self, name: str) -> None:
        """Drop what :meth:`note` kept under ``name``."""
        self._write("DELETE FROM meta WHERE name = ?", (name,))

    def keys(self) -> set[tuple[str, str]]:
        """(path, sha256) of every finished input; ``failed`` ones (our fault, not the file's) are
        retried, and so are duplicates and the images a rejection note lists (whether a file is
        one depends on the other files), and rejection notes (read again for the images they list)."""
        return set(self._db.execute(
            "SELECT path, sha256 FROM inputs WHERE status != 'failed' AND NOT (status = 'rejected' "
            "AND (json_extract(result, '$.reason') LIKE ? OR json_extract(result, '$.reason') LIKE ? "
            "OR json_extract(result, '$.reason') LIKE ?))",
            (DUPLICATE + "%", REJECTED_BY_NOTE + "%", REJECTION_NOTE + "%")))  # fmt: skip

    def sop_owners(self) -> list[tuple[str, str, str]]:
        """(SOP instance UID, path, sha256) of inputs already analysed, first analysed first."""
        rows = self._db.execute(
            "SELECT sop_instance_uid, path, sha256 FROM inputs WHERE status = 'ok' AND sop_instance_uid IS NOT NULL "
            "ORDER BY seq DESC"
        )
        return list(rows)  # later rows first: dict() keeps the earliest owner of each SOP

    def analysed(self, keys: set[tuple[str, str]]) -> list[tuple[str, str, str]]:
        """(path, SOP instance UID, reason) of the ``ok`` inputs among ``keys`` ((path, sha256)),
        read from their columns without decoding the stored results."""
        rows = self._db.execute(
            "SELECT path, sha256, sop_instance_uid, coalesce(json_extract(result, '$.reason'), '') FROM inputs "
            "WHERE status = 'ok' AND sop_instance_uid IS NOT NULL")  # fmt: skip
        return [(path, uid, reason) for path, sha, uid, reason in rows if (path, sha) in keys]

    def sop_uids(self) -> list[tuple[str, str, str, str]]:
        """(path, sha256, SOP instance UID, status) of every stored input that has a UID."""
        return list(self._db.execute(
            "SELECT path, sha256, sop_instance_uid, status FROM inputs WHERE sop_instance_uid IS NOT NULL"))

    def whose(self) -> dict[tuple[str, str], str]:
        """The SOP instance UID of each stored input's image, by (path, sha256): its record's, else
        the identity's of a file rejected after its header was read (:attr:`ImageResult.whose`)."""
        return {(path, sha): uid for path, sha, uid in self._db.execute(
            "SELECT path, sha256, coalesce(sop_instance_uid, json_extract(result, '$.identity.sop_instance_uid')) "
            "FROM inputs") if uid}  # fmt: skip

    def moved(self, sha256: str, current: set[tuple[str, str]], path: str) -> ImageResult | None:
        """The latest ``ok`` analysis of a file with these contents under a path that no longer
        holds them (``current``: this run's (path, sha256)), given to ``path``: the file was moved or
        renamed since, or its archive mounted elsewhere. None when there is none, when a path
        that was analysed still holds the contents (``path`` is then a copy: a duplicate), or when
        its SOP instance was analysed again since, ok or failed (from other contents: the outputs
        on disk, named by the SOP instance, are that later analysis's, or none)."""
        rows = list(self._db.execute(
            "SELECT path, result, seq, sop_instance_uid FROM inputs WHERE sha256 = ? AND status = 'ok' "
            "ORDER BY seq DESC", (sha256,)))  # fmt: skip
        if not rows or any((p, sha256) in current for p, *_ in rows):
            return None
        _, payload, seq, sop = rows[0]  # the latest analysis of these contents
        (latest,) = self._db.execute(
            "SELECT max(seq) FROM inputs WHERE sop_instance_uid = ? AND status != 'rejected'", (sop,)).fetchone()
        if latest != seq:
            return None
        result = self._decoded(payload)
        record = dataclasses.replace(result.record, path=path) if result.record is not None else None
        return dataclasses.replace(result, path=path, record=record)

    def record(self, sha256: str, result: ImageResult) -> None:
        """Store one finished input atomically (a single transaction)."""
        sop = result.record.sop_instance_uid if result.record else None
        payload = json.dumps(result_to_dict(result), allow_nan=False, separators=(",", ":"))
        try:
            self._db.execute(RECORD, (result.path, sha256, sop, result.status, payload, self._identity))
        except sqlite3.OperationalError as exc:  # a full disk: the run stops, what is recorded stays
            raise OutputError(f"{self.path}: cannot record a result ({exc})") from exc

    def results(self, keys: set[tuple[str, str]] | None = None) -> list[ImageResult]:
        """Stored results sorted by path; only those whose (path, sha256) is in `keys` when given."""
        rows = self._db.execute("SELECT path, sha256, result FROM inputs ORDER BY path, seq")
        return [self._decoded(payload) for path, sha, payload in rows if keys is None or (path, sha) in keys]

    def _decoded(self, payload: str) -> ImageResult:
        """A stored result; a row that cannot be read (damaged: every row read is this build's,
        :meth:`check_analysis`) stops the run with what to do, not a traceback."""
        try:
            return result_from_dict(json.loads(payload))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise OutputError(f"{self.path}: a stored result cannot be read ({type(exc).__name__}: {brief(exc)}); "
                              "run again with --no-resume") from exc

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM inputs").fetchone()[0]


def result_to_dict(result: ImageResult) -> dict[str, Any]:
    """The stored form of a result: all but ``seen_in``, which only the file's own DICOM SEG
    needs, written as the file is finished (17 % of a study's stored results, never read back),
    and the record's series description, free text a name may be typed into that gave the side
    before (run_state.sqlite held it in every run without ``--pseudonymize``)."""
    stored = dataclasses.asdict(result)
    del stored["seen_in"]
    if stored["record"] is not None:
        stored["record"]["series_description"] = ""
    return stored


def _section(d: dict | None) -> Section | None:
    if d is None:
        return None
    return Section(**{**d, "bbox": tuple(d["bbox"])})


def _record(d: dict | None) -> ImageRecord | None:
    if d is None:
        return None
    return ImageRecord(**{**d, "calibration": Calibration(**d["calibration"]), "region": tuple(d["region"]),
                          "other_panes": tuple(_pane(p) for p in d["other_panes"])})


def _pane(d: dict) -> Pane:
    return Pane(tuple(d["region"]), Calibration(**d["calibration"]))


def result_from_dict(d: dict[str, Any]) -> ImageResult:
    return ImageResult(
        **{
            **d,
            "record": _record(d["record"]),
            "follicles": _follicles(d["follicles"]),
            "ovary": _section(d["ovary"]),
            "key_frames": tuple(d["key_frames"]),
            "unreported": tuple(_section(s) for s in d["unreported"]),
            "unsure": _follicles(d["unsure"]),
            "flags": tuple(d["flags"]),
            "flag_where": tuple((f, int(i), w) for f, i, w in d["flag_where"]),
            "identity": Identity(**d["identity"]) if d["identity"] else None,
            "outlines": None if d["outlines"] is None else tuple((f, i, tuple(p)) for f, i, p in d["outlines"]),
        }
    )


def _follicles(items: list[dict]) -> tuple[Follicle, ...]:
    return tuple(Follicle(**{**f, "best": _section(f["best"])}) for f in items)
