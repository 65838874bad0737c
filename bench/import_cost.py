"""How much importing the provider's public modules adds on top of ``import airflow.sdk``.

DAG files import these modules at every parse, so the figure matters. Each measurement is a fresh
interpreter. Two figures: (1) inside one interpreter, the time of importing the provider's modules right
after ``import airflow.sdk`` (the direct measure); (2) the whole-interpreter medians of ``import airflow.sdk``
alone and with the provider, interleaved so both see the same machine load (a cross-check, noisier
because the baseline is over a second). Target: at most 30 ms added.

    python bench/import_cost.py [--runs 15]
"""

from __future__ import annotations

import argparse
import compileall
import pkgutil
import statistics
import subprocess
import sys

import airflow_provider_emailbr

SKIP_PREFIXES = ("airflow_provider_emailbr.sandbox",)  # a dev/test tool, never imported by DAG files

TIMER = (
    "import time, sys; {setup}; t0 = time.perf_counter(); {stmt}; "
    "sys.stdout.write(repr(time.perf_counter() - t0))"
)


def public_modules() -> list[str]:
    """Every module of the package except the sandbox (and private ``_`` modules)."""
    found = []
    for info in pkgutil.walk_packages(airflow_provider_emailbr.__path__, "airflow_provider_emailbr."):
        name = info.name
        if name.startswith(SKIP_PREFIXES) or any(part.startswith("_") for part in name.split(".")[1:]):
            continue
        found.append(name)
    return sorted(found)


def time_import(stmt: str, setup: str = "pass") -> float:
    """Seconds that ``stmt`` takes in a fresh interpreter, after an untimed ``setup``."""
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(setup=setup, stmt=stmt)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def heavy_modules_loaded(modules: list[str]) -> list[str]:
    """Heavy libraries that importing the provider would pull in (they must stay lazy)."""
    probe = (
        "import sys, airflow.sdk; before = set(sys.modules); "
        + "; ".join(f"import {m}" for m in modules)
        + "; print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in "
        "{'requests','urllib3','httpx','aiohttp','pandas','numpy','fastapi','uvicorn','email_validator'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a list literal printed by the probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    modules = public_modules()
    # pip compiles installed packages to bytecode; an editable checkout (or PYTHONDONTWRITEBYTECODE) may
    # not have it, and compiling on every import would be measured instead of importing.
    compileall.compile_dir(airflow_provider_emailbr.__path__[0], quiet=1)
    baseline_stmt = "import airflow.sdk"
    modules_stmt = "; ".join(f"import {m}" for m in modules)
    provider_stmt = f"{baseline_stmt}; {modules_stmt}"
    time_import(provider_stmt)  # warm the file-system cache and bytecode
    baseline, provider, added = [], [], []
    for _ in range(args.runs):
        baseline.append(time_import(baseline_stmt))
        provider.append(time_import(provider_stmt))
        added.append(time_import(modules_stmt, setup=baseline_stmt))
    base_ms = statistics.median(baseline) * 1000
    prov_ms = statistics.median(provider) * 1000
    added_ms = statistics.median(added) * 1000
    print(f"modules imported: {len(modules)}")
    for name in modules:
        print(f"  {name}")
    print(f"runs: {args.runs} fresh interpreters per figure, interleaved")
    print(f"(1) provider modules imported after airflow.sdk, median : {added_ms:8.1f} ms   (target <= 30 ms)")
    print(
        f"    min / max                                           : {min(added) * 1000:8.1f} / "
        f"{max(added) * 1000:.1f} ms"
    )
    print(f"(2) median import airflow.sdk                           : {base_ms:8.1f} ms")
    print(f"    median import airflow.sdk + provider                : {prov_ms:8.1f} ms")
    print(f"    difference of medians                               : {prov_ms - base_ms:8.1f} ms")
    heavy = heavy_modules_loaded(modules)
    print(f"heavy libraries pulled in at import time   : {heavy or 'none'}")


if __name__ == "__main__":
    main()
