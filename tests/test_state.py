"""Run-state store: results survive a round trip, corrupt files are refused with a way out."""


from dataclasses import replace

import pytest

from follicle_seg.errors import OutputError
from follicle_seg.filehash import file_sha256
from follicle_seg.state import StateStore
from follicle_seg.types import Calibration, Follicle, Identity, ImageRecord, ImageResult, Section


def _record(path="a.dcm", sop="1.2.3"):
    return ImageRecord(
        path=path, sop_instance_uid=sop, sop_class_uid="1.2.840.10008.5.1.4.1.1.3.1", modality="US",
        patient_id="P1", study_instance_uid="1.2", study_date="2026-01-02", series_instance_uid="1.2.9",
        series_description="LT OVARY", laterality="L", laterality_source="SeriesDescription", n_frames=3,
        rows=480, columns=640, photometric="MONOCHROME2", transfer_syntax="1.2.840.10008.1.2.1",
        calibration=Calibration(0.1, 0.12, "ultrasound_region"), region=(10, 20, 600, 460),
        region_source="ultrasound_region", frame_time_ms=33.0, frame_spacing_mm=0.5,
    )


def _result(path="a.dcm", sop="1.2.3"):
    section = Section(1, 100.5, 200.25, 314, 20.0, 19.0, 2.0, 1.9, 3.1, 0.93, (90, 190, 111, 211))
    follicle = Follicle(1, sop, section, 5, 2.5, 0.005)
    return ImageResult(_record(path, sop), path, "ok", "", (follicle,), section, 3.0, 0.02, (1,), ("uncalibrated",))


def test_round_trip_keeps_every_field(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    outlined = replace(_result(), outlines=((1, 0, (0, 0, 9, 0, 9, 9)), (1, 1, (2, 2, 5, 2, 5, 5))))
    store.record("abc", outlined)
    store.record("def", ImageResult(None, "b.txt", "rejected", "b.txt: not a DICOM file"))
    cut = ImageResult(None, "c.dcm", "rejected", "truncated", identity=Identity("9.8", "P1", "2026-01-02", "R"))
    store.record("cut", cut)
    store.close()
    again = StateStore(tmp_path / "s.sqlite")
    results = again.results()
    assert results[0] == replace(outlined, record=replace(_record(), series_description=""))  # (not stored)
    assert results[1].status == "rejected" and results[1].record is None
    assert results[2] == cut
    again.record("ghi", ImageResult(None, "d.dcm", "failed", "RuntimeError: decoder crashed"))
    assert again.keys() == {("a.dcm", "abc"), ("b.txt", "def"), ("c.dcm", "cut")}  # failed inputs are retried
    assert again.results({("b.txt", "def")})[0].path == "b.txt"


def test_the_series_description_is_not_stored(tmp_path):
    """Free text a technologist may type a patient's name into: it gave the side at ingestion and
    nothing reads it later, yet run_state.sqlite of every run without --pseudonymize held it
    ("TVUS SWEEP Smith Alice Marie")."""
    typed = replace(_result(), record=replace(_record(), series_description="LT OVARY Doe Jane"))
    store = StateStore(tmp_path / "s.sqlite")
    store.record("abc", typed)
    store.close()
    assert b"Doe Jane" not in (tmp_path / "s.sqlite").read_bytes()
    store = StateStore(tmp_path / "s.sqlite")
    assert store.results()[0].record.laterality == "L"
    store.close()
    # a state an earlier version wrote (it kept them) is scrubbed when opened (review)
    import sqlite3

    def stored_bytes() -> bytes:
        return b"".join(f.read_bytes() for f in tmp_path.glob("s.sqlite*"))  # (and its -wal)

    old = sqlite3.connect(tmp_path / "s.sqlite")
    old.execute("UPDATE inputs SET result = json_set(result, '$.record.series_description', 'LT OVARY Doe Jane')")
    old.execute("DELETE FROM meta WHERE name = 'series descriptions blanked'")  # (an earlier version's)
    old.commit()
    old.close()
    assert b"Doe Jane" in stored_bytes()
    reopened = StateStore(tmp_path / "s.sqlite")
    assert reopened.results()[0].record.series_description == "" and len(reopened) == 1
    reopened.close()
    assert b"Doe Jane" not in stored_bytes()


def test_rerecord_replaces_not_duplicates(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    store.record("abc", _result())
    store.record("abc", _result())
    assert len(store) == 1


def test_recording_a_result_does_not_scan_the_whole_store(tmp_path):
    """Each result's sequence number is the largest so far plus one: read from an index, not a
    scan of every stored row (which made an archive's run quadratic: 20,000 files 5 minutes)."""
    import sqlite3

    path = tmp_path / "s.sqlite"
    with sqlite3.connect(path) as old:  # a state made before the index: it gets it on opening
        old.execute("CREATE TABLE inputs (path TEXT NOT NULL, sha256 TEXT NOT NULL, sop_instance_uid TEXT, "
                    "status TEXT NOT NULL, result TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (path, sha256))")  # fmt: skip
    store = StateStore(path)
    store.record("h1", _result())
    from follicle_seg.state import RECORD

    plan = " ".join(str(row) for row in store._db.execute(f"EXPLAIN QUERY PLAN {RECORD}", ("p", "h", "1", "ok", "{}", None)))
    assert "INDEX inputs_seq" in plan, plan


def test_sop_owner_is_first_analysed(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    store.record("h1", _result("first.dcm", "9.9"))
    store.record("h2", _result("second.dcm", "9.9"))
    assert {uid: path for uid, path, _ in store.sop_owners()}["9.9"] == "first.dcm"


def test_corrupt_state_file_names_the_fix_and_the_fix_works(tmp_path):
    bad = tmp_path / "run_state.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(OutputError, match="--no-resume"):
        StateStore(bad)
    store = StateStore.remade_if_corrupt(bad)  # --no-resume: it opened the file to empty it and failed the same way
    store.record("abc", _result())
    assert len(store) == 1 and len(StateStore.remade_if_corrupt(bad)) == 1  # a sound one is kept


def test_a_state_file_that_cannot_be_written_is_said_in_one_line(tmp_path, monkeypatch):
    """A read-only run_state.sqlite ended in an sqlite3 traceback from the analysis check."""
    import sqlite3

    store = StateStore(tmp_path / "s.sqlite")

    class ReadOnly:
        def execute(self, sql, params=()):
            raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(store, "_db", ReadOnly())
    for write in (lambda: store.reset(), lambda: store.note("a", "b")):
        with pytest.raises(OutputError, match=r"s.sqlite: cannot write the run-state file \(attempt to write a readonly"):
            write()


@pytest.mark.parametrize("payload", ['{"record": null', '{"path": "a.dcm"}', '[1, 2]'])
def test_a_stored_result_that_cannot_be_read_names_the_fix_not_a_traceback(tmp_path, payload):
    """A damaged row, or one this version does not know, escaped as a raw JSONDecodeError,
    KeyError or TypeError (the command line catches only its own errors)."""
    import sqlite3

    from follicle_seg.state import stored_analysis

    store = StateStore(tmp_path / "s.sqlite")
    store.record("abc", _result())
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        db.execute("UPDATE inputs SET result = ?", (payload,))
        db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES ('analysis', '{broken')")
    with pytest.raises(OutputError, match=r"s.sqlite: a stored result cannot be read .*--no-resume"):
        store.results()
    with pytest.raises(OutputError, match="--no-resume"):
        store.moved("abc", set(), "b.dcm")
    assert stored_analysis(tmp_path / "s.sqlite") is None


def test_file_sha256_matches_hashlib(tmp_path):
    import hashlib

    p = tmp_path / "x.bin"
    p.write_bytes(b"0123456789" * 300_000)
    assert file_sha256(p, chunk=4096) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_store_of_rejected_files_only_takes_another_analysis(tmp_path):
    store = StateStore(tmp_path / "s.sqlite")
    store.check_analysis({"weights": "a"})
    store.record("h", ImageResult(None, "notes.txt", "rejected", "notes.txt: not a DICOM file"))
    store.check_analysis({"weights": "b"})  # nothing analysed under "a": no results to mix
    assert len(store) == 0 and store.keys() == set()
    store.record("abc", _result())
    with pytest.raises(OutputError, match="another analysis"):
        store.check_analysis({"weights": "c"})


def test_results_stored_before_identities_were_kept_are_not_resumed(tmp_path):
    """Such a store was taken by any analysis: results of network 0.3.0 stayed beside 0.4.0's."""
    store = StateStore(tmp_path / "s.sqlite")
    store.record("abc", _result())
    with pytest.raises(OutputError, match=r"another analysis \(weights unknown then, a now\); rerun with --no-resume"):
        store.check_analysis({"weights": "a"})
    assert len(store) == 1  # kept for --no-resume to clear


def test_results_an_older_build_recorded_since_are_not_resumed(tmp_path):
    """A build of before 2026-12-06 run into a folder this one wrote (a scheduled job left on the
    old install) stores the new visits' results beside this build's, leaving its identity as it
    was: they were resumed afterwards (ovary volume 0.92 ml where this build measures 1.64)."""
    store = StateStore(tmp_path / "s.sqlite")
    store.check_analysis({"weights": "a"})
    store.record("abc", _result())
    store.check_analysis({"weights": "a"})  # the same analysis resumes
    store._db.execute("INSERT INTO inputs (path, sha256, sop_instance_uid, status, result, seq) "
                      "VALUES ('new.dcm', 'def', '1.2.3.9', 'ok', '{}', 9)")  # (the columns an older build knows)
    with pytest.raises(OutputError, match=r"another analysis \(1 result\(s\) recorded since by an older build of "
                                          r"follicle_seg\); rerun with --no-resume"):  # fmt: skip
        store.check_analysis({"weights": "a"})


def test_files_an_older_build_rejected_since_are_read_again(tmp_path):
    """Its rejections were resumed as this build's: a file rejected by rules this build no longer
    has (a study UID unfit to be one, which it analyses) stayed rejected, and its stored result,
    written by another build, was read back as this one's."""
    import json

    from follicle_seg.state import result_to_dict

    store = StateStore(tmp_path / "s.sqlite")
    store.check_analysis({"weights": "a"})
    store.record("abc", _result())
    store.record("def", ImageResult(None, "b.txt", "rejected", "not a DICOM file"))
    unfit = json.dumps(result_to_dict(ImageResult(_record("new.dcm"), "new.dcm", "rejected", "StudyInstanceUID unfit")))
    store._db.execute("INSERT INTO inputs (path, sha256, sop_instance_uid, status, result, seq) "
                      "VALUES ('new.dcm', 'ghi', NULL, 'rejected', ?, 9)", (unfit,))  # (the columns an older build knows)
    store.check_analysis({"weights": "a"})
    assert store.keys() == {("a.dcm", "abc"), ("b.txt", "def")}  # this build's kept, the older one's forgotten
    assert [r.path for r in store.results()] == ["a.dcm", "b.txt"]
    store.close()


def test_checking_the_analysis_reads_the_results_once(tmp_path):
    """It scanned the whole table twice a run (the results, then those of another build)."""
    store = StateStore(tmp_path / "s.sqlite")
    store.check_analysis({"weights": "a"})
    store.record("abc", _result())
    read: list[str] = []
    store._db.set_trace_callback(read.append)
    store.check_analysis({"weights": "a"})
    assert len([sql for sql in read if "FROM inputs" in sql]) == 1, read


def test_a_full_disk_is_said_as_such_not_as_a_corrupt_state(tmp_path, monkeypatch):
    import sqlite3

    store = StateStore(tmp_path / "s.sqlite")

    class Full:
        def execute(self, *args):
            raise sqlite3.OperationalError("database or disk is full")

    store._db = Full()
    with pytest.raises(OutputError, match=r"s.sqlite: cannot record a result \(database or disk is full\)"):
        store.record("abc", _result())

    def io_error(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite3, "connect", io_error)
    with pytest.raises(OutputError, match="cannot open the run-state file") as info:
        StateStore(tmp_path / "t.sqlite")
    assert "corrupt" not in str(info.value) and "--no-resume" not in str(info.value)


def test_reading_a_run_state_leaves_nothing_in_its_folder(tmp_path):
    """``send`` and ``demo`` read a run's state without writing: opened read-only in WAL mode,
    SQLite still made run_state.sqlite-wal and -shm beside it, and left them there."""
    from follicle_seg.state import STATE_FILE, stored_analysis, stored_files

    store = StateStore(tmp_path / STATE_FILE)
    store.check_analysis({"weights": "a"})
    store.record("abc", _result())
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
    assert stored_analysis(tmp_path / STATE_FILE) == {"weights": "a"}
    assert [p for p, _ in stored_files(tmp_path / STATE_FILE)] == ["a.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
    again = StateStore(tmp_path / STATE_FILE)  # a run resumes it: in WAL mode again, its results kept
    again.record("def", _result("b.dcm", "1.2.4"))
    assert (tmp_path / f"{STATE_FILE}-wal").is_file() and len(again) == 2
    again.close()
    assert [p for p, _ in stored_files(tmp_path / STATE_FILE)] == ["a.dcm", "b.dcm"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE]
