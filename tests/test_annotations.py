"""Tests for annotation reading/writing, class maps and atomic writes."""

from __future__ import annotations

import io
import json
import os
import stat

import pretty_midi
import pytest

from softloc_cli.annotations import (
    WRITERS,
    WriteOptions,
    format_for_path,
    get_writer,
    read_annotation_file,
    read_annotations,
    write_events,
)
from softloc_cli.classmap import (
    DEFAULT_DRUM_MAP,
    ClassMap,
    class_to_note,
    label_to_pitch,
    note_to_class,
    parse_class_map,
    pitch_label,
    resolve_label,
)
from softloc_cli.errors import AnnotationError, ConfigError, SoftlocError
from softloc_cli.events import Event
from softloc_cli.fileio import ANNOTATION_EXTENSIONS, AUDIO_EXTENSIONS, atomic_write

DRUMS = parse_class_map("kick snare hihat")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def times(events):
    return [round(e.time_s, 6) for e in events]


def labels(events):
    return [e.label for e in events]


# ---------------------------------------------------------------------------------------------
# readers, one per format


def test_csv_with_header(tmp_path):
    path = write(tmp_path, "a.csv", "time_s,class,midi_note,velocity\n"
                                    "1.5,snare,38,90\n0.5,kick,,\n")
    found = read_annotation_file(path)
    assert found.format == "csv"
    assert found.events == [Event(0.5, "kick", 36, 100), Event(1.5, "snare", 38, 90)]


def test_csv_header_synonyms_and_ignored_columns(tmp_path):
    path = write(tmp_path, "a.csv", "onset,duration,instrument,vel\n0.25,0.1,SD,64\n")
    assert read_annotations(path) == [Event(0.25, "snare", 38, 64)]


def test_csv_time_ms_column_is_converted(tmp_path):
    path = write(tmp_path, "a.csv", "time_ms,label\n1250,kick\n")
    assert times(read_annotations(path)) == [1.25]


def test_basic_pitch_style_columns(tmp_path):
    path = write(tmp_path, "a.csv", "start_time_s,end_time_s,pitch_midi,velocity\n"
                                    "0.5,0.9,60,80\n")
    assert read_annotations(path) == [Event(0.5, "C4", 60, 80)]
    pitched = ClassMap({"onset": range(128)}, drums=False)
    assert read_annotations(path, class_map=pitched) == [Event(0.5, "onset", 60, 80)]


def test_pitch_column_is_a_pitch_not_a_gm_drum(tmp_path):
    # 36 under a "pitch" header is C2 (the pitched CSV writer's layout), not a kick
    path = write(tmp_path, "a.csv", "time_s,pitch,velocity\n0.5,36,80\n")
    assert read_annotations(path) == [Event(0.5, "C2", 36, 80)]


def test_pitched_class_map_reads_a_rows_note_whatever_its_label(tmp_path):
    path = write(tmp_path, "a.csv", "time_s,class,midi_note,velocity\n0.5,onset,60,80\n0.7,onset,59,70\n")
    keys = ClassMap({"C4": [60], "D4": [62]}, drums=False)
    assert read_annotations(path, class_map=keys) == [Event(0.5, "C4", 60, 80)]
    drums = ClassMap({"kick": [36]}, drums=True)
    assert read_annotations(path, class_map=drums) == []


def test_csv_headerless_time_label_velocity(tmp_path):
    path = write(tmp_path, "a.csv", "0.5,kick,100\n1.0,38,70\n1.5,hh\n")
    events = read_annotations(path)
    assert events == [Event(0.5, "kick", 36, 100), Event(1.0, "snare", 38, 70),
                      Event(1.5, "hihat", 42, 100)]


def test_real_onset_dataset_rows(tmp_path):
    path = write(tmp_path, "clip.csv", "0.170000000,onset\n2.110000000,onset\n")
    events = read_annotations(path)
    assert times(events) == [0.17, 2.11] and labels(events) == ["onset", "onset"]


def test_header_time_onset_means_label_column(tmp_path):
    path = write(tmp_path, "clip.csv", "time,onset\n0.17,onset\n")
    assert read_annotations(path) == [Event(0.17, "onset", None, 100)]


def test_tsv_and_semicolon(tmp_path):
    tsv = write(tmp_path, "a.tsv", "time\tclass\n0.5\tkick\n")
    semi = write(tmp_path, "b.csv", "time;class\n0.5;kick\n")
    assert read_annotations(tsv) == read_annotations(semi) == [Event(0.5, "kick", 36, 100)]


def test_plain_text_times_and_labels(tmp_path):
    plain = write(tmp_path, "a.txt", "# taps\n0.5\n\n1.25\n")
    assert read_annotations(plain) == [Event(0.5, "onset"), Event(1.25, "onset")]
    assert read_annotation_file(plain).format == "text"
    labelled = write(tmp_path, "b.txt", "0.5 Kick Drum\n1.0   hi-hat\n")
    assert labels(read_annotations(labelled)) == ["kick", "hihat"]


def test_default_label(tmp_path):
    path = write(tmp_path, "a.txt", "0.5\n")
    assert labels(read_annotations(path, default_label="kick")) == ["kick"]


def test_audacity_label_track(tmp_path):
    path = write(tmp_path, "labels.txt",
                 "0.500000\t0.500000\tkick\n\\\t220.0\t880.0\n1.000000\t1.200000\t\n")
    found = read_annotation_file(path)
    assert found.format == "audacity"
    assert found.events == [Event(0.5, "kick", 36, 100), Event(1.0, "onset", None, 100)]


def test_sonic_visualiser_csv(tmp_path):
    path = write(tmp_path, "sv.csv", "0.5,1,0.1,snare\n1.0,1,0.1,kick\n")
    found = read_annotation_file(path)
    assert found.format == "sonic-visualiser"
    assert labels(found.events) == ["snare", "kick"]


def test_json_own_format_and_bare_lists(tmp_path):
    own = write(tmp_path, "a.json", json.dumps({"model": "drums", "events": [
        {"time_s": 1.0, "class": "snare", "midi_note": 40, "velocity": 70},
        {"time_s": 0.5, "class": "kick", "midi_note": None}]}))
    assert read_annotations(own) == [Event(0.5, "kick", 36, 100), Event(1.0, "snare", 40, 70)]
    bare = write(tmp_path, "b.json", "[0.5, {\"time\": 1.0, \"label\": \"hh\"}]")
    assert read_annotations(bare) == [Event(0.5, "onset"), Event(1.0, "hihat", 42, 100)]


@pytest.mark.parametrize("name,text", [("e.csv", ""), ("e.txt", "\n\n"), ("e.json", ""),
                                       ("f.json", '{"events": []}'),
                                       ("h.csv", "time_s,class\n")])
def test_empty_files_give_no_events(tmp_path, name, text):
    assert read_annotations(write(tmp_path, name, text)) == []


def test_utf8_bom_and_crlf(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("\ufefftime_s,class\r\n0.5,kick\r\n".encode())
    assert read_annotations(path) == [Event(0.5, "kick", 36, 100)]


# ---------------------------------------------------------------------------------------------
# class maps while reading


def test_class_map_drops_unknown_and_counts(tmp_path):
    path = write(tmp_path, "a.csv", "0.5,kick\n0.6,clap\n0.7,clap\n0.8,49\n")
    found = read_annotation_file(path, class_map=DRUMS)
    assert labels(found.events) == ["kick"]
    assert found.unknown == {"clap": 2, "49": 1}
    with pytest.raises(AnnotationError, match=r"a\.csv: 3 event\(s\).*'clap' \(2\).*kick, snare"):
        read_annotations(path, class_map=DRUMS, on_unknown="error")


def test_no_class_map_keeps_labels(tmp_path):
    path = write(tmp_path, "a.csv", "0.5,Clap\n0.6,db4\n0.7,46\n")
    assert read_annotations(path) == [Event(0.5, "clap"), Event(0.6, "C#4", 61),
                                      Event(0.7, "hihat", 46)]


def test_class_map_given_as_text_or_dict(tmp_path):
    path = write(tmp_path, "a.csv", "0.5,bd\n0.6,40\n")
    assert labels(read_annotations(path, class_map="kick=36 snare=38,40")) == ["kick", "snare"]
    assert labels(read_annotations(path, class_map={"snare": [40]})) == ["snare"]


# ---------------------------------------------------------------------------------------------
# MIDI


def make_midi(path, notes, *, drums):
    midi = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=0, is_drum=drums)
    for start, pitch, velocity in notes:
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch, start=start,
                                           end=start + 0.05))
    midi.instruments.append(inst)
    midi.write(str(path))
    return path


def test_midi_drums_gm_and_td11(tmp_path):
    path = make_midi(tmp_path / "g.mid", [(0.5, 36, 100), (0.5, 26, 60), (1.0, 40, 90),
                                          (1.5, 39, 80), (2.0, 58, 70)], drums=True)
    found = read_annotation_file(path)
    assert found.format == "midi"
    assert [(round(e.time_s, 4), e.label, e.midi_note, e.velocity) for e in found.events] == [
        (0.5, "hihat", 26, 60), (0.5, "kick", 36, 100), (1.0, "snare", 40, 90),
        (2.0, "tom", 58, 70)]
    assert found.unknown == {"drum note 39": 1}
    only = read_annotation_file(path, class_map=DRUMS)
    assert labels(only.events) == ["hihat", "kick", "snare"]
    assert only.unknown == {"drum note 39": 1, "drum note 58": 1}


def test_midi_pitched(tmp_path):
    path = make_midi(tmp_path / "p.mid", [(0.25, 60, 80), (0.75, 70, 90)], drums=False)
    assert labels(read_annotations(path)) == ["C4", "A#4"]
    piano = ClassMap({"onset": range(21, 109)}, drums=False)
    assert labels(read_annotations(path, class_map=piano)) == ["onset", "onset"]
    found = read_annotation_file(path, class_map=DRUMS)  # pitched notes are not drum hits
    assert found.events == [] and found.unknown == {"notes of pitched instruments": 2}


def test_corrupt_midi(tmp_path):
    path = tmp_path / "bad.mid"
    path.write_bytes(b"MThd garbage")
    with pytest.raises(AnnotationError, match=r"bad\.mid: not a readable MIDI file"):
        read_annotations(path)


# ---------------------------------------------------------------------------------------------
# malformed input: file:line, the line echoed, the likely mistake


@pytest.mark.parametrize("text,line,pattern", [
    ("time_s,class\n0.5,kick\nabc,snare\n", 3, r"'abc' is not a number of seconds: 'abc,snare'"),
    ("0.5,kick\n-0.2,kick\n", 2, r"negative time -0.2 s"),
    ("500,kick\n12500,kick\n", 2, r"did you give milliseconds"),
    ("1:23.5\tkick\n", 1, r"minutes:seconds"),
    ("0.5,kick,200\n", 1, r"velocity 200 must be an integer in 1\.\.127"),
    ("0.5,kick,100,3,4\n", 1, r"5 columns; expected time\[,label\[,velocity\]\]"),
    ("Zeit,Klasse\n0.5,kick\n", 1, r"header has no time column.*'Zeit,Klasse'"),
    ("time_s,midi_note\n0.5,300\n", 2, r"MIDI note 300 must be an integer in 0\.\.127"),
    ("0.5;kick\n0,7;snare\n", 2, r"decimal comma"),
])
def test_malformed_lines(tmp_path, text, line, pattern):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(AnnotationError, match=rf"bad\.csv:{line}: .*{pattern}"):
        read_annotations(path)


def test_malformed_json(tmp_path):
    path = write(tmp_path, "bad.json", '{"events": [\n  {"time_s": 0.5,}\n]}')
    with pytest.raises(AnnotationError, match=r"bad\.json:2: invalid JSON.*'\{\"time_s\": 0\.5,\}'"):
        read_annotations(path)
    path = write(tmp_path, "bad2.json", '{"events": [{"class": "kick"}]}')
    with pytest.raises(AnnotationError, match=r"events\[0\]: missing \"time_s\""):
        read_annotations(path)
    path = write(tmp_path, "bad3.json", '[{"time_s": 15000}]')
    with pytest.raises(AnnotationError, match="milliseconds"):
        read_annotations(path)
    path = write(tmp_path, "bad4.json", '{"foo": 1}')
    with pytest.raises(AnnotationError, match='"events" list'):
        read_annotations(path)


def test_not_utf8_and_missing(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("0.5,kick\n1.0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"latin\.csv:2: not UTF-8"):
        read_annotations(path)
    with pytest.raises(AnnotationError, match="not found"):
        read_annotations(tmp_path / "nope.csv")


# ---------------------------------------------------------------------------------------------
# writers


EVENTS = [Event(0.5, "kick", 36, 100), Event(0.5, "hihat", 42, 64), Event(1.0001, "snare", 38, 127),
          Event(1.23456, "hihat", 46, 30), Event(2.0, "kick", 36, 1)]


def assert_same(read, written, *, notes=True, velocities=True):
    assert len(read) == len(written)
    for a, b in zip(read, sorted(written, key=lambda e: (e.time_s, e.label))):
        assert abs(a.time_s - b.time_s) < 1e-3 and a.label == b.label
        if notes:
            assert a.midi_note == b.midi_note
        if velocities:
            assert a.velocity == b.velocity


@pytest.mark.parametrize("fmt", ["csv", "json", "mid"])
def test_round_trip_keeps_everything(tmp_path, fmt):
    path = write_events(EVENTS, tmp_path / f"out.{WRITERS[fmt].extension}", fmt,
                        metadata={"model": "drums"})
    assert path.suffix == f".{WRITERS[fmt].extension}"
    assert_same(read_annotations(path), EVENTS)


def test_round_trip_labels_keeps_times_and_labels(tmp_path):
    path = write_events(EVENTS, tmp_path / "out.txt")
    assert read_annotation_file(path).format == "audacity"
    assert_same(read_annotations(path), EVENTS, notes=False, velocities=False)


def test_csv_layout_is_fixed():
    buffer = io.StringIO(newline="")
    get_writer("csv").write([Event(1.23456, "kick", None, 90)], buffer)
    assert buffer.getvalue() == "time_s,class,midi_note,velocity\n1.2346,kick,,90\n"


def test_json_has_meta_and_rounded_times(tmp_path):
    path = write_events([Event(1.234567, "kick", 36, 90)], tmp_path / "o.json",
                        metadata={"model": "drums", "class_map": DRUMS})
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["model"] == "drums" and doc["class_map"]["kick"] == [36, 35]
    assert doc["events"] == [{"time_s": 1.2346, "class": "kick", "midi_note": 36, "velocity": 90}]


def test_write_options_are_not_json_metadata(tmp_path):
    """Layout options shape the file; only ``metadata`` is recorded, so ``drums``/``pitched``
    appear in JSON only when a caller puts them in the metadata on purpose."""
    options = WriteOptions(drums=False, pitched=True, note_duration_s=0.2)
    path = write_events(EVENTS, tmp_path / "o.json", options=options, metadata={"model": "keys"})
    assert set(json.loads(path.read_text(encoding="utf-8"))) == {"format_version", "model", "events"}
    path = write_events(EVENTS, tmp_path / "p.json", metadata={"drums": True})
    assert json.loads(path.read_text(encoding="utf-8"))["drums"] is True
    path = write_events([Event(0.5, "C4", 60, 80)], tmp_path / "p.csv", options=options,
                        metadata={"model": "keys"})
    assert path.read_text() == "time_s,pitch,velocity\n0.5000,60,80\n"


@pytest.mark.parametrize("kwargs, message", [({"note_duration_s": 0}, "must be > 0"),
                                             ({"program": 128}, r"0\.\.127")])
def test_write_options_are_checked(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WriteOptions(**kwargs)


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_empty_events_write_valid_files(tmp_path, fmt):
    path = write_events([], tmp_path / f"empty.{WRITERS[fmt].extension}", fmt)
    assert path.exists() and read_annotations(path) == []


def test_midi_writer_pitched_and_durations(tmp_path):
    events = [Event(0.5, "C4", None, 80), Event(0.52, "C4", 60, 90), Event(1.0, "A#4", 70, 70)]
    path = write_events(events, tmp_path / "p.mid",
                        options=WriteOptions(drums=False, note_duration_s=0.2))
    midi = pretty_midi.PrettyMIDI(str(path))
    (inst,) = midi.instruments
    assert not inst.is_drum
    notes = sorted(inst.notes, key=lambda n: n.start)
    assert [n.pitch for n in notes] == [60, 60, 70]
    assert notes[0].end == pytest.approx(0.52, abs=1e-3)  # cut where the next C4 starts
    assert notes[2].end - notes[2].start == pytest.approx(0.2, abs=1e-3)
    assert labels(read_annotations(path)) == ["C4", "C4", "A#4"]


def test_midi_writer_drums_channel_10_and_merging(tmp_path):
    events = [Event(0.5, "kick", None, 80), Event(0.5004, "kick", 36, 100),
              Event(1.0, "snare", None, 90)]
    path = write_events(events, tmp_path / "d.mid")
    (inst,) = pretty_midi.PrettyMIDI(str(path)).instruments
    assert inst.is_drum
    assert [(n.pitch, n.velocity) for n in inst.notes] == [(36, 100), (38, 90)]
    assert inst.notes[0].end - inst.notes[0].start == pytest.approx(0.05, abs=1e-3)
    with pytest.raises(AnnotationError, match="cannot write 'onset' events to MIDI"):
        write_events([Event(0.5, "onset")], tmp_path / "x.mid")
    assert not (tmp_path / "x.mid").exists()


def test_format_for_path_and_get_writer():
    assert [format_for_path(p) for p in ("a.mid", "b.MIDI", "c.csv", "d.json", "e.txt")] == [
        "mid", "mid", "csv", "json", "labels"]
    with pytest.raises(SoftlocError, match=r"'hits\.wav'.*\.mid, \.midi, \.csv, \.json, \.txt"):
        format_for_path("hits.wav")
    with pytest.raises(SoftlocError, match="formats are mid, csv, json, labels"):
        get_writer("xml")


# ---------------------------------------------------------------------------------------------
# atomic writes


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_atomic_write_keeps_old_file_on_failure(tmp_path, exc):
    path = tmp_path / "hits.csv"
    path.write_bytes(b"old contents\n")
    with pytest.raises(exc):
        with atomic_write(path) as fh:
            fh.write("half")
            raise exc()
    assert path.read_bytes() == b"old contents\n"
    assert os.listdir(tmp_path) == ["hits.csv"]


def test_writer_failure_leaves_old_file(tmp_path, monkeypatch):
    path = tmp_path / "hits.csv"
    path.write_bytes(b"old\n")

    def boom(self, events, fh, options, metadata):
        fh.write("time_s")
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(WRITERS["csv"]), "write_to", boom)
    with pytest.raises(RuntimeError):
        write_events(EVENTS, path)
    assert path.read_bytes() == b"old\n" and os.listdir(tmp_path) == ["hits.csv"]


def test_atomic_write_success_and_modes(tmp_path):
    path = tmp_path / "a.bin"
    with atomic_write(path, "wb") as fh:
        fh.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0o600
    with pytest.raises(ValueError, match="mode='a'"):
        with atomic_write(path, "a"):
            pass


def test_extension_sets():
    assert {".wav", ".flac", ".mp3", ".opus", ".aif"} <= AUDIO_EXTENSIONS
    assert {".csv", ".txt", ".json", ".mid", ".midi"} <= ANNOTATION_EXTENSIONS


# ---------------------------------------------------------------------------------------------
# class maps and pitch names


def test_default_drum_map():
    assert list(DEFAULT_DRUM_MAP) == ["kick", "snare", "hihat", "tom", "crash", "ride"]
    expected = {35: "kick", 36: "kick", 37: "snare", 38: "snare", 40: "snare", 42: "hihat",
                44: "hihat", 46: "hihat", 22: "hihat", 26: "hihat", 41: "tom", 58: "tom",
                49: "crash", 57: "crash", 52: "crash", 55: "crash", 51: "ride", 59: "ride",
                53: "ride", 39: None}
    assert {n: note_to_class(n) for n in expected} == expected
    assert [class_to_note(c) for c in DEFAULT_DRUM_MAP] == [36, 38, 42, 45, 49, 51]


def test_parse_class_map():
    cm = parse_class_map("kick=35,36 snare=38,40; hihat=42,44,46")
    assert cm.to_dict() == {"kick": [35, 36], "snare": [38, 40], "hihat": [42, 44, 46]}
    assert cm.note_of("Kick") == 35 and cm.class_of(44) == "hihat" and cm.drums
    assert parse_class_map("kick hihat")["hihat"] == DEFAULT_DRUM_MAP["hihat"]
    piano = parse_class_map("C4=C4 low=21,22", drums=False)
    assert piano["C4"] == (60,) and not piano.drums
    assert parse_class_map(str(cm)) == cm


@pytest.mark.parametrize("text,pattern", [
    ("", "class map is empty"),
    ("kick=36 kick=35", "'kick' is given twice"),
    ("kick=36,x", r"'x' is not a MIDI note"),
    ("kick=200", r"'200' is not a MIDI note"),
    ("clap", r"'clap' has no notes; write clap=NOTE"),
    ("kick=36 snare=36", "MIDI note 36 is mapped to both 'kick' and 'snare'"),
    ("=36", "has no class name"),
])
def test_parse_class_map_errors(text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        parse_class_map(text)


def test_class_map_errors():
    with pytest.raises(ConfigError, match="unknown class 'cowbell'; classes are kick"):
        DEFAULT_DRUM_MAP.note_of("cowbell")
    with pytest.raises(ConfigError, match="has no MIDI notes"):
        ClassMap({"kick": []})


def test_resolve_label():
    assert resolve_label("  Kick  Drum ") == ("kick", 36)
    assert resolve_label("SD", DRUMS) == ("snare", 38)
    assert resolve_label("crash", DRUMS) is None
    assert resolve_label("44", DRUMS) == ("hihat", 44)


def test_pitch_names():
    assert [pitch_label(n) for n in (0, 21, 60, 61, 127)] == ["C-1", "A0", "C4", "C#4", "G9"]
    assert all(label_to_pitch(pitch_label(n)) == n for n in range(128))
    assert label_to_pitch("Db4") == 61 and label_to_pitch("bb3") == 58
    with pytest.raises(AnnotationError, match="not a pitch name"):
        label_to_pitch("H4")
    with pytest.raises(AnnotationError, match="not a pitch name"):
        label_to_pitch("G#9")
