"""`follicle-seg send`: a run's SEG/SR (and sources) reach a DICOM storage SCP, file by file.

The SCP is pynetdicom's in this process (always), and a real Orthanc PACS when its binary is
installed (Debian package orthanc; `.ci/run` installs it).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pydicom
import pytest
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import SegmentationStorage
from typer.testing import CliRunner

from follicle_seg.cli import app
from follicle_seg.pipeline import RunOptions, run
from follicle_seg.send import Destination, SendError, ae_title, run_objects, send

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
REFUSED = 0xA700  # Out of resources


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("send") / "run"
    run([SAMPLES], RunOptions(out=out, overlays=False, report=False))
    return out


class Scp:
    """A storage SCP on a free local port that keeps what it receives and can refuse some."""

    def __init__(self, aet: str = "TESTPACS", classes: Sequence[str] | None = None) -> None:
        self.received: dict[str, tuple[str, str]] = {}  # SOP instance -> (SOP class, syntax)
        self.patients: dict[str, tuple[str, str]] = {}  # SOP instance -> (PatientName, PatientSex)
        self.charsets: dict[str, object] = {}  # SOP instance -> SpecificCharacterSet
        self.refuse: set[str] = set()
        self.abort: set[str] = set()  # SOP instances whose first C-STORE aborts the association
        ae = AE(ae_title=aet)
        ae.require_called_aet = True
        for sop_class in classes or [c.abstract_syntax for c in AllStoragePresentationContexts]:
            ae.add_supported_context(sop_class, ALL_SYNTAXES)
        self.server = ae.start_server(
            ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, self._store)]
        )
        self.destination = Destination(aet, "127.0.0.1", self.server.server_address[1])

    def _store(self, event) -> int:
        ds = event.dataset
        if ds.SOPInstanceUID in self.refuse:
            return REFUSED
        if ds.SOPInstanceUID in self.abort:
            self.abort.discard(ds.SOPInstanceUID)
            event.assoc.abort()
            return 0xC000
        self.received[ds.SOPInstanceUID] = (ds.SOPClassUID, event.context.transfer_syntax)
        self.patients[ds.SOPInstanceUID] = (str(ds.get("PatientName", "")), ds.get("PatientSex", ""))
        self.charsets[ds.SOPInstanceUID] = ds.get("SpecificCharacterSet")
        return 0x0000


ALL_SYNTAXES = [
    pydicom.uid.ImplicitVRLittleEndian, pydicom.uid.ExplicitVRLittleEndian,
    pydicom.uid.JPEGBaseline8Bit, pydicom.uid.JPEGLSLossless, pydicom.uid.JPEGLSNearLossless,
    pydicom.uid.JPEG2000Lossless, pydicom.uid.JPEG2000, pydicom.uid.RLELossless,
]  # fmt: skip


@pytest.fixture()
def scp():
    server = Scp()
    yield server
    server.server.shutdown()


def _uid(path: Path) -> str:
    return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def test_destination_is_parsed_or_refused_with_the_form_it_needs() -> None:
    assert Destination.parse(" ORTHANC@pacs.example.org:4242 ") == Destination("ORTHANC", "pacs.example.org", 4242)
    assert str(Destination("A", "h", 104)) == "A@h:104"
    for bad in ("pacs:104", "A@pacs"):
        with pytest.raises(SendError, match="AET@HOST:PORT"):
            Destination.parse(bad)
    with pytest.raises(SendError, match="--to 'SEVENTEEN_CHARS_X': an AE title is 1 to 16 characters"):
        Destination.parse("SEVENTEEN_CHARS_X@h:1")
    for bad in ("A@pacs:0", "A@pacs:70000"):
        with pytest.raises(SendError, match="is not a TCP port"):
            Destination.parse(bad)


def test_every_object_and_source_of_a_run_is_stored_with_its_own_syntax(run_dir: Path, scp: Scp) -> None:
    objects = run_objects(run_dir)
    paths = run_objects(run_dir, sources=True)
    sources = paths[len(objects):]
    assert len(sources) == 7  # the ok rows of images.csv; rejected samples are not sent
    kinds = [p.name.rsplit("_", 1)[1] for p in objects]  # an SR of each, a SEG of each key frame
    assert kinds.count("sr.dcm") == 7 and kinds.count("seg.dcm") > 7
    assert {p.name.split("_", 1)[0] for p in objects} == {_uid(p) for p in sources}
    results = send(paths, scp.destination)
    assert [(r.path, r.status, r.reason) for r in results] == [(p, "sent", "") for p in paths]
    assert set(scp.received) == {_uid(p) for p in paths}
    classes = {sop_class for sop_class, _ in scp.received.values()}
    assert SegmentationStorage in classes and pydicom.uid.ComprehensiveSRStorage in classes
    for path in sources:  # compressed sources travel as they are (JPEG-LS, JPEG 2000, RLE, ...)
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert scp.received[header.SOPInstanceUID][1] == header.file_meta.TransferSyntaxUID


def test_a_pseudonymised_runs_objects_are_not_sent_with_their_real_sources(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_dir / "dicom", out / "dicom")
    table = (run_dir / "images.csv").read_text()
    (out / "images.csv").write_text(table)
    assert len(run_objects(out, sources=True)) > len(run_objects(out))  # the same PatientIDs: sent
    (out / "images.csv").write_text(table.replace(",SAMPLE01,", ",P93ce869be00,"))  # as --pseudonymize writes
    with pytest.raises(SendError, match="carry pseudonyms .* send the objects without --sources"):
        run_objects(out, sources=True)
    assert [p.name for p in run_objects(out)] == [p.name for p in run_objects(run_dir)]  # the objects alone still go
    # the run state says so whatever the rows show (a first file without PatientID, say)
    (out / "images.csv").write_text(table)
    shutil.copy(run_dir / "run_state.sqlite", out / "run_state.sqlite")
    assert len(run_objects(out, sources=True)) > len(run_objects(out))
    with sqlite3.connect(out / "run_state.sqlite") as db:
        db.execute("UPDATE meta SET value = json_set(value, '$.pseudonyms', 'P0123456789ab') WHERE name = 'analysis'")
    with pytest.raises(SendError, match="carry pseudonyms"):
        run_objects(out, sources=True)
    # a file left out of the last run's inputs: not in its tables, so its objects are not sent
    rows = table.splitlines()
    gone = next(r for r in rows[1:] if ",ok," in r)
    (out / "images.csv").write_text("\n".join(r for r in rows if r != gone) + "\n")
    uid = gone.split(",")[1]
    assert not any(p.name.startswith(uid) for p in run_objects(out))
    assert len(run_objects(out)) < len(run_objects(run_dir)) and any(p.name.startswith(uid) for p in run_objects(run_dir))


def test_a_refused_or_unreadable_file_fails_alone_and_the_command_says_which(
    run_dir: Path, scp: Scp, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_dir / "dicom", out / "dicom")
    broken = out / "dicom" / "broken_sr.dcm"
    broken.write_bytes(b"not dicom")
    paths = run_objects(out)
    refused = paths[0]
    scp.refuse.add(_uid(refused))
    results = {r.path: r for r in send(paths, scp.destination)}
    assert results[refused].status == "failed" and results[refused].reason == "refused with status 0xA700"
    assert results[broken].status == "failed" and results[broken].reason.startswith("cannot read it:")
    assert all(r.status == "sent" for p, r in results.items() if p not in (refused, broken))
    assert len(scp.received) == len(paths) - 2

    cli = CliRunner().invoke(app, ["send", str(out), "--to", str(scp.destination)])
    assert cli.exit_code == 1
    assert f"{len(paths) - 2} of {len(paths)} files sent to {scp.destination}" in cli.output
    assert f"{refused}: refused with status 0xA700" in cli.output
    assert f"{broken}: cannot read it:" in cli.output


def test_a_file_whose_association_is_lost_is_sent_again_on_a_new_one(run_dir: Path, scp: Scp) -> None:
    """A PACS that aborted the association while storing the third object (restarting, a
    firewall's idle cut) lost it and the fourth, sent on the dead association before it was
    seen gone: two of 16 objects failed 'no answer to the C-STORE'."""
    paths = run_objects(run_dir)
    scp.abort.add(_uid(paths[2]))
    results = send(paths, scp.destination, timeout_s=5)
    assert [(r.status, r.reason) for r in results] == [("sent", "")] * len(paths)
    assert set(scp.received) == {_uid(p) for p in paths}


def test_a_second_send_sends_what_changed_and_says_what_it_did(run_dir: Path, scp: Scp, tmp_path: Path) -> None:
    """Every send stored every object again and said only 'N of N files sent': after a re-run
    whose objects changed (new SOP Instance UIDs) nothing told that the PACS now held the old
    ones beside them, and after a send cut short the objects stored went again (the demo's 133
    files, 15 s each time to a local Orthanc)."""
    out = tmp_path / "run"
    shutil.copytree(run_dir / "dicom", out / "dicom")
    shutil.copy(run_dir / "images.csv", out / "images.csv")
    paths = run_objects(out)
    scp.refuse.add(_uid(paths[0]))
    runner = CliRunner()
    to = ["--to", str(scp.destination)]
    assert runner.invoke(app, ["send", str(out), *to]).exit_code == 1
    assert len(scp.received) == len(paths) - 1
    assert len((out / "sent.csv").read_text().splitlines()) == len(paths)  # the header and one line a stored file

    scp.refuse.clear(), scp.received.clear()
    cli = runner.invoke(app, ["send", str(out), *to])  # what was refused goes, the rest stays
    assert cli.exit_code == 0 and list(scp.received) == [_uid(paths[0])]
    assert cli.output.splitlines() == [f"{len(paths) - 1} files stored there before, unchanged: not sent again "
                                       "(--again sends them)", f"1 of 1 files sent to {scp.destination}"]  # fmt: skip

    sr = next(p for p in paths if p.name.endswith("_sr.dcm"))  # analysed again: another SR, another UID
    ds = pydicom.dcmread(sr)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
    ds.save_as(sr)
    next(p for p in paths if p.name.endswith("_seg.dcm")).unlink()  # a key frame's SEG no longer made
    scp.received.clear()
    cli = runner.invoke(app, ["send", str(out), *to])
    assert cli.exit_code == 0 and list(scp.received) == [ds.SOPInstanceUID]
    assert "2 objects stored there before are replaced (another SOP instance now, or removed): the PACS keeps the " \
           "earlier ones too" in cli.output and cli.output.endswith(f"1 of 1 files sent to {scp.destination}\n")

    scp.received.clear()
    cli = runner.invoke(app, ["send", str(out), *to, "--again"])
    assert cli.exit_code == 0 and len(scp.received) == len(paths) - 1
    assert cli.output == f"{len(paths) - 1} of {len(paths) - 1} files sent to {scp.destination}\n"
    other = Destination("OTHER", "127.0.0.1", scp.destination.port)  # another PACS: all of them
    assert {r.status for r in send(run_objects(out), other, stored=())} <= {"sent", "failed"}
    (out / "sent.csv").write_text("a,b\n1,2\n")
    cli = runner.invoke(app, ["send", str(out), *to])
    assert cli.exit_code == 2 and f"error: {out / 'sent.csv'}: not a record of follicle-seg send" in cli.output


def test_a_send_stopped_half_way_keeps_the_record_of_what_was_stored(run_dir: Path, scp: Scp, tmp_path: Path,
                                                                    monkeypatch) -> None:  # fmt: skip
    """sent.csv was written when the whole send was over: a Ctrl-C (or a kill) recorded nothing,
    and the next send sent everything again (review)."""
    import follicle_seg.send as sending

    out = tmp_path / "run"
    shutil.copytree(run_dir / "dicom", out / "dicom")
    store, calls = sending._store, []

    def stopped_at_the_third(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return store(*args)

    monkeypatch.setattr(sending, "_store", stopped_at_the_third)
    assert CliRunner().invoke(app, ["send", str(out), "--to", str(scp.destination)]).exit_code != 0
    rows = (out / "sent.csv").read_text().splitlines()[1:]
    assert len(rows) == 2 == len(scp.received) and {r.split(",")[2] for r in rows} == set(scp.received)


def test_ctrl_c_while_a_pacs_is_slow_to_answer_stops_the_send_at_once(run_dir: Path, tmp_path: Path) -> None:
    """The association's network thread is not a daemon thread: Ctrl-C while a PACS had not yet
    answered ended the command only when that thread had waited out --timeout (36 s with the
    default 30), and without a word."""
    import os
    import signal

    from pynetdicom.dul import DULServiceProvider

    out = tmp_path / "run"
    shutil.copytree(run_dir / "dicom", out / "dicom")
    before = set(threading.enumerate())
    with socket.socket() as silent:  # a PACS hung: the connection is taken, nothing answered
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        cli = CliRunner().invoke(app, ["send", str(out), "--to", f"PACS@127.0.0.1:{silent.getsockname()[1]}",
                                       "--timeout", "20"])  # fmt: skip
        timer.join()
    assert cli.exit_code == 130
    assert cli.output.strip() == (f"interrupted: the files stored so far are recorded in {out / 'sent.csv'}; "
                                  "the same command sends the rest")  # fmt: skip
    network = [t for t in set(threading.enumerate()) - before if isinstance(t, DULServiceProvider)]
    for thread in network:
        thread.join(2)
    assert not any(t.is_alive() for t in network)


def test_a_class_the_destination_does_not_store_fails_those_files_only(run_dir: Path) -> None:
    scp = Scp(classes=[SegmentationStorage, pydicom.uid.ComprehensiveSRStorage])
    n = len(run_objects(run_dir))
    try:
        results = send(run_objects(run_dir, sources=True), scp.destination)
    finally:
        scp.server.shutdown()
    assert [r.status for r in results] == ["sent"] * n + ["failed"] * 7
    assert results[-1].reason.startswith("the destination accepts no Ultrasound Image Storage in transfer syntax")
    assert len(scp.received) == n


def test_no_association_fails_every_file_with_one_reason(run_dir: Path, scp: Scp) -> None:
    paths = run_objects(run_dir)
    wrong_title = Destination("OTHER", "127.0.0.1", scp.destination.port)
    reasons = {r.reason for r in send(paths, wrong_title)}
    assert reasons == {f"no association with {wrong_title}: the destination rejected it (check the called and calling AE titles)"}
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = Destination("PACS", "127.0.0.1", s.getsockname()[1])
    results = send(paths, closed, timeout_s=5)
    assert {r.status for r in results} == {"failed"}
    assert {r.reason for r in results} == {f"no association with {closed}: cannot connect (Connection refused; check the host, port and firewall)"}
    assert scp.received == {}

    cli = CliRunner().invoke(app, ["send", str(run_dir), "--to", str(closed), "--timeout", "5"])
    assert cli.exit_code == 1
    assert f"{len(paths)} files not sent: no association with {closed}: cannot connect" in cli.output
    assert cli.output.count("\n") == 2  # that line and the summary, not one line per file


def test_a_port_that_never_answers_or_answers_another_protocol_is_told_apart(run_dir: Path) -> None:
    """A listener that never answers (a PACS hung, a port forwarded to nothing) and a web server
    (Orthanc's HTTP port given for its DICOM one) both failed every file with 'the destination
    aborted it'."""
    paths = run_objects(run_dir)[:2]
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        dest = Destination("PACS", "127.0.0.1", silent.getsockname()[1])
        assert {r.reason for r in send(paths, dest, timeout_s=1)} == {
            f"no association with {dest}: no answer within 1 s (not a DICOM port, or a PACS busy or hung; --timeout)"}

    def http(server: socket.socket) -> None:
        for _ in range(2):  # the association, then the check that the port is open
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with socket.socket() as web:
        web.bind(("127.0.0.1", 0))
        web.listen()
        threading.Thread(target=http, args=(web,), daemon=True).start()
        dest = Destination("PACS", "127.0.0.1", web.getsockname()[1])
        assert {r.reason for r in send(paths, dest, timeout_s=5)} == {
            f"no association with {dest}: the destination aborted it (is 127.0.0.1:{dest.port} its DICOM port?)"}


def test_bad_destination_or_a_folder_without_objects_stops_with_one_error(tmp_path: Path) -> None:
    runner = CliRunner()
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "pacs:104"])
    assert cli.exit_code == 2 and "error: 'pacs:104': destination must be AET@HOST:PORT" in cli.output
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "PACS@host:99999"])  # said the AE title was wrong
    assert cli.exit_code == 2 and "error: 'PACS@host:99999': port 99999 is not a TCP port (1-65535)" in cli.output
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "PACS@127.0.0.1:104"])
    assert cli.exit_code == 2 and f"error: {tmp_path}: no DICOM objects in {tmp_path / 'dicom'}" in cli.output
    with pytest.raises(SendError, match="no images.csv"):
        run_objects(tmp_path, sources=True)
    cli = runner.invoke(app, ["send", str(tmp_path / "reslts"), "--to", "PACS@127.0.0.1:104"])
    assert cli.exit_code == 2 and f"error: {tmp_path / 'reslts'}: no such folder" in cli.output


def test_an_ae_title_a_pacs_cannot_take_or_a_timeout_of_nothing_stops_with_one_error(tmp_path: Path) -> None:
    """A calling AE title over 16 characters, or a called one with a non-ASCII letter, ended in
    pynetdicom's traceback (exit 1); --timeout 0 failed every file 'the destination aborted it'."""
    (tmp_path / "dicom").mkdir()
    (tmp_path / "dicom" / "a_sr.dcm").write_bytes(b"x")
    runner = CliRunner()
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "PACS@127.0.0.1:104", "--calling-aet", "FOLLICLE_SEG_SITE_A"])
    assert cli.exit_code == 2 and cli.output.strip() == (
        "error: --calling-aet 'FOLLICLE_SEG_SITE_A': an AE title is 1 to 16 characters, not all spaces (it has 19)")
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "P\u00c4CS@127.0.0.1:104"])
    assert cli.exit_code == 2 and cli.output.strip() == (
        "error: --to 'P\u00c4CS': an AE title is ASCII letters, digits, spaces and punctuation, without a backslash")
    with pytest.raises(SendError, match="without a backslash"):
        Destination.parse("ORTH\\ANC@127.0.0.1:104")
    with pytest.raises(SendError, match="not all spaces"):
        ae_title("   ", "--calling-aet")
    cli = runner.invoke(app, ["send", str(tmp_path), "--to", "PACS@127.0.0.1:104", "--timeout", "0"])
    assert cli.exit_code == 2 and "Invalid value for '--timeout'" in cli.output


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def orthanc(tmp_path: Path):
    binary = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if Path("/usr/sbin/Orthanc").exists() else None)
    if binary is None:
        pytest.skip("Orthanc (Debian package orthanc) is not installed")
    dicom_port, http_port = _free_port(), _free_port()
    config = dict(
        Name="follicle_seg test", StorageDirectory=str(tmp_path / "db"), IndexDirectory=str(tmp_path / "db"),
        DicomAet="ORTHANC", DicomPort=dicom_port, HttpPort=http_port, RemoteAccessAllowed=False,
        AuthenticationEnabled=False, DicomCheckCalledAet=True, Plugins=[],
    )  # fmt: skip
    (tmp_path / "orthanc.json").write_text(json.dumps(config))
    log = (tmp_path / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(tmp_path / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{api}/system", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"Orthanc did not start: {(tmp_path / 'orthanc.log').read_text()[-2000:]}")
        yield Destination("ORTHANC", "127.0.0.1", dicom_port), api
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_a_real_pacs_files_the_objects_in_their_source_studies(run_dir: Path, orthanc) -> None:
    destination, api = orthanc
    paths = run_objects(run_dir, sources=True)
    assert {r.status for r in send(paths, destination)} == {"sent"}
    stats = _get(f"{api}/statistics")
    assert stats["CountInstances"] == len(paths)
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in paths[len(run_objects(run_dir)):]]
    assert stats["CountStudies"] == len({ds.StudyInstanceUID for ds in sources})  # SEG/SR joined them
    modalities = {}
    for instance in _get(f"{api}/instances"):
        tags = _get(f"{api}/instances/{instance}/simplified-tags")
        modalities[tags["SOPInstanceUID"]] = tags["Modality"]
    assert modalities == {
        _uid(p): {"seg.dcm": "SEG", "sr.dcm": "SR"}.get(p.name.rsplit("_", 1)[-1], "US") for p in paths
    }


def test_the_objects_sent_are_those_of_analysed_images_by_their_whole_uid(tmp_path: Path) -> None:
    """Names were cut at the first "_": an image whose UID holds one had nothing sent, and a
    rejected image's objects were sent when its UID began like an analysed one's."""
    from follicle_seg.send import run_objects

    (tmp_path / "dicom").mkdir()
    for name in ("1.2.3_sr.dcm", "1.2.3_f1200_seg.dcm", "1.2.3_4_sr.dcm", "1.2.3_4_seg.dcm", "1.2.840_99.7_sr.dcm"):
        (tmp_path / "dicom" / name).write_bytes(b"x")
    (tmp_path / "images.csv").write_text("path,sop_instance_uid,status\na,1.2.3,ok\nb,1.2.3_4,rejected\nc,1.2.840_99.7,ok\n")
    assert [p.name for p in run_objects(tmp_path)] == ["1.2.3_f1200_seg.dcm", "1.2.3_sr.dcm", "1.2.840_99.7_sr.dcm"]


def test_objects_are_sent_with_their_sources_patient_name_and_kept_without_it(scp: Scp, tmp_path: Path) -> None:
    """Sent with the name, birth date and sex empty, the objects emptied the patient's record in a
    PACS (Orthanc keeps one per patient); on disk they stay without them, and a pseudonymised
    run's are never given the real ones."""
    from follicle_seg.send import Patients

    source = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    source.PatientName, source.PatientSex, source.PatientBirthDate = "Doe^Jane", "F", "19900102"
    source.PatientID = " MRN42"  # a padded ID, which ingestion strips: the same patient all the same
    (tmp_path / "in").mkdir()
    source.save_as(tmp_path / "in" / "a.dcm")
    out = tmp_path / "run"
    run([tmp_path / "in"], RunOptions(out=out, overlays=False, report=False))
    objects = run_objects(out)
    assert len(objects) == 2  # its SEG and SR
    assert all(r.status == "sent" for r in send(objects, scp.destination, patient_of=Patients(out)))
    assert set(scp.patients.values()) == {("Doe^Jane", "F")}
    for path in objects:  # the files as written
        assert str(pydicom.dcmread(path, stop_before_pixels=True).PatientName) == ""
    key = tmp_path / "key"
    key.write_bytes(b"k" * 32)
    pseudo = tmp_path / "pseudo"
    run([tmp_path / "in"], RunOptions(out=pseudo, overlays=False, report=False, pseudonymize=key))
    assert Patients(pseudo)(next((pseudo / "dicom").glob("*_sr.dcm"))) is None
    # another image now at the source's path (a reused name like IM0001): not its patient's name
    other = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    other.SOPInstanceUID, other.PatientID, other.PatientName = "1.2.3.4.5", "OTHER99", "Other^Woman"
    other.save_as(tmp_path / "in" / "a.dcm")
    patients = Patients(out)
    assert patients(objects[0]) is None and patients.missed == [objects[0]]


@pytest.mark.parametrize(("charset", "name", "sent"), [
    ("ISO_IR100", "M\u00fcller^Jane", "ISO_IR 100"),
    (["", "ISO 2022 IR 87"], "Yamada^Tarou=\u5c71\u7530^\u592a\u90ce", ["", "ISO 2022 IR 87"]),
])  # fmt: skip
def test_a_source_with_a_misspelt_character_set_lends_its_name_in_the_defined_term(
    scp: Scp, tmp_path: Path, charset, name: str, sent
) -> None:
    """The objects are written in ISO_IR 100 for a source's misspelt ISO_IR100, but sent with the
    source's value copied back beside its name: the PACS got the misspelling. A code extension's
    empty first value is sent as the source spells it (spelt out, Orthanc garbled the name)."""
    from follicle_seg.send import Patients

    source = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    source.SpecificCharacterSet = charset
    source.PatientName = name
    (tmp_path / "in").mkdir()
    source.save_as(tmp_path / "in" / "a.dcm")
    out = tmp_path / "run"
    run([tmp_path / "in"], RunOptions(out=out, overlays=False, report=False))
    objects = run_objects(out)
    assert len(objects) == 2 and all(r.status == "sent" for r in send(objects, scp.destination, patient_of=Patients(out)))
    assert [sent if isinstance(sent, str) else list(sent)] * 2 == [v if isinstance(v, str) else list(v)
                                                                 for v in scp.charsets.values()]  # fmt: skip
    assert {got for got, _ in scp.patients.values()} == {name}


def test_a_run_that_may_be_pseudonymised_never_gets_real_names(tmp_path: Path) -> None:
    """Without a run state and with sources lacking a PatientID nothing tells a pseudonymised run:
    it was taken for a plain one and its objects were sent with the real names."""
    from follicle_seg.send import Patients

    source = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    source.PatientID, source.PatientName = "", "Secret^Name"
    source.save_as(tmp_path / "a.dcm")
    (tmp_path / "dicom").mkdir()
    sr = tmp_path / "dicom" / f"{source.SOPInstanceUID}_sr.dcm"
    sr.write_bytes(b"x")
    (tmp_path / "images.csv").write_text(f"path,sop_instance_uid,patient_id,status\n{tmp_path / 'a.dcm'},"
                                         f"{source.SOPInstanceUID},P0123456789ab,ok\n")  # fmt: skip
    assert Patients(tmp_path)(sr) is None


def test_an_object_in_utf8_keeps_it_when_its_latin1_source_lends_the_name(scp: Scp, tmp_path: Path) -> None:
    """A reviewed SR in UTF-8 (a reviewer's name Latin-1 lacks) was relabelled with its source's
    ISO_IR 100 to lend the patient's name: the PACS got the reviewer's name garbled (review)."""
    from follicle_seg.send import Patients

    source = pydicom.dcmread(SAMPLES / "mono_left.dcm")
    source.SpecificCharacterSet, source.PatientName = "ISO_IR 100", "Müller^Anna"
    (tmp_path / "in").mkdir()
    source.save_as(tmp_path / "in" / "a.dcm")
    out = tmp_path / "run"
    run([tmp_path / "in"], RunOptions(out=out, overlays=False, report=False))
    [sr] = [p for p in run_objects(out) if p.name.endswith("_sr.dcm")]
    ds = pydicom.dcmread(sr)
    ds.SpecificCharacterSet, ds.ContentCreatorName = "ISO_IR 192", "Łukasz"
    ds.save_as(sr)
    assert [r.status for r in send([sr], scp.destination, patient_of=Patients(out))] == ["sent"]
    assert list(scp.charsets.values()) == ["ISO_IR 192"]
    assert {got for got, _ in scp.patients.values()} == {"Müller^Anna"}
