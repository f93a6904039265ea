"""`softloc transcribe` end to end through CliRunner, with tiny random models (no network)."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import softloc_cli.cli  # noqa: F401  (registers the commands)
from softloc_cli import hub
from softloc_cli.annotations import WRITERS, read_annotations
from softloc_cli.cli import app
from softloc_cli.inference import load_model, transcribe_file

EXTENSIONS = {"mid": "mid", "csv": "csv", "json": "json", "labels": "txt"}


def run(*args, env: dict | None = None):
    """Invoke ``softloc ARGS``; stdout and stderr are captured separately by this Typer."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"SOFTLOC_DEBUG": None, **(env or {})})


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def eventful(eventful_model_dir):
    return load_model(eventful_model_dir, device="cpu")


@pytest.fixture
def song(make_wav):
    return make_wav("in/song.wav", duration_s=2.0, seed=0)


# -- output formats --------------------------------------------------------------------------


def assert_same_events(found, expected, *, labels=True, notes=True, velocities=True):
    assert len(found) == len(expected) > 0
    for got, want in zip(found, expected):
        assert abs(got.time_s - want.time_s) <= 1e-3
        if labels:
            assert got.label == want.label
        if notes:
            assert got.midi_note == want.midi_note
        if velocities:
            assert got.velocity == want.velocity


@pytest.mark.parametrize("fmt", ["csv", "json", "labels"])
def test_text_formats_round_trip(fmt, song, tmp_path, eventful_model_dir, eventful):
    result = run("transcribe", song, "-m", eventful_model_dir, "-o", tmp_path / "out", "-f", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 written, 0 skipped, 0 failed (1 file)\n"
    assert files_under(tmp_path / "out") == [f"song.{EXTENSIONS[fmt]}"]
    expected = transcribe_file(eventful, song).events
    assert {e.label for e in expected} == {"low", "high"}
    found = read_annotations(tmp_path / "out" / f"song.{EXTENSIONS[fmt]}")
    # Audacity labels keep only times and labels
    assert_same_events(found, expected, notes=fmt != "labels", velocities=fmt != "labels")


def test_json_carries_metadata(song, tmp_path, eventful_model_dir):
    assert run("transcribe", song, "-m", eventful_model_dir, "-o", tmp_path / "x.json").exit_code == 0
    data = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert data["model"] == "eventful"
    assert data["source"] == str(song)
    assert set(data["events"][0]) == {"time_s", "class", "midi_note", "velocity"}
    # layout options (drum/pitched MIDI track) are not metadata
    assert set(data) == {"format_version", "model", "source", "events"}


def test_midi_is_gm_drums_on_channel_10(song, tmp_path, eventful_model_dir, eventful):
    import mido
    import pretty_midi

    result = run("transcribe", song, "-m", eventful_model_dir, "-o", tmp_path / "hits.mid")
    assert result.exit_code == 0, result.output
    expected = transcribe_file(eventful, song).events
    midi = pretty_midi.PrettyMIDI(str(tmp_path / "hits.mid"))
    (drums,) = midi.instruments
    assert drums.is_drum
    notes = sorted(drums.notes, key=lambda n: (n.start, n.pitch))
    assert len(notes) == len(expected)
    for note, event in zip(notes, sorted(expected, key=lambda e: (e.time_s, e.midi_note))):
        assert abs(note.start - event.time_s) <= 1e-3
        assert note.pitch == event.midi_note  # low → 36 (kick), high → 42 (closed hi-hat)
        assert note.velocity == event.velocity
    assert {n.pitch for n in notes} == {36, 42}
    assert len({n.velocity for n in notes}) > 1
    channels = {m.channel for m in mido.MidiFile(tmp_path / "hits.mid") if m.type == "note_on"}
    assert channels == {9}  # channel 10 counted from 1
    # read back through the annotation reader: GM notes become drum classes
    found = read_annotations(tmp_path / "hits.mid")
    assert {e.label for e in found} == {"kick", "hihat"}
    assert_same_events(found, expected, labels=False)


def test_format_all(song, tmp_path, eventful_model_dir):
    result = run("transcribe", song, "-m", eventful_model_dir, "-o", tmp_path / "out", "-f", "all")
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path / "out") == ["song.csv", "song.json", "song.mid", "song.txt"]
    assert set(WRITERS) == set(EXTENSIONS)


def test_repeated_formats(song, tmp_path, eventful_model_dir):
    result = run("transcribe", song, "-m", eventful_model_dir, "-o", tmp_path / "out", "-f", "csv", "-f", "mid", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path / "out") == ["song.csv", "song.mid"]


def test_default_is_midi_beside_the_input(song, tiny_model_dir):
    assert run("transcribe", song, "-m", tiny_model_dir).exit_code == 0
    assert files_under(song.parent) == ["song.mid", "song.wav"]


@pytest.mark.parametrize("name, fmt", [("x.csv", "csv"), ("x.json", "json"), ("x.txt", "labels"), ("x.MID", "mid")])
def test_output_suffix_implies_format(name, fmt, song, tmp_path, tiny_model_dir):
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", tmp_path / name)
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path) == sorted([name, "in/song.wav"])


def test_output_file_with_two_inputs_is_a_usage_error(make_wav, tmp_path, tiny_model_dir):
    a, b = make_wav("a.wav", duration_s=0.5), make_wav("b.wav", duration_s=0.5)
    result = run("transcribe", a, b, "-m", tiny_model_dir, "-o", tmp_path / "hits.mid")
    assert result.exit_code == 2
    out = tmp_path / "hits.mid"
    assert error_lines(result) == [
        f"error: -o {out} names a file, but 2 inputs need a folder: add a trailing / ({out}/) or create the folder first"
    ]
    assert not out.exists()


def test_dotted_output_folder_needs_a_trailing_slash(make_wav, tmp_path, tiny_model_dir):
    """``-o out.dir`` reads as a file because of the dot; the error says how to mean a folder,
    and the trailing / or an existing folder then works."""
    a, b = make_wav("a.wav", duration_s=0.3), make_wav("b.wav", duration_s=0.3)
    out = tmp_path / "out.dir"
    result = run("transcribe", a, b, "-m", tiny_model_dir, "-o", out)
    assert result.exit_code == 2
    assert f"add a trailing / ({out}/) or create the folder first" in result.stderr
    result = run("transcribe", a, "-m", tiny_model_dir, "-o", out)  # one input: no format from ".dir"
    assert result.exit_code == 2
    assert "cannot tell the output format" in result.stderr and f"add a trailing / ({out}/)" in result.stderr
    assert not out.exists()

    result = run("transcribe", a, b, "-m", tiny_model_dir, "-o", f"{out}/", "-q")
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["a.mid", "b.mid"]
    result = run("transcribe", a, "-m", tiny_model_dir, "-o", out, "-f", "csv", "-q")  # now it exists
    assert result.exit_code == 0, result.output
    assert files_under(out) == ["a.csv", "a.mid", "b.mid"]


@pytest.mark.parametrize(
    "name, formats, message",
    [
        ("x.csv", ["mid"], "implies format 'csv' but -f asks for mid"),
        ("x.csv", ["all"], "implies format 'csv' but -f asks for mid, csv, json, labels"),
        ("x.wav", [], "cannot tell the output format from"),
    ],
)
def test_output_suffix_conflicts(name, formats, message, song, tmp_path, tiny_model_dir):
    flags = [arg for f in formats for arg in ("-f", f)]
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", tmp_path / name, *flags)
    assert result.exit_code == 2
    assert len(error_lines(result)) == 1 and message in result.stderr
    assert not (tmp_path / name).exists()


# -- errors and exit codes -----------------------------------------------------------------------


def test_bad_files_fail_alone(make_wav, tmp_path, tiny_model_dir):
    good = [make_wav("in/a.wav", duration_s=0.5), make_wav("in/z.wav", duration_s=0.5)]
    (tmp_path / "in" / "empty.wav").write_bytes(b"")
    (tmp_path / "in" / "corrupt.wav").write_bytes(good[0].read_bytes()[:40])  # truncated header
    (tmp_path / "in" / "text.wav").write_text("not audio\n" * 10)
    (tmp_path / "notes.txt").write_text("0.5,kick\n")  # an explicit non-audio input
    result = run("transcribe", tmp_path / "in", tmp_path / "notes.txt", "-m", tiny_model_dir, "-o", tmp_path / "out", "-f", "csv")
    assert result.exit_code == 1
    errors = error_lines(result)
    assert len(errors) == 4
    for name in ("empty.wav", "corrupt.wav", "text.wav", "notes.txt"):
        assert sum(name in line for line in errors) == 1
    assert "empty (0 bytes)" in result.stderr and "cannot decode audio" in result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == "2 written, 0 skipped, 4 failed (6 files)\n"
    assert files_under(tmp_path / "out") == ["a.csv", "z.csv"]


def test_truncated_wav_is_transcribed_with_a_warning(tmp_path, tiny_model_dir):
    import soundfile as sf

    sf.write(tmp_path / "full.wav", np.zeros(3 * 24000, np.float32), 24000)  # PCM_16: 44-byte header
    cut = tmp_path / "cut.wav"
    cut.write_bytes((tmp_path / "full.wav").read_bytes()[: 44 + 2 * 12000])  # half a second left
    result = run("transcribe", cut, "-m", tiny_model_dir, "-o", tmp_path / "out", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert f"warning: {cut}: file is truncated: header says 3.0 s, 0.5 s read" in result.stderr
    assert result.stdout == "1 written, 0 skipped, 0 failed (1 file)\n"
    result = run("transcribe", cut, "-m", tiny_model_dir, "-o", tmp_path / "json", "--json")
    (record,) = json.loads(result.stdout)["files"]
    assert record["warnings"] == [f"{cut}: file is truncated: header says 3.0 s, 0.5 s read; transcribing what is there"]
    assert run("transcribe", cut, "-m", tiny_model_dir, "-o", tmp_path / "q", "-q").stderr == ""


def test_missing_input_is_a_usage_error_before_any_work(song, tmp_path):
    # the model does not exist either: the input is checked first, nothing is loaded or created
    result = run("transcribe", song, tmp_path / "nope.wav", "-m", tmp_path / "no-model", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: input '{tmp_path / 'nope.wav'}' does not exist"]
    assert result.stdout == ""
    assert not (tmp_path / "out").exists()


def test_unknown_model_lists_the_available_ones(song, tiny_model_dir, tmp_path, monkeypatch):
    shutil.copytree(tiny_model_dir, tmp_path / "bundled" / "tiny")
    monkeypatch.setattr(hub, "BUNDLED_DIR", tmp_path / "bundled")
    result = run("transcribe", song, "-m", "drumz")
    assert result.exit_code == 1
    assert error_lines(result) == ["error: model 'drumz' not found; bundled models = ['tiny'], or give a directory or hf://owner/name"]
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert run("transcribe", song, "-m", "tiny", "-q").exit_code == 0  # a bundled name works


def test_threshold_out_of_range_is_a_usage_error(song, tiny_model_dir):
    result = run("transcribe", song, "-m", tiny_model_dir, "--threshold", "1.5")
    assert result.exit_code == 2
    assert error_lines(result) == ["error: --threshold: 1.5 is outside 0–1"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("cymbal=0.3", "error: --threshold: the model has no class 'cymbal' (classes: low, high)"),
        ("high=", "error: --threshold: expected CLASS=VALUE, got 'high='"),
        ("loud", "error: --threshold: 'loud' is not a number; give e.g. 0.4 or hihat=0.3"),
    ],
)
def test_bad_threshold_values_are_one_line_usage_errors(song, tiny_model_dir, value, message):
    result = run("transcribe", song, "-m", tiny_model_dir, "--threshold", value)
    assert result.exit_code == 2 and error_lines(result) == [message]


def test_per_class_threshold_changes_only_that_class(song, tmp_path, eventful_model_dir):
    def events(*threshold):
        out = tmp_path / f"{len(threshold)}-{'-'.join(threshold)}.json"
        assert run("transcribe", song, "-m", eventful_model_dir, "-o", out, "-q", *threshold).exit_code == 0
        found = json.loads(out.read_text())["events"]
        return [e["time_s"] for e in found if e["class"] == "low"], [e["time_s"] for e in found if e["class"] == "high"]

    low, high = events()
    assert low and high
    assert events("--threshold", "high=0.99") == (low, [])  # low keeps its tuned threshold
    assert events("--threshold", "0.99") == ([], [])


# -- existing outputs, atomic writes ------------------------------------------------------------


def test_existing_output_is_skipped_unless_overwrite(song, tmp_path, eventful_model_dir):
    target = tmp_path / "hits.csv"
    target.write_bytes(b"keep me\n")
    result = run("transcribe", song, "-m", eventful_model_dir, "-o", target)
    assert result.exit_code == 0
    assert target.read_bytes() == b"keep me\n"
    assert result.stdout == "0 written, 1 skipped, 0 failed (1 file)\n"
    assert f"skipped {song}: outputs exist (use --overwrite)" in result.stderr

    result = run("transcribe", song, "-m", eventful_model_dir, "-o", target, "--overwrite")
    assert result.exit_code == 0
    assert target.read_text().startswith("time_s,class,midi_note,velocity\n")
    assert files_under(tmp_path) == ["hits.csv", "in/song.wav"]


def test_only_missing_formats_are_written(song, tmp_path, tiny_model_dir):
    out = tmp_path / "out"
    out.mkdir()
    (out / "song.mid").write_bytes(b"old")
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", out, "-f", "mid", "-f", "csv")
    assert result.exit_code == 0
    assert (out / "song.mid").read_bytes() == b"old"
    assert (out / "song.csv").exists()


@pytest.mark.parametrize("failure, exit_code", [(OSError(errno.ENOSPC, "No space left on device"), 1), (KeyboardInterrupt(), 130)])
def test_failed_write_leaves_no_partial_file(failure, exit_code, make_wav, tmp_path, eventful_model_dir, monkeypatch):
    """A write that dies half-way (disk full, Ctrl-C) leaves the old file byte-identical and no
    temporary file behind."""
    song = make_wav("song.wav", duration_s=0.5)
    out = tmp_path / "out"
    out.mkdir()
    (out / "song.csv").write_bytes(b"previous run\n")
    writer = WRITERS["csv"]

    def broken_write_to(events, fh, options, metadata):
        fh.write("time_s,class,midi_no")
        raise failure

    monkeypatch.setattr(writer, "write_to", broken_write_to)
    result = run("transcribe", song, "-m", eventful_model_dir, "-o", out, "-f", "csv", "--overwrite")
    assert result.exit_code == exit_code
    assert files_under(out) == ["song.csv"]  # no hidden .song.csv.*.tmp
    assert (out / "song.csv").read_bytes() == b"previous run\n"
    if exit_code == 1:
        assert error_lines(result) == ["error: [Errno 28] No space left on device"]
        assert result.stdout == "0 written, 0 skipped, 1 failed (1 file)\n"


# -- batches ------------------------------------------------------------------------------------


@pytest.fixture
def songs(make_wav, tmp_path):
    for name in ["songs/x.wav", "songs/sub/y.flac", "songs/sub/deep/z.wav"]:
        make_wav(name, duration_s=0.3)
    return tmp_path / "songs"


def test_folder_is_mirrored_recursively(songs, tmp_path, tiny_model_dir):
    (songs / "readme.txt").write_text("not audio, not picked up from a folder")
    result = run("transcribe", songs, "-m", tiny_model_dir, "-o", tmp_path / "out", "-f", "csv")
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path / "out") == ["sub/deep/z.csv", "sub/y.csv", "x.csv"]
    assert result.stdout == "3 written, 0 skipped, 0 failed (3 files)\n"

    result = run("transcribe", songs, "-m", tiny_model_dir, "-o", tmp_path / "flat", "-f", "csv", "--no-recursive")
    assert files_under(tmp_path / "flat") == ["x.csv"]


def test_glob_input(songs, tmp_path, tiny_model_dir):
    result = run("transcribe", f"{songs}/**/*.wav", "-m", tiny_model_dir, "-o", tmp_path / "out", "-f", "json")
    assert result.exit_code == 0, result.output
    assert files_under(tmp_path / "out") == ["x.json", "z.json"]


def test_same_names_into_one_folder_is_a_usage_error(make_wav, tmp_path, tiny_model_dir):
    a, b = make_wav("a/song.wav", duration_s=0.3), make_wav("b/song.wav", duration_s=0.3)
    result = run("transcribe", a, b, "-m", tiny_model_dir, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert error_lines(result) == [f"error: {a} and {b} would both write {tmp_path / 'out' / 'song.mid'}; give them separate -o folders"]
    assert not (tmp_path / "out").exists()
    # the parent folder as input keeps them apart
    assert run("transcribe", tmp_path, "-m", tiny_model_dir, "-o", tmp_path / "out", "-q").exit_code == 0
    assert files_under(tmp_path / "out") == ["a/song.mid", "b/song.mid"]


def test_dry_run_writes_nothing(make_wav, tmp_path, tiny_model_dir):
    a = make_wav("[live]/take[1].wav", duration_s=0.3)  # rich markup characters stay verbatim
    b = make_wav("[live]/take2.wav", duration_s=0.3)
    out = tmp_path / "out"
    out.mkdir()
    (out / "take2.mid").write_bytes(b"old")
    result = run("transcribe", a, b, "-m", tmp_path / "no-model-needed", "-o", out, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"{a} -> {out / 'take[1].mid'} (write)",
        f"{b} -> {out / 'take2.mid'} (exists, skip)",
    ]
    assert files_under(out) == ["take2.mid"]


def test_json_summary(make_wav, tmp_path, tiny_model_dir):
    good = make_wav("in/a.wav", duration_s=0.3)
    done = make_wav("in/b.wav", duration_s=0.3)
    bad = tmp_path / "in" / "c.wav"
    bad.write_bytes(b"")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.mid").write_bytes(b"old")
    result = run("transcribe", tmp_path / "in", "-m", tiny_model_dir, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert (summary["model"], summary["written"], summary["skipped"], summary["failed"]) == ("tiny", 1, 1, 1)
    by_input = {Path(f["input"]).name: f for f in summary["files"]}
    assert by_input["a.wav"]["status"] == "written" and by_input["a.wav"]["events"] == 0
    assert by_input["a.wav"]["outputs"] == [str(tmp_path / "out" / "a.mid")]
    assert by_input["b.wav"]["status"] == "skipped"
    assert by_input["c.wav"]["status"] == "failed"
    assert "empty (0 bytes)" in by_input["c.wav"]["error"]
    assert {good.name, done.name} <= set(by_input)
    assert error_lines(result) == []  # the error is in the JSON, stdout stays one document


def test_quiet_prints_nothing_on_success(song, tmp_path, tiny_model_dir):
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("", "")
    assert files_under(tmp_path / "out") == ["song.mid"]


def test_verbose_names_model_and_timing(song, tmp_path, tiny_model_dir):
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", tmp_path / "out", "-v")
    assert result.exit_code == 0
    assert f"model tiny ({tiny_model_dir}) on cpu; classes low, high" in result.stderr
    assert f"{song}: 0 events, 2.0 s audio in" in result.stderr


def test_progress_bar_on_a_terminal(song, tmp_path, tiny_model_dir, monkeypatch):
    """The bar is drawn only on a terminal, so the other tests never render it."""
    app_module = sys.modules["softloc_cli.cli.app"]
    monkeypatch.setattr(app_module.stderr, "_force_terminal", True)
    result = run("transcribe", song, "-m", tiny_model_dir, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 written, 0 skipped, 0 failed (1 file)\n"


def test_silent_audio_gives_empty_outputs(make_wav, tmp_path, tiny_model_dir):
    import pretty_midi

    silent = make_wav("silent.wav", duration_s=1.0, silent=True)
    result = run("transcribe", silent, "-m", tiny_model_dir, "-o", tmp_path / "out", "-f", "all")
    assert result.exit_code == 0, result.output
    assert result.stdout == "1 written, 0 skipped, 0 failed (1 file)\n"
    out = tmp_path / "out"
    assert (out / "silent.csv").read_text() == "time_s,class,midi_note,velocity\n"
    assert json.loads((out / "silent.json").read_text())["events"] == []
    assert (out / "silent.txt").read_text() == ""
    assert sum(len(i.notes) for i in pretty_midi.PrettyMIDI(str(out / "silent.mid")).instruments) == 0
    for ext in EXTENSIONS.values():
        assert read_annotations(out / f"silent.{ext}") == []


def test_model_from_the_hub_cache(song, tmp_path, hub_cache, eventful_model_dir, eventful):
    hub_cache.add_model("owner/name", eventful_model_dir)
    result = run("transcribe", song, "-m", "hf://owner/name", "-o", tmp_path / "hits.csv")
    assert result.exit_code == 0, result.output
    assert_same_events(read_annotations(tmp_path / "hits.csv"), transcribe_file(eventful, song).events)

    result = run("transcribe", song, "-m", "hf://owner/other", "-o", tmp_path / "other.csv")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "error: model `hf://owner/other` is not in the local cache and HF_HUB_OFFLINE is set; "
        "run `softloc models pull hf://owner/other` while online"
    ]
    assert not (tmp_path / "other.csv").exists()


# -- fast start ---------------------------------------------------------------------------------


def test_version_and_help():
    result = run("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"softloc-cli {softloc_cli.__version__} (bundled models: ")
    result = run("transcribe", "--help")
    assert result.exit_code == 0
    assert "softloc transcribe song.wav -o hits.mid" in result.stdout


def test_help_and_version_do_not_import_torch():
    code = textwrap.dedent(
        """
        import sys
        from typer.testing import CliRunner
        from softloc_cli.cli import app
        heavy = ("torch", "librosa", "pretty_midi", "huggingface_hub", "scipy")
        for args in (["--help"], ["--version"], ["transcribe", "--help"]):
            assert CliRunner().invoke(app, args).exit_code == 0, args
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
