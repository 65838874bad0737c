"""Staging with duplicates far apart: the send pass stays linear whatever the order of the duplicates.

Stages ``--rows`` distinct contacts (batches of 1,000, as the import reads them), then reads them all back in
order of first appearance (:meth:`Staging.to_send`, the pass that feeds the vendor requests), for three
sources of the same distinct contacts:

- ``unique``: each address once -- the baseline, measured in the same run;
- ``10 % back later``: a tenth of the addresses come back, shuffled, after the whole source;
- ``all back later``: every address comes back once, shuffled, after the whole source.

Each case runs ``--repeats`` times in this process (the median is shown) and says how the read-back pass
compares with the baseline's. No server is involved: this times the staged source alone.

    python bench/staging_duplicates.py [--rows 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_emailbr.importing.rows import Contact, FieldSpec
from airflow_provider_emailbr.importing.staging import Staging

SPEC = (FieldSpec("email", "email"), FieldSpec("nome"), FieldSpec("nascimento", "date"))
BATCH = 1000


def source(rows: int, back_later: float) -> list[tuple[int, str]]:
    """Row numbers and addresses: every address once, then ``back_later`` of them again, shuffled."""
    firsts = [(n, f"pessoa{n}@exemplo.com.br") for n in range(rows)]
    again = [(rows + n, address) for n, address in firsts[: int(rows * back_later)]]
    random.Random(7).shuffle(again)
    return firsts + again


def timed_pass(rows: list[tuple[int, str]]) -> tuple[float, float, int]:
    """Seconds to stage ``rows`` and to read the staged contacts back; contacts read."""
    started = time.perf_counter()
    with Staging(SPEC) as staging:
        for start in range(0, len(rows), BATCH):
            staging.stage(
                [
                    Contact(n, address, {"nome": f"Nome {n}", "nascimento": date(1990, 1, 1 + n % 28)})
                    for n, address in rows[start : start + BATCH]
                ]
            )
        staged = time.perf_counter()
        read = sum(len(batch) for batch in staging.to_send(BATCH))
    return staged - started, time.perf_counter() - staged, read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    cases = {"unique": 0.0, "10 % back later": 0.1, "all back later": 1.0}
    print(f"{args.rows:,} distinct contacts, batches of {BATCH:,}, median of {args.repeats}")
    baseline = None
    for name, share in cases.items():
        rows = source(args.rows, share)
        runs = [timed_pass(rows) for _ in range(args.repeats)]
        stage = statistics.median(r[0] for r in runs)
        read = statistics.median(r[1] for r in runs)
        assert all(r[2] == args.rows for r in runs), "every distinct contact is read back once"
        baseline = baseline or read
        print(
            f"{name:16}: {len(rows):>9,} rows, stage {stage:6.2f} s, read back {read:6.2f} s "
            f"({read / baseline:4.1f}x the unique source's read-back)"
        )


if __name__ == "__main__":
    main()
