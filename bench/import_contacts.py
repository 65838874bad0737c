"""Mass contact import benchmark, against the sandbox on loopback (each figure measured in this run).

1. IAGENTEmail: 100,000 contacts from a CSV through ``IAgenteImportContactsOperator`` versus a naive client
   that calls ``contact/create`` once per contact with a fresh ``requests.post`` each time (same server; the
   naive client runs on a sample, its rate is what is compared). Target: >= 30x.
2. CriaEnvio with 20 ms sandbox latency: ``max_concurrency=8`` versus sequential (``max_concurrency=1``).
   Target: >= 5x.
3. Peak resident memory importing 10,000 versus 1,000,000 CSV rows into IAGENTEmail, each in a fresh
   process. Target: <= 50 MB growth. Also the end-to-end rate for the million rows.

    python bench/import_contacts.py [--rows 100000] [--naive-sample 2000] [--cria-rows 5000]
                                    [--cria-sequential-sample 1000] [--million 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from emailbr_sandbox import SandboxServer


def write_csv(path: Path, rows: int) -> None:
    """A ``;``-separated export with e-mail, name, birthday and one extra field, written in a stream."""
    with path.open("w", encoding="utf-8") as out:
        out.write("email;nome;nascimento;field1\n")
        for i in range(rows):
            out.write(
                f"pessoa{i}@exemplo{i % 97}.com.br;Pessoa {i};{1 + i % 28:02d}/0{1 + i % 9}/1990;cidade {i % 50}\n"
            )


def run_operator_in_subprocess(env: dict[str, str], operator: str, kwargs: dict) -> dict:
    """Run one import operator's ``execute`` in a fresh interpreter; return its summary and peak RSS."""
    code = f"""
import json, resource, sys, logging
logging.disable(logging.INFO)
from airflow_provider_emailbr.operators.contacts import {operator} as Op
summary = Op(task_id="bench", **json.loads(open(sys.argv[1], encoding="utf-8").read())).execute({{}})
summary["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT " + json.dumps(summary))
"""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(kwargs, handle)  # arguments go through a file: a long contact list exceeds argv limits
    try:
        out = subprocess.run(
            [sys.executable, "-c", code, handle.name], env=env, capture_output=True, text=True, check=False
        )
    finally:
        os.unlink(handle.name)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"import failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")


def naive_iagente_rate(base_url: str, key: str, group_id: int, sample: int) -> float:
    """Contacts per second of a naive client: one ``contact/create`` per contact, a fresh ``requests.post``."""
    import requests

    started = time.perf_counter()
    for i in range(sample):
        response = requests.post(
            f"{base_url}contact/create",
            data={"email": f"naive{i}@exemplo.com.br", "group_id": group_id, "name": f"Naive {i}"},
            headers={"IAGENTE-KEY": key},
            timeout=30,
        )
        response.raise_for_status()
    return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--naive-sample", type=int, default=2_000)
    parser.add_argument("--cria-rows", type=int, default=5_000)
    parser.add_argument("--cria-sequential-sample", type=int, default=1_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--million", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emailbr-bench-"))
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(work / "airflow"))

    print(f"machine: {os.cpu_count()} cores; sandbox in its own process on loopback\n")

    # 1. IAGENTEmail operator vs naive client ---------------------------------------------------------
    csv_path = work / "contacts.csv"
    write_csv(csv_path, args.rows)
    with SandboxServer() as server:
        env1 = {**env, **server.conn_env}
        summary = run_operator_in_subprocess(
            env1,
            "IAgenteImportContactsOperator",
            {"source_path": str(csv_path), "group_name": "Bench", "create_group": True, "mask_emails": True},
        )
        op_rate = summary["received"] / summary["duration_seconds"]
        group_id = summary["group_id"]
        creds = server.client.connections["iagente"]
        naive_rate = naive_iagente_rate(creds["host"], creds["password"], group_id, args.naive_sample)
        held = len(server.client.state("iagente")["contacts"])
    print("1. IAGENTEmail import")
    print(
        f"   operator: {summary['received']:,} rows from CSV, {summary['sent']:,} sent, "
        f"{summary['duration_seconds']:.2f} s -> {op_rate:,.0f} contacts/s"
    )
    print(
        f"   naive   : {args.naive_sample:,} x contact/create with a fresh requests.post -> {naive_rate:,.0f} contacts/s"
    )
    print(f"   ratio   : {op_rate / naive_rate:.1f}x   (target >= 30x)")
    print(f"   sandbox holds {held:,} contacts (operator rows + naive sample)\n")

    # 2. CriaEnvio concurrency ------------------------------------------------------------------------
    contacts = [{"email": f"c{i}@exemplo.com.br", "nome": f"C {i}"} for i in range(args.cria_rows)]
    with SandboxServer(latency_ms=20) as server:
        env2 = {**env, **server.conn_env}
        concurrent = run_operator_in_subprocess(
            env2,
            "CriaEnvioImportContactsOperator",
            {"contacts": contacts, "list_names": ["Bench"], "create_lists": True, "max_concurrency": 8},
        )
        sample = [
            {"email": f"s{i}@exemplo.com.br", "nome": f"S {i}"} for i in range(args.cria_sequential_sample)
        ]
        sequential = run_operator_in_subprocess(
            env2,
            "CriaEnvioImportContactsOperator",
            {"contacts": sample, "list_names": ["Bench"], "max_concurrency": 1},
        )
    c_rate = concurrent["received"] / concurrent["duration_seconds"]
    s_rate = sequential["received"] / sequential["duration_seconds"]
    print("2. CriaEnvio import, sandbox latency 20 ms per request (create + subscribe per contact)")
    print(
        f"   max_concurrency=8: {concurrent['received']:,} contacts in {concurrent['duration_seconds']:.1f} s "
        f"-> {c_rate:,.0f} contacts/s (created {concurrent['created']:,}, rejected {concurrent['rejected']})"
    )
    print(
        f"   sequential       : {sequential['received']:,} contacts in {sequential['duration_seconds']:.1f} s "
        f"-> {s_rate:,.1f} contacts/s"
    )
    print(f"   ratio            : {c_rate / s_rate:.1f}x   (target >= 5x)\n")

    # 3. Memory: 10k vs 1M rows -----------------------------------------------------------------------
    small_csv, big_csv = work / "small.csv", work / "big.csv"
    write_csv(small_csv, args.small)
    write_csv(big_csv, args.million)
    with SandboxServer() as server:
        env3 = {**env, **server.conn_env}
        small = run_operator_in_subprocess(
            env3,
            "IAgenteImportContactsOperator",
            {"source_path": str(small_csv), "group_name": "Small", "create_group": True},
        )
        big = run_operator_in_subprocess(
            env3,
            "IAgenteImportContactsOperator",
            {"source_path": str(big_csv), "group_name": "Big", "create_group": True},
        )
    growth = big["peak_rss_mb"] - small["peak_rss_mb"]
    print("3. Memory, IAGENTEmail import from CSV (peak RSS of the importing process)")
    print(f"   {small['received']:>9,} rows: {small['peak_rss_mb']:.1f} MB")
    print(f"   {big['received']:>9,} rows: {big['peak_rss_mb']:.1f} MB")
    print(f"   growth: {growth:+.1f} MB   (target <= 50 MB)")
    print(
        f"   end-to-end rate for {big['received']:,} rows: {big['received'] / big['duration_seconds']:,.0f} "
        f"contacts/s ({big['duration_seconds']:.1f} s, {big['sent']:,} sent, {big['rejected']} rejected)"
    )


if __name__ == "__main__":
    main()
