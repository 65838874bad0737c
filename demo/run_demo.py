"""The demo: the ``emailbr_crm_to_campaign`` pipeline against the local sandbox, start to finish.

Creates a throw-away ``AIRFLOW_HOME`` with the embedded SQLite metadata DB, generates the SQLite "CRM",
starts the sandbox (campaign lifecycle accelerated), runs the DAG with ``dag.test()`` — the campaign sensor
defers and its trigger runs inline — prints a short summary and stops the sandbox.

    python demo/run_demo.py [--keep]       # `make demo` runs this
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "example_dags" / "emailbr_crm_to_campaign.py"
DAG_ID = "emailbr_crm_to_campaign"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the work directory (AIRFLOW_HOME, outputs)")
    args = parser.parse_args()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="emailbr-demo-"))
    output = work / "output"
    # Airflow reads its configuration when first imported: set everything before that.
    os.environ.update(
        {
            "AIRFLOW_HOME": str(work / "airflow"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(work / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
            "AIRFLOW_VAR_EMAILBR_OUTPUT_DIR": str(output),
            "AIRFLOW_CONN_CRM_DB": json.dumps({"conn_type": "sqlite", "host": str(work / "crm.db")}),
        }
    )
    sys.path.insert(0, str(REPO / "demo"))
    from make_crm import make_crm

    from emailbr_sandbox import SandboxServer
    from emailbr_sandbox.dagrun import ensure_metadata_db, run_dag

    crm = make_crm(work / "crm.db")
    print(
        f"[demo] CRM generated: {crm['rows']} rows ({crm['invalid']} invalid e-mails, "
        f"{crm['duplicates']} duplicates) in {work / 'crm.db'}"
    )
    print("[demo] migrating the SQLite metadata DB …")
    ensure_metadata_db()
    # one sandbox hour passes in one real second, and a campaign takes 6 s to go out
    with SandboxServer(campaign_seconds=6, clock_speed=3600) as sandbox:
        os.environ.update(sandbox.conn_env)
        print(f"[demo] sandbox running at {sandbox.url}; running {DAG_ID} with dag.test() …")
        result = run_dag(DAG_FILE, DAG_ID)
    summary = result.xcom("import_contacts") or {}
    campaign = result.xcom("create_campaign") or {}
    stats = result.xcom("wait_for_campaign") or {}
    day_dirs = sorted(output.glob("*"))
    rejected_file = next((d / "rejected.csv" for d in day_dirs if (d / "rejected.csv").exists()), None)
    stats_file = next(
        (d / "campaign_stats.json" for d in day_dirs if (d / "campaign_stats.json").exists()), None
    )
    reasons = {}
    if rejected_file:
        with rejected_file.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    print()
    print(f"== {DAG_ID}: {result.state.upper()} ==")
    for task_id, state in sorted(result.task_states.items()):
        print(f"   {task_id:<22} {state}")
    print(
        f"contacts: {summary.get('received', 0)} read, {summary.get('sent', 0)} imported "
        f"({summary.get('created', 0)} created, {summary.get('updated', 0)} updated), "
        f"{summary.get('duplicates', 0)} duplicates collapsed, {summary.get('rejected', 0)} rejected "
        f"{reasons}"
    )
    print(
        f"campaign: {campaign.get('campaign_id')} (code {campaign.get('codigo')}) scheduled for "
        f"{campaign.get('scheduled_for')}, {campaign.get('total_contacts')} contacts"
    )
    if stats:
        print(
            f"result  : {stats.get('status')}, {stats.get('total_enviado')} sent, "
            f"{stats.get('rejeitados')} bounced, open rate {stats.get('taxa_de_abertura')}%, "
            f"click rate {stats.get('taxa_de_clique')}%"
        )
    print(f"files   : rejected rows -> {rejected_file}")
    print(f"          campaign statistics -> {stats_file}")
    print(f"took {time.monotonic() - started:.0f} s")
    if not args.keep and result.state == "success":
        shutil.rmtree(work, ignore_errors=True)
        print("(work directory removed; run with --keep to keep it)")
    return 0 if result.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
