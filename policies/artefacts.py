"""The fingerprint of a policy artefact (SHA-256 over a file, or over every file of a directory) and opening one.

One algorithm for everyone: the policy interface, training runs, the registry and the decision API."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK = 1 << 20


def artefact_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of an artefact.

    For a file: the digest of its bytes. For a directory: the digest of, for every regular file below it in
    sorted relative-path order, ``relative/path`` (POSIX), a NUL byte, the file's own SHA-256 hex digest and a
    newline; renaming, adding, removing or editing any file changes it.

    :param path: an artefact file or directory.
    """
    path = Path(path)
    if path.is_file():
        return _file_digest(path)
    if not path.is_dir():
        raise FileNotFoundError(f"artefact: no such file or directory: {path}")
    files = sorted(p for p in path.rglob("*") if p.is_file())
    if not files:
        raise ValueError(f"artefact: directory {path} holds no files")
    outer = hashlib.sha256()
    for f in files:
        outer.update(f.relative_to(path).as_posix().encode("utf-8") + b"\0")
        outer.update(_file_digest(f).encode("ascii") + b"\n")
    return outer.hexdigest()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_artefact(uri: str, sha256: str | None = None) -> Path:
    """The local path of an artefact URI, checked against its recorded fingerprint.

    :param uri: ``file:///abs/path`` or a plain local path (other schemes need a fetcher that is not built yet).
    :param sha256: the fingerprint recorded in the registry; the artefact is refused when it no longer matches.
    :raises ValueError: for an unsupported scheme or a fingerprint mismatch (naming both digests).
    """
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path) if parsed.scheme == "file" else uri)
    else:
        raise ValueError(f"artefact uri {uri!r}: only file:// URIs and local paths can be opened here")
    if sha256 is not None:
        found = artefact_sha256(path)
        if found != sha256:
            raise ValueError(f"artefact {path}: sha256 {found} does not match the registered {sha256}; "
                             "it was changed after registration")
    return path
