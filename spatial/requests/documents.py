"""Attachments of a request: what may be attached, how big, and whether it is what it says.

A request's dossier is read by council members and state bodies and, for public kinds,
by anyone; a file that claims to be a PDF but is an HTML page could run script in a
reader's browser. So an attachment is accepted only when its declared content type is
on the allow-list, its size is within the cap, and its first bytes carry the signature
of that type. Files are served back with that type, as downloads, with ``nosniff``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import Problem, ValidationError
from .model import DOCUMENT_KINDS

__all__ = ["ALLOWED_TYPES", "MAX_ATTACHMENT_BYTES", "Attachment", "validate_attachment"]

#: Default cap on one attachment: a scanned multi-page resolution fits.
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024

_ZIP = (b"PK\x03\x04",)
#: Content type -> (file extensions, leading-byte signatures; empty for plain text).
ALLOWED_TYPES: Mapping[str, tuple[tuple[str, ...], tuple[bytes, ...]]] = {
    "application/pdf": ((".pdf",), (b"%PDF-",)),
    "image/png": ((".png",), (b"\x89PNG\r\n\x1a\n",)),
    "image/jpeg": ((".jpg", ".jpeg"), (b"\xff\xd8\xff",)),
    "image/tiff": ((".tif", ".tiff"), (b"II*\x00", b"MM\x00*")),
    "text/plain": ((".txt",), ()),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        (".docx",), _ZIP),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ((".xlsx",), _ZIP),
    "application/vnd.oasis.opendocument.text": ((".odt",), _ZIP),
}
_SAFE_NAME = re.compile(r"[^\w.\- ()]+", re.UNICODE)


@dataclass(frozen=True)
class Attachment:
    """A checked attachment ready to store."""

    kind: str
    filename: str
    content_type: str
    content: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.content)


def _clean_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = _SAFE_NAME.sub("_", base)[:120].strip(" .")
    return cleaned or "attachment"


def validate_attachment(
    kind: str, filename: str, content_type: str, content: bytes, *,
    max_bytes: int = MAX_ATTACHMENT_BYTES,
) -> Attachment:
    """Check one upload and return it with a safe file name and its SHA-256.

    Raises
    ------
    ValidationError
        With every problem: unknown kind, empty or oversized file, a content type off
        the allow-list, an extension or leading bytes that do not match the type, text
        that is not UTF-8.
    """
    problems: list[Problem] = []
    name = _clean_name(filename or "")
    ctype = (content_type or "").split(";")[0].strip().lower()

    def problem(code: str, message: str, column: str) -> None:
        problems.append(Problem(code, message, layer="attachment", feature=name, column=column))

    if kind not in DOCUMENT_KINDS:
        problem("unknown_kind", f"unknown document kind {kind!r}; kinds are "
                f"{', '.join(DOCUMENT_KINDS)}", "kind")
    if not content:
        problem("empty_file", "the file is empty", "content")
    elif len(content) > max_bytes:
        problem("too_large", f"the file has {len(content):,} bytes; the limit is "
                f"{max_bytes:,}", "content")
    if ctype not in ALLOWED_TYPES:
        problem("type_not_allowed", f"content type {ctype or '(none)'!r} is not accepted; "
                f"accepted: {', '.join(ALLOWED_TYPES)}", "content_type")
    else:
        extensions, signatures = ALLOWED_TYPES[ctype]
        if not name.lower().endswith(extensions):
            problem("extension_mismatch", f"a {ctype} file must end in "
                    f"{' or '.join(extensions)}", "filename")
        if content and signatures and not content.startswith(signatures):
            problem("content_mismatch", f"the file's content is not {ctype}", "content")
        if content and not signatures:
            try:
                content.decode("utf-8")
            except UnicodeDecodeError:
                problem("not_utf8", "a text attachment must be UTF-8", "content")
    if problems:
        raise ValidationError(problems)
    return Attachment(kind=kind, filename=name, content_type=ctype, content=content,
                      sha256=hashlib.sha256(content).hexdigest())
