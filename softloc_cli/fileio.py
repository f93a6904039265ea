"""File-system helpers shared by every module that writes or finds files.

Conventions: an output file is either written completely or not at all. :func:`atomic_write`
writes to a hidden temporary file in the target directory and renames it over the target only
after the data is flushed to disk, so a crash, an exception or Ctrl-C never leaves a half-written
file and never touches an existing one. Extensions are lower-case with a leading dot, as
``Path.suffix.lower()`` gives them. Folder scans (:func:`find_files`, :func:`find_audio_files`)
skip hidden files and everything inside hidden folders (``.git/``, ``.cache/``, the
``.name.tmp`` files of an unfinished :func:`atomic_write`) and return paths in sorted order.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Literal

__all__ = ["AUDIO_EXTENSIONS", "ANNOTATION_EXTENSIONS", "atomic_write", "find_audio_files", "find_files",
           "index_annotations"]

#: Audio files ``softloc`` looks for in folders (decoded by ``audio.load``).
AUDIO_EXTENSIONS: frozenset[str] = frozenset(
    {".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aiff", ".aif", ".opus"}
)

#: Annotation files :func:`softloc_cli.annotations.read_annotations` can read.
ANNOTATION_EXTENSIONS: frozenset[str] = frozenset(
    {".csv", ".tsv", ".txt", ".lab", ".json", ".mid", ".midi"}
)


def find_files(folder: str | os.PathLike[str], extensions: Iterable[str], *, recursive: bool = True) -> list[Path]:
    """Files in ``folder`` whose extension is one of ``extensions``, sorted.

    Parameters
    ----------
    folder : str or os.PathLike
        Folder to search (it may itself be hidden).
    extensions : iterable of str
        Lower-case extensions with the dot (``".wav"``); matched case-insensitively.
    recursive : bool
        Also search sub-folders (default True). Hidden files and hidden sub-folders (names
        starting with ``.``) are always skipped; symbolic links to folders are not followed.

    Returns
    -------
    files : list of Path
        ``folder / relative path`` of each file, in sorted order; empty when nothing matches.

    Examples
    --------
    >>> find_files("refs/", ANNOTATION_EXTENSIONS)
    [PosixPath('refs/a.csv'), PosixPath('refs/set1/b.mid')]
    """
    folder = Path(folder)
    wanted = {ext.lower() for ext in extensions}
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")] if recursive else []
        found += [Path(root) / name for name in files
                  if not name.startswith(".") and os.path.splitext(name)[1].lower() in wanted]
    return sorted(p for p in found if p.is_file())


def find_audio_files(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Audio files (:data:`AUDIO_EXTENSIONS`) in ``folder``, sorted; see :func:`find_files`.

    Examples
    --------
    >>> find_audio_files("my-data/")
    [PosixPath('my-data/take1.wav'), PosixPath('my-data/take2.flac')]
    """
    return find_files(folder, AUDIO_EXTENSIONS, recursive=recursive)


def index_annotations(folder: str | os.PathLike[str], *, recursive: bool = True) -> tuple[dict[str, Path], list[Path]]:
    """Annotation files of ``folder`` by *stem*: the path below ``folder`` without its extension.

    Of several files of one stem (``song.csv`` and ``song.mid``) the first extension in
    alphabetical order is used and the others are returned as ignored.

    Returns
    -------
    by_stem : dict of str to Path
        ``"set1/song"`` → ``folder/set1/song.csv``, in sorted order.
    ignored : list of Path
        Same-stem files not used.

    Examples
    --------
    >>> index_annotations("refs/")
    ({'a': PosixPath('refs/a.csv'), 'set1/b': PosixPath('refs/set1/b.mid')}, [])
    """
    folder = Path(folder)
    groups: dict[str, list[Path]] = {}
    for path in find_files(folder, ANNOTATION_EXTENSIONS, recursive=recursive):
        groups.setdefault(path.relative_to(folder).with_suffix("").as_posix(), []).append(path)
    by_stem, ignored = {}, []
    for key, paths in groups.items():
        paths.sort(key=lambda p: p.suffix.lower())
        by_stem[key] = paths[0]
        ignored += paths[1:]
    return by_stem, ignored


def _default_file_mode() -> int:
    """Permissions a plain ``open(path, "w")`` would give a new file (0o666 minus the umask)."""
    try:  # Linux: read the umask without changing it (os.umask is process-wide, not thread-safe)
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: Literal["w", "wb"] = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
) -> Iterator[IO]:
    """Open a file for writing that appears at ``path`` only if the block succeeds.

    The data goes to a temporary file next to ``path`` (same directory, so the final
    ``os.replace`` is an atomic rename on the same file system). On a clean exit the file is
    flushed, fsync'ed and renamed over ``path``; on any exception, ``KeyboardInterrupt``
    included, the temporary file is removed and an existing ``path`` stays byte-identical.

    Parameters
    ----------
    path : str or os.PathLike
        Final file path. Its directory must exist.
    mode : {"w", "wb"}
        Text or binary mode.
    encoding : str
        Text encoding (text mode only; default UTF-8).
    newline : str or None
        Passed to :func:`open` in text mode (``""`` for the :mod:`csv` module).

    Yields
    ------
    fh : file object
        Open handle on the temporary file.

    Raises
    ------
    ValueError
        If ``mode`` is not ``"w"`` or ``"wb"``.
    OSError
        If the directory does not exist or is not writable.

    Examples
    --------
    >>> with atomic_write("hits.csv", newline="") as fh:
    ...     fh.write("time_s,class\\n")
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode={mode!r} must be 'w' or 'wb'")
    target = Path(path)
    fd, tmp_name = tempfile.mkstemp(
        dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.", suffix=".tmp"
    )
    try:
        if mode == "wb":
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
        with fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0o600 files; give the result the permissions a normal write would.
        try:
            mode_bits = target.stat().st_mode & 0o777
        except FileNotFoundError:
            mode_bits = _default_file_mode()
        os.chmod(tmp_name, mode_bits)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where directories cannot be opened."""
    try:
        dir_fd = os.open(directory if str(directory) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
