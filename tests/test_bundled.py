"""Golden tests of the bundled models on the bundled example (refresh: scripts/make_golden.py)."""

from pathlib import Path

import numpy as np
import pytest

from softloc_cli.annotations import read_annotations
from softloc_cli.hub import bundled_models
from softloc_cli.metrics import score_events
from softloc_cli.inference import load_model, transcribe_file

EXAMPLES = Path(__file__).resolve().parents[1] / "softloc_cli" / "examples"
GOLDEN = Path(__file__).parent / "data" / "golden"


def test_drums_is_bundled_and_default():
    from softloc_cli.hub import DEFAULT_MODEL

    assert DEFAULT_MODEL == "drums"
    assert "drums" in bundled_models()


@pytest.mark.parametrize("name", bundled_models())
def test_bundled_model_matches_its_golden_reference(name):
    golden = np.load(GOLDEN / f"{name}_example.npz")
    result = transcribe_file(load_model(name, device="cpu"), EXAMPLES / "example.flac")
    np.testing.assert_allclose(result.activations, golden["activations"], atol=1e-4)
    assert [e.label for e in result.events] == golden["labels"].tolist()
    np.testing.assert_allclose([e.time_s for e in result.events], golden["times_s"], atol=1e-4)


def test_drums_finds_the_example_hits():
    reference = read_annotations(EXAMPLES / "example.csv")
    result = transcribe_file(load_model("drums", device="cpu"), EXAMPLES / "example.flac")
    scores = score_events(reference, result.events, window_s=0.05, classes=["kick", "snare", "hihat"])
    assert scores.overall.f1 >= 0.85


def test_piano_finds_the_piano_example_notes():
    from softloc_cli.classmap import pitched_class_map
    from softloc_cli.note_scores import score_notes

    model = load_model("piano", device="cpu")
    reference = read_annotations(EXAMPLES / "piano.csv", class_map=pitched_class_map(model.config.labels))
    result = transcribe_file(model, EXAMPLES / "piano.flac")
    assert len(reference) == 71
    assert score_notes(reference, result.events, onset_tolerance=0.05).f1 >= 0.8
