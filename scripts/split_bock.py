"""Split the development half of the Böck onset set into training and validation folders.

Folds 0–2 train, fold 3 validates (and is never trained on); files are linked, not copied.
``--drum-free`` keeps only the clips with no drums in them (solo voice, winds, strings, plucked
instruments), the real backings and negatives of the drum model's training (issue #17).

    python scripts/split_bock.py ../shared/data/real-onsets -o data/bock
    python scripts/split_bock.py ../shared/data/real-onsets -o data/bock-drumfree --drum-free
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path

TRAIN_FOLDS, VAL_FOLDS = {"0", "1", "2"}, {"3"}
# Named for what they hold: SoundCheck2 soprano, flute, saxophone, violins; the solo-instrument
# clips "ah_*" (guitar, oud, cello, kemence, ney, sax, tanbur, trumpet, violin), not their mixtures.
DRUM_FREE = re.compile(r"^(SoundCheck2_(61|70|71|79)_|ah_(?!test_mixtures))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("real_onsets", type=Path, help="folder holding bock-folds.csv and bock-dev/")
    parser.add_argument("-o", "--out-dir", type=Path, default=Path("data/bock"))
    parser.add_argument("--drum-free", action="store_true", help="only the clips without drums")
    args = parser.parse_args()
    with (args.real_onsets / "bock-folds.csv").open(newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["where"] == "bock-dev"]
    if args.drum_free:
        rows = [row for row in rows if DRUM_FREE.match(row["name"])]
    counts = {"train": 0, "val": 0}
    for row in rows:
        split = "train" if row["fold"] in TRAIN_FOLDS else "val" if row["fold"] in VAL_FOLDS else None
        if split is None:
            continue
        folder = args.out_dir / split
        folder.mkdir(parents=True, exist_ok=True)
        for suffix in (".flac", ".csv"):
            # Names hold dots ("…-13(1.8-11.8)"): append the suffix, never replace one.
            source = (args.real_onsets / "bock-dev" / (row["name"] + suffix)).resolve()
            if not source.is_file():
                raise SystemExit(f"error: {source} is missing")
            link = folder / source.name
            if link.is_symlink() and not link.exists():
                link.unlink()  # a broken link from an earlier run
            if not link.exists():
                link.symlink_to(source)
        counts[split] += 1
    print(f"{counts['train']} training clips (folds 0-2), {counts['val']} validation clips (fold 3) in {args.out_dir}")


if __name__ == "__main__":
    main()
