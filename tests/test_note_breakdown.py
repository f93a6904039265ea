"""scripts/note_breakdown.py: recall per MIDI note and detections per class add up."""

from __future__ import annotations

from collections import Counter

from conftest import load_script

from softloc_cli.annotations import read_annotations
from softloc_cli.data import find_entries
from softloc_cli.inference import load_model, transcribe_file
from softloc_cli.synthetic import write_dataset

notes = load_script("note_breakdown")


def test_counts_match_the_annotations_and_the_transcription(tmp_path, eventful_model_dir):
    write_dataset(tmp_path / "set", n_files=2, duration_s=3.0, seed=3, timbres=("low", "mid", "high"))
    model = load_model(str(eventful_model_dir), device="cpu")
    result = notes.breakdown(model, tmp_path / "set", 0.05)
    annotated, detected = Counter(), Counter()
    for entry in find_entries(tmp_path / "set"):
        annotated.update((e.label, e.midi_note) for e in read_annotations(entry.annotation))
        detected.update(e.label for e in transcribe_file(model, entry.audio).events)
    assert result["detections"] == {label: detected[label] for label in model.config.labels}
    assert result["others"] == {"mid": annotated["mid", 38]}  # the model has no class "mid"
    for (label, note), n in annotated.items():
        if label in model.config.labels:
            found, total = map(int, result["recall"][f"{label} {note}"].split("/"))
            assert total == n and 0 <= found <= n
