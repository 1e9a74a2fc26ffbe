"""One exception family with messages a person can act on."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # (types imports numpy; this module stays light)
    from follicle_seg.types import Identity


class FollicleSegError(Exception):
    """Base class of every error this package raises on purpose."""


class RejectedInput(FollicleSegError):
    """An input file that cannot be analysed; `reason` is one human line.

    The batch records it (``status = rejected``) and goes on.
    """

    def __init__(self, path: str, reason: str, identity: Identity | None = None) -> None:
        self.path = str(path)
        self.reason = reason
        self.identity = identity  # a types.Identity when the header could be read
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self) -> tuple[type[RejectedInput], tuple[str, str, Identity | None]]:  # survives pickling (decoder processes)
        return (type(self), (self.path, self.reason, self.identity))


class ModelError(FollicleSegError):
    """Weights or bundle configuration missing, tampered with or unusable."""


class OutputError(FollicleSegError):
    """The output folder cannot be written (permissions, disk full, corrupt run state)."""


def said(path: str, reason: str) -> str:
    r"""``path: reason`` on one line for the console and ``run.log`` (a reason of an older run may
    begin with its path already); a character of a file name that is not printable (a line
    break, a tab, an escape sequence that would recolour a terminal) is shown escaped.

    Examples
    --------
    >>> said("/in/a\nb\x1b[31m.dcm", "empty file (0 bytes)")
    '/in/a\\nb\\x1b[31m.dcm: empty file (0 bytes)'
    """
    return printable(reason if reason.startswith(path) else f"{path}: {reason}")


def printable(text: str) -> str:
    r"""``text`` with each character that is not printable shown escaped (``\n``, ``\x1b``).

    >>> printable("a\tb")
    'a\\tb'
    """
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def brief(exc: BaseException) -> str:
    """An exception's message on one line, at most 160 characters (for a rejection reason)."""
    return one_line(str(exc)) or type(exc).__name__


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, on one line: the system's reason (``No space left on
    device``), found in the errors ``exc`` wraps too (pydicom raises a failed write again with its
    traceback as the message: the console's one-line error showed ten lines), else :func:`brief`.

    >>> os_reason(OSError(28, "No space left on device"))
    'No space left on device'
    """
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return brief(exc)


def one_line(text: str) -> str:
    r"""A message on one line for a reason, at most 160 characters, without the reprs of Python
    objects that some libraries put in theirs (Pillow's "cannot identify image file <_io.BytesIO
    object at 0x7f...>"): they mean nothing to a person and differ on every run.

    Examples
    --------
    >>> one_line("cannot identify image file <_io.BytesIO object at 0x7f4c1b9fec50>\n")
    'cannot identify image file'
    """
    text = " ".join(_OBJECT_REPR.sub("", text).split())
    return text if len(text) <= 160 else text[:157] + "..."


#: ``<module.Class object at 0x...>``, as Python writes an object without a repr of its own.
_OBJECT_REPR = re.compile(r"<[^<>]* at 0x[0-9a-fA-F]+>")
