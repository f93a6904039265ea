"""The batch library: ``-o`` resolution and :func:`transcribe_batch` without the command line."""

from __future__ import annotations

import errno
import json

import pytest

from softloc_cli.annotations import WRITERS, WriteOptions
from softloc_cli.batch import FileRecord, transcribe_batch
from softloc_cli.errors import PlanError
from softloc_cli.plan import expand_inputs, plan_jobs, resolve_output
from softloc_cli.inference import load_model

EXT = {name: writer.extension for name, writer in WRITERS.items()}


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return load_model(tiny_model_dir, device="cpu")


def jobs_for(inputs, out, formats=("csv",)):
    return plan_jobs(expand_inputs([str(i) for i in inputs]), formats=list(formats), extensions=EXT, output=out,
                     single_file_output=False)


# -- resolve_output --------------------------------------------------------------------------


def test_resolve_output_folders_and_files(tmp_path):
    assert resolve_output(None, [], n_inputs=3) == (["mid"], None, False)
    assert resolve_output(tmp_path / "out", ["csv", "csv"], n_inputs=2) == (["csv"], tmp_path / "out", False)
    assert resolve_output(f"{tmp_path}/out.dir/", ["all"], n_inputs=2) == (list(WRITERS), tmp_path / "out.dir", False)
    (tmp_path / "made.dir").mkdir()
    assert resolve_output(str(tmp_path / "made.dir"), [], n_inputs=2) == (["mid"], tmp_path / "made.dir", False)
    assert resolve_output(str(tmp_path / "x.json"), [], n_inputs=1) == (["json"], tmp_path / "x.json", True)


@pytest.mark.parametrize(
    "name, n_inputs, message",
    [
        ("out.dir", 2, r"-o out\.dir names a file, but 2 inputs need a folder: add a trailing / \(out\.dir/\) or create"),
        ("out.dir", 1, r"-o out\.dir: cannot tell the output format .*; for a folder, add a trailing / \(out\.dir/\)"),
        ("x.csv", 1, None),
    ],
)
def test_resolve_output_errors_say_how_to_name_a_folder(tmp_path, monkeypatch, name, n_inputs, message):
    monkeypatch.chdir(tmp_path)
    if message is None:
        with pytest.raises(PlanError, match=r"implies format 'csv' but -f asks for mid"):
            resolve_output(name, ["mid"], n_inputs=n_inputs)
        return
    with pytest.raises(PlanError, match=message):
        resolve_output(name, [], n_inputs=n_inputs)


# -- transcribe_batch ------------------------------------------------------------------------


def test_one_bad_file_does_not_stop_the_batch(make_wav, tmp_path, tiny):
    make_wav("in/a.wav", duration_s=0.5)
    (tmp_path / "in" / "b.wav").write_text("not audio\n" * 10)
    make_wav("in/c.wav", duration_s=0.5)
    seen, progress = [], []
    records = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"), on_file=seen.append,
                               on_progress=lambda job, done: progress.append((job.source.name, done)))
    assert [(r.source.name, r.status) for r in records] == [("a.wav", "written"), ("b.wav", "failed"), ("c.wav", "written")]
    assert seen == records
    assert all(isinstance(r, FileRecord) for r in records)
    assert "cannot decode audio" in records[1].error and "\n" not in records[1].error
    assert records[0].n_events == 0 and records[0].duration_s == pytest.approx(0.5) and records[0].seconds > 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.csv", "c.csv"]
    assert progress[0] == ("a.wav", 0.0) and progress[-1] == ("c.wav", pytest.approx(0.5))
    assert records[0].to_dict() == {"input": str(tmp_path / "in" / "a.wav"), "outputs": [str(tmp_path / "out" / "a.csv")],
                                    "status": "written", "events": 0, "duration_s": 0.5}


def test_existing_outputs_are_skipped_without_reading_audio(tmp_path, tiny):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "broken.wav").write_bytes(b"")  # would fail if it were read
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "broken.csv").write_text("old\n")
    (record,) = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"))
    assert (record.status, record.reason, record.n_events) == ("skipped", "outputs exist (use --overwrite)", None)
    (record,) = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"), overwrite=True)
    assert record.status == "failed" and "empty (0 bytes)" in record.error
    assert (tmp_path / "out" / "broken.csv").read_text() == "old\n"


def test_on_result_sees_every_file_but_existing_outputs_stay(make_wav, tmp_path, tiny):
    make_wav("in/a.wav", duration_s=0.3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.csv").write_text("old\n")
    results = []
    (record,) = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"),
                                 on_result=lambda job, result: results.append((job.source.name, len(result.events))))
    assert results == [("a.wav", 0)]
    assert (record.status, record.n_events) == ("skipped", 0)
    assert (tmp_path / "out" / "a.csv").read_text() == "old\n"


def test_json_metadata_and_options(make_wav, tmp_path, pitched_model_dir):
    keys = load_model(pitched_model_dir, device="cpu")
    song = make_wav("in/song.wav", duration_s=0.5)
    transcribe_batch(keys, jobs_for([song], tmp_path / "out", formats=("json", "csv")))
    doc = json.loads((tmp_path / "out" / "song.json").read_text())
    assert set(doc) == {"format_version", "model", "source", "events"}  # no drums/pitched flags
    assert (doc["model"], doc["source"]) == ("keys", str(song))
    assert (tmp_path / "out" / "song.csv").read_text().startswith("time_s,pitch,velocity\n")  # pitched from the config
    transcribe_batch(keys, jobs_for([song], tmp_path / "out2", formats=("csv",)), options=WriteOptions())
    assert (tmp_path / "out2" / "song.csv").read_text().startswith("time_s,class,midi_note,velocity\n")


def test_failed_write_is_a_failed_file_and_leaves_the_old_output(make_wav, tmp_path, tiny, monkeypatch):
    make_wav("in/a.wav", duration_s=0.3)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.csv").write_text("previous\n")

    def full_disk(events, fh, options, metadata):
        fh.write("time_s,")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(WRITERS["csv"], "write_to", full_disk)
    (record,) = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"), overwrite=True)
    assert (record.status, record.error) == ("failed", "[Errno 28] No space left on device")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.csv"]
    assert (tmp_path / "out" / "a.csv").read_text() == "previous\n"


def test_truncated_file_warning_is_recorded_per_file(tmp_path, tiny):
    import numpy as np
    import soundfile as sf

    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "full.wav", np.zeros(48000, np.float32), 24000)  # 2 s, 44-byte header
    for name in ("a.wav", "b.wav"):
        (tmp_path / "in" / name).write_bytes((tmp_path / "full.wav").read_bytes()[: 44 + 2 * 6000])
    records = transcribe_batch(tiny, jobs_for([tmp_path / "in"], tmp_path / "out"))
    assert [r.status for r in records] == ["written", "written"]
    for record in records:
        assert record.warnings == [
            f"{record.source}: file is truncated: header says 2.0 s, 0.25 s read; transcribing what is there"
        ]
    assert records[0].to_dict()["warnings"] == records[0].warnings
