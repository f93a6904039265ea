"""scripts/render_drums.py and scripts/muldjord.py: the recorded-sound pieces (microphone mix, kit
mixing, beat following, strums) on synthetic data; nothing here reads ../shared or Debian kits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import load_script

rd = load_script("render_drums")
mj = load_script("muldjord")

SR = 24000


# --------------------------------------------------------------------------- microphone mix

def test_mix_mics_applies_gain_delay_polarity_and_calibration():
    tracks = {"Snare_top": np.r_[1.0, np.zeros(9)].astype(np.float32),
              "OHL": np.r_[0.5, np.zeros(9)].astype(np.float32),
              "AmbL": np.r_[1.0, np.zeros(9)].astype(np.float32),
              "Tom1": np.ones(10, np.float32)}  # muted: not in the mix
    mix = {"Snare_top": [0.0, 1.0, -1.0],    # 1 ms = 24 samples, flipped
           "OHL": [-6.0206, 0.0, 1.0],       # half
           "AmbL": [0.0, 10.0, 1.0],         # 240 samples later
           "Hihat": [0.0, 0.0, 1.0]}         # in the mix but no track: ignored
    out = mj.mix_mics(tracks, mix, SR, calib={"AmbL": 2.0})
    assert len(out) == 240 + 10
    assert out[0] == pytest.approx(0.25, abs=1e-4)
    assert out[24] == pytest.approx(-1.0)
    assert out[240] == pytest.approx(2.0)
    assert np.count_nonzero(out) == 3


def test_mix_mics_accepts_int16_tracks_and_empty_mix():
    tracks = {"KdrumL": np.array([16384, 0, -16384], np.int16)}
    out = mj.mix_mics(tracks, {"KdrumL": [0.0, 0.0, 1.0]}, SR, calib={"KdrumL": 1 / 32768})
    np.testing.assert_allclose(out, [0.5, 0.0, -0.5])
    assert not np.any(mj.mix_mics(tracks, {}, SR))


def test_draw_mic_mix_ranges():
    rng = np.random.default_rng(0)
    mixes = [mj.draw_mic_mix(rng) for _ in range(400)]
    for mix in mixes:
        assert set(mix) <= set(mj.MICS)
        assert set(mj.OVERHEAD_MICS) <= set(mix)  # the overheads are always on
        for mic, (gain_db, delay_ms, sign) in mix.items():
            assert sign in (1.0, -1.0) and -40 < gain_db < 15
            if mic in mj.CLOSE_MICS:
                assert 0.0 <= delay_ms <= 3.0
            elif mic in mj.AMBIENCE_MICS:
                assert 4.0 <= delay_ms <= 26.0
            else:
                assert 0.0 <= delay_ms <= 1.0
    amb = np.mean([set(mj.AMBIENCE_MICS) <= set(m) for m in mixes])
    toms = np.mean(["Tom1" in m for m in mixes])
    snare = np.mean(["Snare_top" in m for m in mixes])
    flipped = np.mean([m["Snare_bottom"][2] < 0 for m in mixes if "Snare_bottom" in m])
    assert 0.65 < amb < 0.85 and 0.6 < toms < 0.8 and snare > 0.93 and 0.55 < flipped < 0.85
    assert mj.draw_mic_mix(np.random.default_rng(3)) == mj.draw_mic_mix(np.random.default_rng(3))


# --------------------------------------------------------------------------- a synthetic MuldjordKit

def _write_kit(root: Path) -> None:
    """A miniature kit in the MuldjordKit layout: two velocity layers per instrument, one hit each;
    every mic hears every hit as one impulse, the close mics first, the ambience 8 ms late."""
    import soundfile as sf

    (root / "Data" / "region").mkdir(parents=True)
    (root / "Data" / "macro.txt").write_text("#define $v21l 1        #define $v21h 63\n"
                                             "#define $v22l 64      #define $v22h 127\n")
    arrival = {m: 48 for m in mj.CLOSE_MICS} | {m: 96 for m in mj.OVERHEAD_MICS} | {m: 240 for m in mj.AMBIENCE_MICS}
    for inst in mj.INSTRUMENT_ROLES:
        lines = [f"#define $instr {inst}", "key=$key_x", ""]
        for hit, layer in ((1, "$v21"), (2, "$v22")):
            lines.append(f"<region> lovel={layer}l hivel={layer}h amp_velcurve_{layer}h=1 region_label={hit} "
                         f"sample=$instr/{hit}-$instr-$mic.$ext seq_length=1 seq_position=1")
            (root / "Samples" / inst).mkdir(parents=True, exist_ok=True)
            for mic in mj.MICS:
                x = np.zeros(2400, np.float32)
                x[arrival[mic]] = 0.5 * hit
                sf.write(root / "Samples" / inst / f"{hit}-{inst}-{mic}.flac", x, SR, subtype="PCM_16")
        (root / "Data" / "region" / f"{inst}.txt").write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def mini_kit(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("muldjord")
    _write_kit(root)
    return root


def test_parse_regions_reads_macros_and_hits(mini_kit):
    regions = mj.parse_regions(mini_kit)
    assert set(regions) == set(mj.INSTRUMENT_ROLES)
    assert regions["Snare"] == [mj.Region("Snare", 1, 1, 63), mj.Region("Snare", 2, 64, 127)]
    assert mj.reference_region(regions["Snare"]).hit == 2


def test_muldjord_kit_roles_layers_and_sample_files(mini_kit):
    kit = rd.MuldjordKit(SR, root=mini_kit)
    assert {r for r in kit.roles} == set(mj.INSTRUMENT_ROLES.values())
    assert [i.name for i in kit.roles["kick"]] == ["KdrumL", "KdrumR"]
    snare = kit.roles["snare"][0]
    low, high = snare.layers
    assert (low.vmin, low.vmax, high.vmin, high.vmax) == (1 / 127, 63 / 127, 64 / 127, 1.0)
    assert low.gain == pytest.approx(127 / 63)  # SFZ amp_velcurve: velocity / hivel within a layer
    assert len(kit.sample_files()) == len(mj.INSTRUMENT_ROLES) * 2 * len(mj.MICS)


def test_muldjord_lead_in_follows_the_mic_mix(mini_kit):
    """The label offset is the lead-in of the *mixed* sound: its first sample at -30 dB re its peak."""
    kit = rd.MuldjordKit(SR, root=mini_kit)
    path = kit.roles["snare"][0].layers[1].path
    kit.set_mix({"Snare_top": [0.0, 1.0, 1.0], "OHL": [0.0, 0.0, 1.0]})
    assert kit.sound(path).lead_in == 48 + 24  # the close mic, delayed 1 ms, is still first
    kit.set_mix({"Snare_top": [0.0, 3.0, 1.0], "OHL": [-40.0, 0.0, 1.0], "AmbL": [0.0, 5.0, 1.0]})
    assert kit.sound(path).lead_in == 48 + 72  # the overhead at -40 dB is under the -30 dB threshold
    kit.set_mix({"OHR": [0.0, 0.5, 1.0], "AmbR": [-6.0206, 5.0, 1.0]})
    assert kit.sound(path).lead_in == 96 + 12
    raw = kit._load(path)  # the mix before the one-shot tail trim
    assert raw[96 + 12] == pytest.approx(1.0, abs=1e-3)  # calibrated: the reference hit peaks at 1
    assert raw[240 + 120] == pytest.approx(0.5, abs=1e-3)
    assert np.count_nonzero(raw) == 2


def test_mix_sample_kit_labels_the_mixed_onset(mini_kit):
    kit = rd.MuldjordKit(SR, root=mini_kit)
    kit.set_mix({"Snare_top": [0.0, 1.0, 1.0], "OHL": [0.0, 0.0, 1.0]})
    kit_map = {"snare": (kit, kit.roles["snare"][0], 0.0)}
    hits = [rd.Hit(1000, 38, 100, "snare"), rd.Hit(5000, 38, 30, "snare"), rd.Hit(7000, 36, 100, "kick")]
    audio, labels = rd.mix_sample_kit(hits, kit_map, [], 12000, np.random.default_rng(0))
    assert [(pos, h.cls) for pos, h in labels] == [(1000 + 72, "snare"), (5000 + 72, "snare")]  # no kick role: no label
    for pos, _ in labels:
        assert abs(audio[pos]) > 0 and not np.any(audio[pos - 20: pos])


# --------------------------------------------------------------------------- mixed kits

class _FakeKit(rd.SampleKit):
    """A sample kit whose every layer is an impulse of amplitude ``peak`` after ``lead`` samples."""

    def __init__(self, name: str, roles: dict[str, float], lead: int = 10):
        super().__init__(name, SR)
        for role, peak in roles.items():
            layers = [rd.Layer(Path(f"{name}/{role}/{i}"), i / 2, (i + 1) / 2, 1.0) for i in range(2)]
            self.instruments.append(rd.Instrument(f"{role} {peak}", role, 1.0, layers))
        self.peaks = roles
        self.lead = lead
        self._index_roles()

    def _load(self, path: Path) -> np.ndarray:
        x = np.zeros(100, np.float32)
        x[self.lead] = self.peaks[path.parent.name] * (0.5 if path.name == "0" else 1.0)
        return x


class _Stub:
    def __init__(self, kits):
        self.kits = kits

    def kit(self, name):
        return self.kits[name]


def test_mixed_kit_map_takes_each_group_from_its_kit_at_its_level():
    a = _FakeKit("A", {"kick": 0.1, "snare": 0.9, "hh_closed": 0.2, "hh_open": 0.4})
    b = _FakeKit("B", {"kick": 0.8, "snare": 0.05, "hh_closed": 0.5, "tom_low": 0.3, "crash": 0.6})
    plan = {"kit_mix": {"kick": ["A", -6.0], "snare": ["B", 0.0], "hihat": ["A", -3.0], "toms": ["B", -1.0],
                        "cymbals": ["B", -2.0]}}
    kit_map = rd.Renderer.mixed_kit_map(_Stub({"A": a, "B": b}), plan, np.random.default_rng(0))
    assert {r: k.name for r, (k, _, _) in kit_map.items()} == {
        "kick": "A", "snare": "B", "hh_closed": "A", "hh_open": "A", "tom_low": "B", "crash": "B"}
    for role, level_db in (("kick", -6.0), ("snare", 0.0), ("hh_closed", -3.0), ("tom_low", -1.0), ("crash", -2.0)):
        kit, ins, _ = kit_map[role]
        top = ins.layers[-1]
        assert abs(kit.sound(top.path).audio).max() * top.gain * ins.gain == pytest.approx(10 ** (level_db / 20))
    _, open_hat, _ = kit_map["hh_open"]  # the group's other roles keep their level re its main sound
    _, closed_hat, _ = kit_map["hh_closed"]
    assert open_hat.gain / closed_hat.gain == pytest.approx(1.0)
    assert a.roles["kick"][0].gain == 1.0  # the kit's own instruments are left alone


def test_draw_kit_mix_keeps_held_out_splits_on_held_out_kits(monkeypatch):
    full = frozenset({"kick", "snare", "hh_closed", "tom_low", "crash", "ride"})
    roles = {k: full for k, _ in rd.mix_pool("train") + rd.mix_pool("validation")}
    roles["HardElectro1"] = frozenset({"kick", "snare", "hh_closed"})  # no toms, no cymbals
    monkeypatch.setattr(rd, "kit_roles", lambda name: roles[name])
    rng = np.random.default_rng(0)
    held = [rd.draw_kit_mix("validation", rng) for _ in range(50)]
    assert {k for m in held for k, _ in m.values()} <= set(rd.HYDROGEN_HELD_OUT)
    train = [rd.draw_kit_mix("train", rng) for _ in range(300)]
    used = {k for m in train for k, _ in m.values()}
    assert {rd.MULDJORD, rd.SONIC_PI} <= used and not used & set(rd.HYDROGEN_HELD_OUT)
    assert all(m[g][0] != "HardElectro1" for m in train for g in ("toms", "cymbals"))
    assert all(set(m) == set(rd.KIT_GROUPS) and rd.GROUP_LEVEL_DB[0] <= m["kick"][1] <= 0 for m in train)


def _plan(split: str, kit_source: str = "hydrogen", variant: str = "drumonly") -> dict:
    plan = {"split": split, "kit": "GMRockKit" if kit_source == "hydrogen" else "TimGM6mb-0",
            "kit_source": kit_source, "kit_group": "acoustic", "font": "", "bank": 0, "preset": 0,
            "variant": variant, "tuning_semitones": 0.5}
    if variant == "mix":
        plan["music"] = {"piece": "x.mid", "drum_to_music_db": 3.0, "font": "FluidR3_GM", "seed": 1}
    return plan


def test_add_recorded_sound_legacy_and_splits(monkeypatch):
    monkeypatch.setattr(rd, "kit_roles", lambda name: frozenset({"kick", "snare", "hh_closed", "tom_low", "crash"}))
    monkeypatch.setattr(rd, "strum_index", lambda: {(0, "maj"): {}, (5, "maj"): {}, (7, "maj"): {}, (9, "min"): {}})
    for split in ("train", "validation"):
        for source in ("hydrogen", "sf2"):
            plan = _plan(split, source, "mix")
            before = {k: (dict(v) if isinstance(v, dict) else v) for k, v in plan.items()}
            rd.add_recorded_sound(plan, 1234, rd.LEGACY)
            assert plan == before
    always = rd.RecordedSound(1.0, 1.0, 1.0, 1.0)
    plan = _plan("train")
    rd.add_recorded_sound(plan, 1, always)
    assert plan["kit"] == rd.MULDJORD and plan["kit_source"] == "multimic" and "mic_mix" in plan
    for seed in range(20):  # validation never plays the MuldjordKit, sf2 clips are never mixed
        plan = _plan("validation")
        rd.add_recorded_sound(plan, seed, always)
        assert plan["kit_source"] == "mixed" and rd.kits_of(plan) <= set(rd.HYDROGEN_HELD_OUT)
        assert "mic_mix" not in plan
        plan = _plan("validation", "sf2", "mix")
        rd.add_recorded_sound(plan, seed, always)
        assert plan["kit_source"] == "sf2" and plan["music"]["kind"] == "band" and "seed" in plan["music"]["fx"]
        band = plan["music"]["band"]
        assert band["key"] == 0 or all(((band["key"] + rd.DEGREES[d][0]) % 12, rd.DEGREES[d][1])
                                       in {(0, "maj"), (5, "maj"), (7, "maj"), (9, "min")} for d in band["progression"])
    a, b = _plan("train"), _plan("train")  # each feature has its own random stream
    rd.add_recorded_sound(a, 99, rd.RecordedSound(0.0, 1.0, 0.0, 0.0))
    rd.add_recorded_sound(b, 99, rd.RecordedSound(0.0, 1.0, 1.0, 1.0))
    assert a["kit_mix"] == b["kit_mix"]


# --------------------------------------------------------------------------- band accompaniment

def test_follow_beats_moves_the_grid_onto_the_drummer():
    grid = np.arange(40) * 0.5
    hits = np.concatenate([grid[:20] + 0.03, grid[20:30] - 0.02])  # late, then early, then nothing
    hits = np.concatenate([hits, grid[:30] + 0.25 + 0.03])           # off-beat eighths: too far, ignored
    beats = rd.follow_beats(grid, hits)
    np.testing.assert_allclose(beats[:18] - grid[:18], 0.03, atol=1e-9)
    np.testing.assert_allclose(beats[22:] - grid[22:], -0.02, atol=1e-9)  # beats 30.. keep beat 29's offset
    np.testing.assert_array_equal(rd.follow_beats(grid, np.array([])), grid)
    np.testing.assert_array_equal(rd.follow_beats(grid, np.array([0.2, 5.2])), grid)  # nothing near a beat


def test_parse_strum_name():
    assert rd.parse_strum_name("Amajor_00.flac") == (9, "maj", "", 0)
    assert rd.parse_strum_name("Asharp minro7b5_UP_03.flac") == (10, "m7b5", "up", 3)
    assert rd.parse_strum_name("Bflat major_DOWN_01.flac") == (10, "maj", "down", 1)
    assert rd.parse_strum_name("Cmajor_Down_02.flac") == (0, "maj", "down", 2)
    assert rd.parse_strum_name("Dsharp minor7b5_DOWN_02wav.flac") == (3, "m7b5", "down", 2)
    assert rd.parse_strum_name("Gsharp minor_01.flac") == (8, "min", "", 1)
    assert rd.parse_strum_name("drumkit.xml") is None


def test_place_strums_aligns_onsets_and_chokes_the_previous_strum():
    snd = rd.Sound(np.r_[np.zeros(5), np.ones(2000)].astype(np.float32), 5)
    out = np.zeros(3000, np.float32)
    rd.place_strums(out, [(1500, snd, 0.5), (100, snd, 1.0), (2900, snd, 1.0)], fade=10)
    assert not np.any(out[:100]) and out[100] == 1.0 and out[1499] == 1.0  # acoustic onset at 100
    fade = np.linspace(1.0, 0.0, 10)
    assert out[1500] == pytest.approx(fade[0] + 0.5)   # the next strum cuts it from its onset...
    assert out[1505] == pytest.approx(fade[5] + 0.5)   # ...with a 10-sample fade
    assert out[1510] == pytest.approx(0.5)
    assert out[2899] == pytest.approx(0.5)
    assert out[2905] == pytest.approx(0.5 * fade[5] + 1.0)
    assert out[2999] == pytest.approx(1.0)             # the last strum runs to the end of the clip
