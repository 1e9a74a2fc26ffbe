"""`follicle-seg send`: a run's DICOM SEG and SR objects (and, if asked, its sources) to a PACS.

A hospital reads results where it reads the scans: in its PACS viewer, beside the source images.
The objects a run writes into ``OUT/dicom/`` are sent there by DICOM C-STORE (pynetdicom), over
one association per destination, with a presentation context for every SOP class and transfer
syntax the files use. Each file ends ``sent`` or ``failed`` with a one-line reason (a PACS that
refuses a file, a file that cannot be read, a connection lost on the way), or ``unchanged`` (stored
there before, recorded in ``OUT/sent.csv``: not sent again); one file's failure never stops the
others. Sending twice is harmless: a PACS keys instances by SOP Instance UID.
"""

from __future__ import annotations

import csv
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE

from follicle_seg.errors import FollicleSegError, brief
from follicle_seg.io.header import read_dicom
from follicle_seg.io.tags import tag_text
from follicle_seg.outnames import dicom_uid
from follicle_seg.report.dicom_common import fit_charset

#: The calling AE title, unless ``--calling-aet`` says otherwise.
CALLING_AET = "FOLLICLE_SEG"

#: Presentation contexts one association may propose (DICOM PS3.8: 128).
MAX_CONTEXTS = 128

_DESTINATION = re.compile(r"^(?P<aet>[^@]+)@(?P<host>[^:@]+):(?P<port>\d{1,5})$")


class SendError(FollicleSegError):
    """The destination is malformed or the run folder holds nothing to send."""


@dataclass(frozen=True)
class Destination:
    """A DICOM storage SCP: its AE title, host and port (``AET@HOST:PORT``)."""

    aet: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Destination:
        """``ORTHANC@pacs.example.org:4242`` -> Destination("ORTHANC", "pacs.example.org", 4242).

        >>> Destination.parse("PACS@10.0.0.7:104")
        Destination(aet='PACS', host='10.0.0.7', port=104)
        """
        match = _DESTINATION.match(text.strip())
        if match is None:
            raise SendError(f"{text!r}: destination must be AET@HOST:PORT")
        if not 0 < int(match["port"]) < 65536:
            raise SendError(f"{text!r}: port {int(match['port'])} is not a TCP port (1-65535)")
        return cls(ae_title(match["aet"], "--to"), match["host"], int(match["port"]))

    def __str__(self) -> str:
        return f"{self.aet}@{self.host}:{self.port}"


def ae_title(title: str, option: str) -> str:
    """``title`` when a PACS can take it as an AE title (PS3.5: 1 to 16 characters, not all
    spaces, of ASCII without a backslash or control characters), else SendError naming ``option``
    (pynetdicom's ValueError came as a traceback).

    >>> ae_title("TVUS_AI", "--calling-aet")
    'TVUS_AI'
    """
    if not title.strip() or len(title) > 16:
        raise SendError(f"{option} {title!r}: an AE title is 1 to 16 characters, not all spaces (it has {len(title)})")
    if not all(" " <= c <= "~" and c != "\\" for c in title):
        raise SendError(f"{option} {title!r}: an AE title is ASCII letters, digits, spaces and punctuation, without a backslash")
    return title


@dataclass(frozen=True)
class Sent:
    """What became of one file: ``status`` is ``sent``, ``failed`` or ``unchanged`` (its SOP
    instance was stored there before: not sent again); ``reason`` one line; ``uid`` its SOP
    Instance UID when it could be read."""

    path: Path
    status: str
    reason: str = ""
    uid: str = ""


#: The record of what ``send`` stored where, in the run folder: a line per object a destination
#: answered stored (``destination``, ``file``, ``sop_instance_uid``, ``sent_at``).
SENT_FILE = "sent.csv"
_SENT_COLUMNS = ["destination", "file", "sop_instance_uid", "sent_at"]


def sent_before(out: Path, destination: Destination) -> dict[str, str]:
    """The files of ``out`` stored at ``destination`` before (:data:`SENT_FILE`): file (as
    :func:`_file_key` names it) -> the SOP Instance UID it had then, the latest send's."""
    record = out / SENT_FILE
    if not record.is_file():
        return {}
    with record.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not set(_SENT_COLUMNS[:3]) <= set(reader.fieldnames or ()):
            raise SendError(f"{record}: not a record of follicle-seg send (no columns {', '.join(_SENT_COLUMNS[:3])}); "
                            "move it away to send everything again")  # fmt: skip
        return {row["file"]: row["sop_instance_uid"] for row in reader if row["destination"] == str(destination)}


def record_sent(out: Path, destination: Destination, results: Sequence[Sent], removed: Sequence[str] = ()) -> None:
    """Add the files ``results`` says were stored to :data:`SENT_FILE`, and the ``removed`` ones
    (:func:`replaced`) without a UID, said once; OSError when it cannot."""
    from datetime import datetime

    record = out / SENT_FILE
    now = datetime.now().isoformat(timespec="seconds")
    rows = [[str(destination), _file_key(out, r.path), r.uid, now] for r in results if r.status == "sent"]
    rows += [[str(destination), key, "", now] for key in removed]
    if not rows:
        return
    new = not record.is_file()
    with record.open("a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(_SENT_COLUMNS)
        writer.writerows(rows)


def replaced(out: Path, before: dict[str, str], results: Sequence[Sent]) -> tuple[list[str], list[str]]:
    """The files stored before that are no longer the run's: those holding another SOP instance
    now, and those removed (an image analysed again, with other key frames). A PACS keeps both
    versions: C-STORE cannot take one back."""
    now = {_file_key(out, r.path): r.uid for r in results}
    changed = [key for key, uid in before.items() if uid and now.get(key) not in (None, "", uid)]
    removed = [key for key, uid in before.items() if uid and key not in now and not (out / key).exists()]
    return changed, removed


def _file_key(out: Path, path: Path) -> str:
    """A run's own object by its name under ``out`` (``dicom/<name>``), a source by its path."""
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)


def run_objects(out: Path, *, sources: bool = False) -> list[Path]:
    """The files of a run folder to send: ``dicom/*.dcm`` sorted, then (with ``sources``) the
    source files of ``images.csv`` whose status is ``ok``, in table order. With an ``images.csv``,
    only the objects of its ``ok`` rows: those of a file left out of the last run's inputs stay.

    Raises
    ------
    SendError
        When ``out`` has neither a ``dicom/`` folder with objects nor sources to send.
    """
    if not out.is_dir():
        raise SendError(f"{out}: no such folder (give the --out folder of a run)")
    paths = sorted((out / "dicom").glob("*.dcm"))
    table = out / "images.csv"
    rows = _analysed_rows(out)
    if rows is not None:
        analysed = {row["sop_instance_uid"] for row in rows}
        paths = [p for p in paths if dicom_uid(p.name) in analysed]  # <uid>[_f<frame>]_seg.dcm, <uid>_sr.dcm
    if sources:
        if rows is None:
            raise SendError(f"{table}: no images.csv; is {out} the --out folder of a run?")
        if rows and _pseudonymised(out, rows):
            raise SendError(f"{out}: its objects carry pseudonyms (a --pseudonymize run) and its sources the real "
                            "PatientIDs: a PACS given both would file one patient under two identities; send the "
                            "objects without --sources")  # fmt: skip
        paths += [Path(row["path"]) for row in rows]
    if not paths:
        raise SendError(f"{out}: no DICOM objects in {out / 'dicom'} (was the run made with --no-dicom?)")
    return paths


def _analysed_rows(out: Path) -> list[dict[str, str]] | None:
    """The ``ok`` rows of the run's ``images.csv``; None when there is no such table."""
    table = out / "images.csv"
    if not table.is_file():
        return None
    with table.open(newline="") as f:
        return [row for row in csv.DictReader(f) if row["status"] == "ok"]


#: The patient attributes a run's SEG/SR leave empty on disk and ``send`` fills from the source:
#: a PACS keeps one record per patient, and objects sent with these empty emptied it.
PATIENT_FILLED = ("PatientName", "PatientBirthDate", "PatientSex")


class Patients:
    """The source patient attributes (:data:`PATIENT_FILLED`) of a run's SEG/SR, read from the
    source file ``images.csv`` names: ``patients(path)`` gives them, or None. None for a file
    that is not one of the run's SEG/SR, and for every file of a run that is pseudonymised, or
    may be (its objects carry pseudonyms: never the real name). A source that cannot be read, or
    that is no longer the analysed image (another SOP instance or patient at its path: scanners
    reuse names like IM0001), gives None too and is kept in ``missed``: its objects go without."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.missed: list[Path] = []
        self.undecided = False  # nothing tells whether the run was pseudonymised: nothing filled
        self._rows: dict[str, dict[str, str]] = {}
        self._read: dict[str, Dataset | None] = {}  # by source path: a SEG and an SR share one
        rows = _analysed_rows(out)
        if rows is not None:
            pseudonymised = _pseudonymised(out, rows) if rows else True
            self.undecided = pseudonymised is None
            if pseudonymised is False:
                self._rows = {row["sop_instance_uid"]: row for row in rows}

    def __call__(self, path: Path) -> Dataset | None:
        row = self._rows.get(dicom_uid(path.name) or "") if path.parent == self.out / "dicom" else None
        if row is None:
            return None
        if row["path"] not in self._read:
            try:
                self._read[row["path"]] = read_dicom(row["path"], stop_before_pixels=True, specific_tags=[
                    "SOPInstanceUID", "PatientID", "SpecificCharacterSet", *PATIENT_FILLED])  # fmt: skip
            except Exception:  # noqa: BLE001 - sent as written, the patient attributes empty
                self._read[row["path"]] = None
        source = self._read[row["path"]]
        if source is None or (tag_text(source, "SOPInstanceUID"), tag_text(source, "PatientID")) != (
                row["sop_instance_uid"], row["patient_id"]):  # as ingestion reads them (stripped)  # fmt: skip
            self.missed.append(path)
            return None
        return source


def _pseudonymised(out: Path, rows: list[dict[str, str]]) -> bool | None:
    """Whether the run in ``out`` was pseudonymised: as its run state says, else (no state) as
    the first rows whose source names a patient show (the table naming it otherwise); None when
    nothing tells (no state, and no source with a PatientID to compare)."""
    from follicle_seg.state import STATE_FILE, stored_analysis

    analysis = stored_analysis(out / STATE_FILE)
    if analysis is not None:
        return analysis.get("pseudonyms", "none") != "none"
    compared = 0
    for row in rows:
        try:
            header = read_dicom(row["path"], stop_before_pixels=True, specific_tags=["PatientID"])
        except Exception:  # noqa: BLE001 - an unreadable source fails when it is sent, with its reason
            continue
        if tag_text(header, "PatientID"):
            if tag_text(header, "PatientID") != row["patient_id"]:
                return True
            compared += 1
            if compared == 20:
                break
    return False if compared else None


def send(
    paths: Sequence[Path],
    destination: Destination,
    *,
    calling_aet: str = CALLING_AET,
    timeout_s: float = 30.0,
    patient_of: Callable[[Path], Dataset | None] | None = None,
    stored: Collection[str] = (),
    on_sent: Callable[[Sent], None] | None = None,
) -> list[Sent]:
    """C-STORE ``paths`` to ``destination``; one :class:`Sent` per path, in order. A file whose
    SOP Instance UID is in ``stored`` (sent there before) is not sent again: ``unchanged``.
    ``on_sent`` is told of each file as the destination answers it stored (a send stopped half
    way keeps its record: :func:`record_sent`).

    With ``patient_of`` (:class:`Patients`), an object whose patient attributes
    (:data:`PATIENT_FILLED`) are empty is sent with its source's.

    Files are read one at a time (a sweep's SR or a source cine is never held with the others).
    A file that cannot be read, whose context the destination refused, or that the destination
    answered with a failure status is ``failed`` with the reason; one whose association is lost
    on the way (a PACS restarting, a firewall's idle cut) is sent once more on a new one; an
    association that cannot be made fails the files not sent yet, with the reason.
    """
    results: dict[Path, Sent] = {}
    headers: dict[Path, tuple[str, str]] = {}
    uids: dict[Path, str] = {}
    for path in paths:
        try:
            ds = read_dicom(path, stop_before_pixels=True)
            uids[path] = str(ds.SOPInstanceUID)
            context = (str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
        except Exception as exc:  # not DICOM, truncated, no file meta: that file alone fails
            results[path] = Sent(path, "failed", f"cannot read it: {brief(exc)}")
            continue
        if uids[path] in stored:
            results[path] = Sent(path, "unchanged")
        else:
            headers[path] = context
    def stored_now(path: Path) -> None:
        if on_sent is not None:
            on_sent(Sent(path, "sent", uid=uids[path]))

    for group in _context_groups(headers):
        results.update(_send_group(group, headers, destination, calling_aet, timeout_s, patient_of, stored_now))
    return [replace(results[p], uid=uids.get(p, "")) for p in paths]


def _context_groups(headers: dict[Path, tuple[str, str]]) -> Iterator[list[Path]]:
    """The files in groups whose (SOP class, transfer syntax) pairs fit one association."""
    group: list[Path] = []
    contexts: set[tuple[str, str]] = set()
    for path, context in headers.items():
        if context not in contexts and len(contexts) == MAX_CONTEXTS:
            yield group
            group, contexts = [], set()
        group.append(path)
        contexts.add(context)
    if group:
        yield group


def _send_group(
    group: list[Path],
    headers: dict[Path, tuple[str, str]],
    destination: Destination,
    calling_aet: str,
    timeout_s: float,
    patient_of: Callable[[Path], Dataset | None] | None = None,
    stored_now: Callable[[Path], None] = lambda path: None,
) -> dict[Path, Sent]:
    ae = AE(ae_title=calling_aet)
    for seconds in ("acse_timeout", "dimse_timeout", "network_timeout", "connection_timeout"):
        setattr(ae, seconds, timeout_s)
    for sop_class, syntax in sorted({headers[p] for p in group}):
        ae.add_requested_context(sop_class, syntax)
    results: dict[Path, Sent] = {}
    assoc = None
    try:
        for k, path in enumerate(group):
            for _ in range(2):  # a file whose association was lost on the way: once more, on a new one
                if assoc is None or not assoc.is_established:
                    assoc, refusal = _associate(ae, destination, timeout_s)
                    if refusal:
                        reason = f"no association with {destination}: {refusal}"
                        return {**results, **{p: Sent(p, "failed", reason) for p in group[k:]}}
                results[path] = _store(assoc, path, headers[path], patient_of)
                if results[path].status == "sent":
                    stored_now(path)
                    break
                if assoc.is_established:  # a PACS's refusal is its answer
                    break
    except BaseException:  # Ctrl-C, SIGTERM: no release, which waits for the PACS's answer
        _stop_associations(ae)
        assoc = None
        raise
    finally:
        if assoc is not None and assoc.is_established:
            assoc.release()
    return results


def _stop_associations(ae: AE) -> None:
    """End the network threads of ``ae``'s associations now. They are not daemon threads: a
    Ctrl-C while a PACS was slow to answer ended the command only once they had waited out their
    time limits (``--timeout``, 30 s by default), in silence."""
    from pynetdicom.dul import DULServiceProvider

    for thread in threading.enumerate():
        if isinstance(thread, DULServiceProvider) and thread.assoc.ae is ae:
            thread.kill_dul()


def _associate(ae: AE, destination: Destination, timeout_s: float):
    """``(association, "")`` when established, else ``(association or None, why not)``."""
    start = time.monotonic()
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.aet)
    except OSError as exc:  # the host name does not resolve
        return None, f"cannot connect ({exc.strerror or brief(exc)}; check the host name)"
    if assoc.is_established:
        return assoc, ""
    unanswered = time.monotonic() - start >= timeout_s  # the ACSE timeout ran out
    return assoc, _refusal(assoc, destination, timeout_s if unanswered else None)


def _refusal(assoc, destination: Destination, unanswered_s: float | None) -> str:
    """Why no association: rejected, no connection, no answer within ``unanswered_s``, aborted."""
    if assoc.is_rejected:
        return "the destination rejected it (check the called and calling AE titles)"
    try:  # pynetdicom reports a refused connection as an abort: say which it was
        socket.create_connection((destination.host, destination.port), timeout=5).close()
    except OSError as exc:
        return f"cannot connect ({exc.strerror or brief(exc)}; check the host, port and firewall)"
    if unanswered_s is not None:
        return f"no answer within {unanswered_s:g} s (not a DICOM port, or a PACS busy or hung; --timeout)"
    return f"the destination aborted it (is {destination.host}:{destination.port} its DICOM port?)"


def _store(assoc, path: Path, context: tuple[str, str], patient_of: Callable[[Path], Dataset | None] | None = None) -> Sent:
    try:
        ds = read_dicom(path)
    except Exception as exc:
        return Sent(path, "failed", f"cannot read it: {brief(exc)}")
    if patient_of is not None and not any(ds.get(k) for k in PATIENT_FILLED) and (source := patient_of(path)) is not None:
        for keyword in PATIENT_FILLED:
            if source.get(keyword):
                setattr(ds, keyword, source[keyword].value)
        # the name's characters as the source has them, in a defined term (the source's may be misspelt);
        # an object in UTF-8 already (a reviewer's name the source's set lacks) writes them as it is
        fit = fit_charset(source.SpecificCharacterSet, spell_out=False) if "SpecificCharacterSet" in source else None
        if fit is not None and fit != ds.get("SpecificCharacterSet") and ds.get("SpecificCharacterSet") != "ISO_IR 192":
            ds.SpecificCharacterSet = fit
    try:
        status = assoc.send_c_store(ds)
    except Exception as exc:  # no accepted context, association gone, a dataset it cannot encode
        if "presentation context" in str(exc):
            return Sent(path, "failed", f"the destination accepts no {_name(context[0])} in transfer syntax {context[1]}")
        return Sent(path, "failed", brief(exc))
    code = status.get("Status") if status else None
    if code is None:  # an association that may still look established: never used again
        assoc.abort()
        return Sent(path, "failed", "no answer to the C-STORE (connection lost or timed out)")
    if code == 0x0000 or code & 0xF000 == 0xB000:  # success, or a warning (stored, coerced)
        return Sent(path, "sent", "" if code == 0 else f"stored with warning status 0x{code:04X}")
    comment = status.get("ErrorComment", "")
    return Sent(path, "failed", f"refused with status 0x{code:04X}" + (f": {comment}" if comment else ""))


def _name(sop_class: str) -> str:
    name = pydicom.uid.UID(sop_class).name
    return name if name != sop_class else f"SOP class {sop_class}"
