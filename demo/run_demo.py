"""The demo: the ``emailbr_crm_to_campaign`` pipeline against the local sandbox, two days of it.

Creates a throw-away ``AIRFLOW_HOME`` with the embedded SQLite metadata DB, generates the SQLite "CRM",
starts the sandbox (campaign lifecycle accelerated) and runs the DAG with ``dag.test()`` — the campaign
sensor defers and its trigger runs inline. Its import runs as a **daily sync**: the demo gives the import
task a ``state_path`` (the snapshot of the last successful sync, in the work directory) and ``mirror=True``.

- **Day 1** imports the whole CRM and sends the newsletter. The customers at the sandbox's opt-out domain
  unsubscribe from it; the demo then runs ``emailbr_export_unsubscribes`` (``demo/dags``), which writes
  CriaEnvio's unsubscribed contacts to ``descadastros.csv``.
- **Day 2**: about 1 % of the CRM changed, some customers left, a few joined. The same DAG runs again, with
  the export as its ``suppress`` list: it sends only the new and changed contacts, takes the ones who left
  out of the list, and subscribes nobody who opted out.

Prints what each day read, sent and removed, and stops the sandbox.

    python demo/run_demo.py [--keep]       # `make demo` runs this
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "example_dags" / "emailbr_crm_to_campaign.py"
DAG_ID = "emailbr_crm_to_campaign"
EXPORT_DAG_FILE = REPO / "demo" / "dags" / "emailbr_export_unsubscribes.py"
EXPORT_DAG_ID = "emailbr_export_unsubscribes"
IMPORT_TASK = "import_contacts"


def run_day(state_path: Path, suppress: str | None) -> Any:
    """Run the example DAG once with its import as a daily sync (``state_path``, ``mirror=True`` and the
    ``suppress`` list); return its :class:`~emailbr_sandbox.dagrun.DagRunResult`."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from emailbr_sandbox.dagrun import DagRunResult, ensure_metadata_db, load_dag

    ensure_metadata_db()
    dag = load_dag(DAG_FILE, DAG_ID)
    sync = dag.get_task(IMPORT_TASK)
    sync.state_path = str(state_path)
    sync.mirror = True
    sync.suppress = suppress
    dagrun = dag.test()
    with create_session() as session:
        task_states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances(session=session)}
        xcoms: dict[str, dict[str, Any]] = {}
        rows = session.query(XComModel).filter(XComModel.run_id == dagrun.run_id, XComModel.dag_id == DAG_ID)
        for row in rows:
            xcoms.setdefault(row.task_id, {})[row.key] = row.value
    return DagRunResult(state=str(dagrun.state), task_states=task_states, xcoms=xcoms)


def print_day(title: str, result: Any) -> None:
    """The day's task states, what its import read, sent and removed, and its campaign."""
    summary = result.xcom(IMPORT_TASK) or {}
    campaign = result.xcom("create_campaign") or {}
    stats = result.xcom("wait_for_campaign") or {}
    print()
    print(f"== {title}: {DAG_ID} {result.state.upper()} ==")
    for task_id, state in sorted(result.task_states.items()):
        print(f"   {task_id:<22} {state}")
    print(
        f"contacts: {summary.get('received', 0)} read, {summary.get('duplicates', 0)} duplicates collapsed, "
        f"{summary.get('rejected', 0)} rejected {summary.get('rejected_reasons', {})}"
    )
    print(
        f"sync    : {summary.get('new', 0)} new, {summary.get('changed', 0)} changed, "
        f"{summary.get('unchanged', 0)} unchanged -> {summary.get('sent', 0)} sent "
        f"({summary.get('created', 0)} created, {summary.get('updated', 0)} updated), "
        f"{summary.get('removed', 0)} taken out of the list (they left the CRM or opted out)"
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
    from make_crm import make_crm, mutate_crm

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
    state_path = work / "state" / "clientes-crm.snapshot"
    with SandboxServer(campaign_seconds=6, clock_speed=3600) as sandbox:
        os.environ.update(sandbox.conn_env)
        print(f"[demo] sandbox running at {sandbox.url}; day 1: running {DAG_ID} with dag.test() …")
        first = run_day(state_path, suppress=None)
        print_day("day 1", first)
        export = run_dag(EXPORT_DAG_FILE, EXPORT_DAG_ID)
        exported = export.xcom("export_unsubscribes") or {}
        unsubscribes = exported.get("path")
        print()
        print(f"== {EXPORT_DAG_ID}: {export.state.upper()} ==")
        print(f"opt-outs: {exported.get('count')} contacts unsubscribed on CriaEnvio -> {unsubscribes}")
        result = first if export.state == "success" else export
        if result.state == "success":
            day = mutate_crm(work / "crm.db")
            print()
            print(
                f"[demo] day 2: in the CRM {day['changed']} customers changed, {day['left']} left and "
                f"{day['joined']} joined; running {DAG_ID} again, suppressing the opt-outs …"
            )
            result = run_day(state_path, suppress=unsubscribes)
            print_day("day 2", result)
    day_dirs = sorted(d for d in output.glob("*") if d.is_dir())
    rejected_file = next((d / "rejected.csv" for d in day_dirs if (d / "rejected.csv").exists()), None)
    stats_file = next(
        (d / "campaign_stats.json" for d in day_dirs if (d / "campaign_stats.json").exists()), None
    )
    print()
    print(f"files   : rejected rows -> {rejected_file}")
    print(f"          campaign statistics -> {stats_file}")
    print(f"          unsubscribed contacts -> {output / 'descadastros.csv'}")
    print(f"          sync snapshot -> {state_path}")
    print(f"took {time.monotonic() - started:.0f} s")
    if not args.keep and result.state == "success":
        shutil.rmtree(work, ignore_errors=True)
        print("(work directory removed; run with --keep to keep it)")
    return 0 if result.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
