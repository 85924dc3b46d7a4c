"""Writing a file whole or not at all: every file this project writes goes through ``atomic_file``."""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Iterator

TEMPORARY_MARK = ".tmp-"
"""Temporary files are ``.<name>.tmp-<random>`` beside their target (see ``temporaries_of``)."""


@contextlib.contextmanager
def atomic_file(target: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A new temporary file beside ``target``, opened for writing. When the ``with`` block ends without
    an error it is flushed to disk and renamed onto ``target`` (a reader sees the old file or the whole
    new one, never a part); on any error, KeyboardInterrupt included, it is removed. Each write gets a
    name of its own, so concurrent writers never share a temporary file."""
    target = Path(target)
    while True:
        temporary = target.with_name(f".{target.name}{TEMPORARY_MARK}{secrets.token_hex(4)}")
        try:
            # 0o666 and the umask, like an ordinary new file (mkstemp would force 0o600).
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _sync_folder(target.parent)


def temporaries_of(target: str | os.PathLike[str]) -> list[Path]:
    """Temporary files a killed writer left beside ``target``."""
    target = Path(target)
    prefix = f".{target.name}{TEMPORARY_MARK}"
    try:
        return [path for path in target.parent.iterdir() if path.name.startswith(prefix)]
    except OSError:
        return []


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not every platform can open a folder)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
