"""Planning a batch: which audio files to read and which output files they produce.

Every output path is worked out before any file is processed, so collisions (two inputs that
would write the same file) and existing outputs are found up front. Inputs may be files,
folders (searched for audio extensions) or quoted glob patterns. Planning needs no model (and
no torch), so ``softloc transcribe --dry-run`` and usage errors answer at once.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .annotations import WRITERS, format_for_path
from .errors import PlanError, SoftlocError
from .fileio import AUDIO_EXTENSIONS, find_audio_files

__all__ = ["Job", "expand_inputs", "plan_jobs", "resolve_output"]


@dataclass
class Job:
    """One input file and the output files it will produce (one per format)."""

    source: Path
    outputs: dict[str, Path] = field(default_factory=dict)  # format → path

    def pending(self, overwrite: bool) -> dict[str, Path]:
        """Outputs still to write: all with ``overwrite``, else only those that do not exist."""
        return dict(self.outputs) if overwrite else {f: p for f, p in self.outputs.items() if not p.exists()}


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def expand_inputs(inputs: list[str], *, recursive: bool = True) -> list[tuple[Path, Path]]:
    """Audio files named by ``inputs`` as ``(file, root)`` pairs; ``root`` keeps folder structure.

    Raises
    ------
    PlanError
        An input that does not exist, a glob that matches nothing, or no audio at all.
    """
    found: list[tuple[Path, Path]] = []
    for text in inputs:
        path = Path(text).expanduser()
        if path.is_dir():
            found += [(f, path) for f in find_audio_files(path, recursive=recursive)]
        elif path.is_file():
            found.append((path, path.parent))
        elif _is_glob(text):
            matches = sorted(Path(m) for m in glob.glob(str(path), recursive=True) if Path(m).is_file())
            if not matches:
                raise PlanError(f"pattern {text!r} matches no file")
            found += [(m, m.parent) for m in matches]
        else:
            raise PlanError(f"input {text!r} does not exist")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise PlanError(
            f"no audio files found in {', '.join(inputs)} (looked for {', '.join(sorted(AUDIO_EXTENSIONS))})"
        )
    return unique


def resolve_output(
    output: str | os.PathLike[str] | None, formats: Sequence[str], *, n_inputs: int
) -> tuple[list[str], Path | None, bool]:
    """Formats to write, the ``-o`` path, and whether that path is one file.

    ``output`` is a folder when it ends in ``/``, is an existing folder, or has no suffix;
    otherwise it is one file, which needs exactly one input and implies the format from its
    suffix. Formats default to ``["mid"]``; ``"all"`` means every writer.

    Raises
    ------
    PlanError
        A file name for several inputs, a suffix with no format, or a suffix that disagrees
        with ``formats``; the message says how to name a folder instead.

    Examples
    --------
    >>> resolve_output("out.dir/", ["csv"], n_inputs=2)
    (['csv'], PosixPath('out.dir'), False)
    """
    names = list(WRITERS) if "all" in formats else list(dict.fromkeys(formats))
    if output is None:
        return names or ["mid"], None, False
    text = os.fspath(output)
    path = Path(text).expanduser()
    if text.endswith(("/", os.sep)) or path.is_dir() or path.suffix == "":
        return names or ["mid"], path, False
    as_folder = f"add a trailing / ({text.rstrip('/' + os.sep)}/) or create the folder first"
    if n_inputs != 1:
        raise PlanError(f"-o {text} names a file, but {n_inputs} inputs need a folder: {as_folder}")
    try:
        implied = format_for_path(path)
    except SoftlocError as exc:
        raise PlanError(f"-o {text}: {exc}; for a folder, {as_folder}") from None
    if names and names != [implied]:
        raise PlanError(f"-o {text} implies format {implied!r} but -f asks for {', '.join(names)}")
    return [implied], path, True


def plan_jobs(
    sources: list[tuple[Path, Path]],
    *,
    formats: list[str],
    extensions: dict[str, str],
    output: Path | None,
    single_file_output: bool,
) -> list[Job]:
    """Assign output paths.

    ``output`` is a file when ``single_file_output`` (exactly one input and one format), a
    directory that mirrors each input's path below its root otherwise, and beside each input
    when None. ``extensions`` maps each format to its file extension, with or without the
    leading dot (``"mid"`` or ``".mid"``). Raises PlanError when two inputs would write the
    same file.
    """
    if single_file_output:
        (source, _), = sources
        return [Job(source, {formats[0]: output})]
    jobs, owners = [], {}
    for source, root in sources:
        if output is None:
            base = source.with_suffix("")
        else:
            base = output / source.relative_to(root).with_suffix("")
        job = Job(source, {fmt: base.parent / f"{base.name}.{extensions[fmt].lstrip('.')}" for fmt in formats})
        for path in job.outputs.values():
            key = path.resolve()
            if key in owners:
                raise PlanError(f"{owners[key]} and {source} would both write {path}; give them separate -o folders")
            owners[key] = source
        jobs.append(job)
    return jobs
