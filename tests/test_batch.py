"""Batch planning: inputs → audio files → output paths, before any audio is read."""

from pathlib import Path

import pytest

from softloc_cli.errors import PlanError
from softloc_cli.plan import Job, expand_inputs, plan_jobs

EXT = {"mid": "mid", "csv": ".csv"}  # as WRITERS gives them (no dot), or with a dot


@pytest.fixture
def tree(tmp_path):
    for name in ["songs/a.wav", "songs/b.FLAC", "songs/sub/c.mp3", "songs/notes.txt", "songs/sub/deeper/d.ogg"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    return tmp_path


def names(found):
    return [str(f.relative_to(root)) for f, root in found]


def test_folder_recursive_keeps_structure(tree):
    found = expand_inputs([str(tree / "songs")])
    assert names(found) == ["a.wav", "b.FLAC", "sub/c.mp3", "sub/deeper/d.ogg"]
    assert {root for _, root in found} == {tree / "songs"}


def test_folder_not_recursive(tree):
    assert names(expand_inputs([str(tree / "songs")], recursive=False)) == ["a.wav", "b.FLAC"]


def test_glob_and_explicit_files(tree):
    found = expand_inputs([str(tree / "songs" / "**" / "*.mp3"), str(tree / "songs" / "notes.txt")])
    assert [f.name for f, _ in found] == ["c.mp3", "notes.txt"]  # an explicit file is taken as given
    assert [root for _, root in found] == [tree / "songs" / "sub", tree / "songs"]


def test_duplicates_are_dropped(tree):
    a = str(tree / "songs" / "a.wav")
    assert len(expand_inputs([a, a])) == 1


@pytest.mark.parametrize(
    "inputs, message",
    [
        (["missing.wav"], r"input 'missing.wav' does not exist"),
        (["songs/*.aiff"], r"pattern '.*\*\.aiff' matches no file"),
        (["songs/sub/deeper/empty"], "no audio files found in"),
    ],
)
def test_bad_inputs(tree, inputs, message):
    (tree / "songs/sub/deeper/empty").mkdir()
    inputs = [i if i == "missing.wav" else str(tree / i) for i in inputs]
    with pytest.raises(PlanError, match=message):
        expand_inputs(inputs)


def test_plan_mirrors_folders_into_output(tree):
    jobs = plan_jobs(expand_inputs([str(tree / "songs")]), formats=["mid", "csv"], extensions=EXT,
                     output=tree / "out", single_file_output=False)
    assert [sorted(str(p.relative_to(tree / "out")) for p in j.outputs.values()) for j in jobs] == [
        ["a.csv", "a.mid"],
        ["b.csv", "b.mid"],
        ["sub/c.csv", "sub/c.mid"],
        ["sub/deeper/d.csv", "sub/deeper/d.mid"],
    ]


def test_plan_beside_inputs_and_single_file(tree):
    sources = expand_inputs([str(tree / "songs" / "a.wav")])
    (job,) = plan_jobs(sources, formats=["mid"], extensions=EXT, output=None, single_file_output=False)
    assert job.outputs == {"mid": tree / "songs" / "a.mid"}
    (job,) = plan_jobs(sources, formats=["csv"], extensions=EXT, output=tree / "x.csv", single_file_output=True)
    assert job.outputs == {"csv": tree / "x.csv"}


def test_collision_is_found_before_any_work(tree):
    (tree / "other").mkdir()
    (tree / "other" / "a.mp3").write_bytes(b"x")
    sources = expand_inputs([str(tree / "songs" / "a.wav"), str(tree / "other" / "a.mp3")])
    with pytest.raises(PlanError, match=r"a\.wav and .*a\.mp3 would both write .*a\.mid; give them separate -o folders"):
        plan_jobs(sources, formats=["mid"], extensions=EXT, output=tree / "out", single_file_output=False)


def test_pending_skips_existing_outputs(tmp_path):
    job = Job(Path("a.wav"), {"mid": tmp_path / "a.mid", "csv": tmp_path / "a.csv"})
    (tmp_path / "a.mid").write_bytes(b"old")
    assert job.pending(overwrite=False) == {"csv": tmp_path / "a.csv"}
    assert job.pending(overwrite=True) == job.outputs
