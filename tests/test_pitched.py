"""Multi-pitch (piano-type) models: pitch-range classes, pitched class maps, the
``time_s,pitch,velocity`` CSV, MIDI notes, note-level scoring and a tiny pitched training run."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from softloc_cli.annotations import WriteOptions, read_annotations, write_events
from softloc_cli.classmap import expand_pitch_ranges, pitched_class_map
from softloc_cli.cli import app
from softloc_cli.errors import ConfigError
from softloc_cli.events import Event
from softloc_cli.metrics import score_events
from softloc_cli.note_scores import pool_notes, score_notes

from conftest import SAMPLE_RATE, hits_audio, write_wav


def run(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"SOFTLOC_DEBUG": None})


def test_pitch_ranges_expand_to_88_keys():
    keys = expand_pitch_ranges(["A0..C8"])
    assert len(keys) == 88 and keys[0] == "A0" and keys[-1] == "C8" and keys[3] == "C1"
    assert expand_pitch_ranges(["kick", "C4..D4"]) == ["kick", "C4", "C#4", "D4"]
    for bad in ("C4..A3", "C4..X9"):
        with pytest.raises(ConfigError):
            expand_pitch_ranges([bad])


def test_pitched_class_map_only_for_pitch_names():
    cm = pitched_class_map(["C4", "E4"])
    assert not cm.drums and cm.class_of(64) == "E4" and cm.class_of(62) is None
    assert pitched_class_map(["onset"]) is None


def test_score_notes_matches_pitch_and_onset():
    ref = [Event(1.0, "C4", 60), Event(2.0, "E4", 64)]
    est = [Event(1.04, "C4", 60), Event(2.0, "D4", 62), Event(3.0, "E4", 64)]
    s = score_notes(ref, est, onset_tolerance=0.05)
    assert (s.n_ref, s.n_est, s.tp) == (2, 3, 1)
    assert s.precision == pytest.approx(1 / 3) and s.recall == pytest.approx(0.5)
    assert score_notes(ref, [Event(1.06, "C4", 60)], onset_tolerance=0.05).tp == 0
    assert score_notes([], est).f1 == 0.0
    with pytest.raises(Exception, match="no MIDI pitch"):
        score_notes([Event(1.0, "onset")], est)


def test_note_scores_agree_with_per_pitch_onset_scores():
    # exact MIDI pitches: mir_eval.transcription's pitch-aware matching = per-pitch onset matching
    rng = np.random.default_rng(3)
    for _ in range(5):
        ref = [Event(float(t), "x", int(p)) for t, p in zip(rng.uniform(0, 10, 60), rng.integers(58, 64, 60))]
        est = [Event(e.time_s + float(rng.normal(0, 0.04)), "x", e.midi_note) for e in ref if rng.random() < 0.8]
        est += [Event(float(rng.uniform(0, 10)), "x", int(rng.integers(58, 64))) for _ in range(10)]
        by_pitch = score_events([Event(e.time_s, str(e.midi_note)) for e in ref],
                                [Event(e.time_s, str(e.midi_note)) for e in est], window_s=0.05)
        notes = score_notes(ref, est, onset_tolerance=0.05)
        assert notes.tp == by_pitch.overall.tp and notes.n_est == len(est)
    pooled = pool_notes([score_notes(ref, est), score_notes(ref[:5], est[:5])])
    assert pooled.n_files == 2 and pooled.n_ref == len(ref) + 5


def test_pitched_csv_round_trips(tmp_path):
    events = [Event(0.5, "C4", 60, 80), Event(0.75, "C2", 36, 64)]
    path = write_events(events, tmp_path / "notes.csv", options=WriteOptions(drums=False, pitched=True))
    assert path.read_text().splitlines() == ["time_s,pitch,velocity", "0.5000,60,80", "0.7500,36,64"]
    assert read_annotations(path) == events  # 36 under "pitch" is C2, not a kick


def test_pitched_midi_notes_last_until_the_next_same_pitch_or_half_a_second(tmp_path):
    import pretty_midi

    events = [Event(0.0, "C4", 60, 90), Event(0.2, "C4", 60, 70), Event(0.1, "E4", 64, 50)]
    path = write_events(events, tmp_path / "notes.mid", options=WriteOptions(drums=False))
    instrument = pretty_midi.PrettyMIDI(str(path)).instruments[0]
    assert not instrument.is_drum
    notes = sorted((n.pitch, round(n.start, 3), round(n.end, 3), n.velocity) for n in instrument.notes)
    assert notes == [(60, 0.0, 0.2, 90), (60, 0.2, 0.7, 70), (64, 0.1, 0.6, 50)]


def test_transcribe_with_a_pitched_model_writes_notes(tmp_path, pitched_model_dir):
    import pretty_midi

    wav = write_wav(tmp_path / "take.wav", hits_audio(3.0, seed=1))
    result = run("transcribe", wav, "--model", pitched_model_dir, "-o", tmp_path / "take.csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader((tmp_path / "take.csv").open()))
    assert rows[0] == ["time_s", "pitch", "velocity"] and len(rows) > 1
    assert {r[1] for r in rows[1:]} <= {"60", "64"}
    assert run("transcribe", wav, "--model", pitched_model_dir, "-o", tmp_path / "take.mid").exit_code == 0
    instrument = pretty_midi.PrettyMIDI(str(tmp_path / "take.mid")).instruments[0]
    assert not instrument.is_drum and {n.pitch for n in instrument.notes} <= {60, 64}
    assert len(instrument.notes) == len(rows) - 1


def test_evaluate_a_pitched_model_scores_notes(tmp_path, pitched_model_dir):
    data = tmp_path / "data"
    data.mkdir()
    write_wav(data / "take.wav", hits_audio(3.0, seed=1))
    # reference rows labelled "onset" are read by their MIDI note; 62 is not a key of the model
    (data / "take.csv").write_text("time_s,class,midi_note,velocity\n0.50,onset,60,90\n1.00,onset,64,90\n"
                                   "1.50,onset,62,90\n")
    result = run("evaluate", "--model", pitched_model_dir, data, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["notes"]["n_ref"] == 2  # D4 left out: the model has no such key
    assert report["notes"]["tp"] == report["overall"]["tp"]
    assert report["notes"]["n_est"] == report["overall"]["n_est"] > 0
    table = run("evaluate", "--model", pitched_model_dir, data)
    assert "notes (pitch + onset)" in table.stdout
    off = json.loads(run("evaluate", "--model", pitched_model_dir, data, "--json", "--no-notes").stdout)
    assert off["notes"] is None


def test_evaluate_annotations_note_by_note(tmp_path):
    (tmp_path / "ref.csv").write_text("time_s,pitch\n1.0,60\n2.0,64\n")
    (tmp_path / "est.csv").write_text("time_s,pitch\n1.01,60\n2.0,65\n")
    report = json.loads(run("evaluate", tmp_path / "ref.csv", tmp_path / "est.csv", "--notes", "--json").stdout)
    assert (report["notes"]["tp"], report["notes"]["n_ref"], report["notes"]["n_est"]) == (1, 2, 2)
    (tmp_path / "bare.csv").write_text("1.0,onset\n")
    bad = run("evaluate", tmp_path / "ref.csv", tmp_path / "bare.csv", "--notes")
    assert bad.exit_code == 1 and "no MIDI pitch" in bad.stderr


def tone(freq: float, duration_s: float = 0.4) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) * np.exp(-6 * t)).astype(np.float32)


def test_train_a_pitched_model_from_a_pitch_range(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    for clip in range(3):
        audio = np.zeros(3 * SAMPLE_RATE, np.float32)
        rows = ["time_s,class,midi_note,velocity"]
        for start in np.arange(0.2, 2.5, 0.35):
            pitch = int(rng.choice([60, 64]))
            note = tone(440 * 2 ** ((pitch - 69) / 12))
            i = int(start * SAMPLE_RATE)
            audio[i:i + len(note)] += note
            rows.append(f"{start:.4f},onset,{pitch},90")
        write_wav(data / f"clip{clip}.wav", audio)
        (data / f"clip{clip}.csv").write_text("\n".join(rows) + "\n")
    recipe = tmp_path / "keys.toml"
    recipe.write_text('crop_s = 1.0\nwarmup_steps = 2\nval_every = 4\n'
                      'threads = 1\n[model]\nconv_channels = [4, 4]\nrnn_hidden = 8\n')
    # pitch-name classes make a pitched model without saying drums = false
    result = run("train", data, "--recipe", recipe, "--classes", "C4..E4", "--steps", "4", "-o", tmp_path / "keys",
                 "--json")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "keys" / "config.json").read_text())
    assert [c["name"] for c in config["classes"]] == ["C4", "C#4", "D4", "D#4", "E4"]
    assert [c["midi_note"] for c in config["classes"]] == [60, 61, 62, 63, 64]
    assert config["drums"] is False
    events = config["training"]["train_data"]["events"]  # "onset" rows counted by their MIDI note
    assert events["C4"] > 0 and events["E4"] > 0 and events["D4"] == 0


def test_models_info_and_list_summarise_88_keys(tmp_path):
    from softloc_cli.classmap import describe_classes

    keys = expand_pitch_ranges(["A0..C8"])
    assert describe_classes(keys) == "88 pitches A0–C8"
    assert describe_classes(["kick", "snare"]) == "kick, snare"
    assert describe_classes([f"c{i}" for i in range(14)]).endswith("and 2 more")


def test_models_info_of_a_pitched_model(pitched_model_dir):
    result = run("models", "info", pitched_model_dir)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    assert rows["C4"][1] == "60" and rows["E4"][1] == "64" and "2 pitches (one class per key)" in result.stdout
