"""Screenshot the Airflow 3 approval page ("Required Actions") of ``emailbr_campaign_with_approval``.

Starts the sandbox and a real ``airflow api-server`` on a throw-away ``AIRFLOW_HOME`` (as
``take_screenshots.py`` does: SQLite, SimpleAuthManager with all admins, no login), runs the example DAG with
``dag.test()`` in a child process sharing that metadata database until its ``approve`` task waits for input,
opens the task's approval page in Debian's headless Chromium, checks that the subject, the body and the
Approve/Reject buttons are on the screen, and saves it as ``<out>/campaign-approval.png``. The approval is
then answered "Reject" through the REST API (``PATCH …/hitlDetails``), so the run ends without a campaign.

    python docs/screenshots/take_approval_screenshot.py              # into docs/images/
    python docs/screenshots/take_approval_screenshot.py --out /tmp/shots

Needs the same as ``take_screenshots.py``: the provider and the sandbox installed, Selenium, and Debian's
``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from take_screenshots import airflow_env, api_server, chromium, ensure_browser, free_port, log

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "docs" / "images"
EXAMPLE = REPO / "example_dags" / "emailbr_campaign_with_approval.py"
DAG_ID = "emailbr_campaign_with_approval"
TASK_ID = "approve"
#: The child process: ``dag.test()`` of the example DAG (it waits for the approval, then ends).
RUN_DAG = (
    "import sys; from emailbr_sandbox.dagrun import run_dag; "
    "result = run_dag(sys.argv[1], sys.argv[2]); print('run ended', result.state, flush=True)"
)


def api_json(url: str, method: str = "GET", body: dict[str, Any] | None = None) -> Any:
    """One call to the API server (all admins: no token needed)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=15) as answer:
        return json.loads(answer.read() or b"null")


def waiting_run(base_url: str, timeout: float, child: subprocess.Popen[bytes]) -> str:
    """The run id once the approval task waits for input (its HITL detail exists, without a response)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"the DAG run ended ({child.returncode}) before the approval was asked")
        try:
            details = api_json(f"{base_url}/api/v2/dags/{DAG_ID}/dagRuns/~/hitlDetails")["hitl_details"]
        except OSError:
            details = []
        for detail in details:
            if detail["task_instance"]["task_id"] == TASK_ID and not detail.get("response_received"):
                return detail["task_instance"]["dag_run_id"]
        time.sleep(1)
    raise RuntimeError(f"no approval was asked within {timeout:.0f} s")


def shoot(driver: Any, base_url: str, run_id: str, target: Path, timeout: float) -> Path:
    """Open the approval page, check what it shows, save it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.set_window_size(1280, 1100)
    driver.get(f"{base_url}/dags/{DAG_ID}/runs/{run_id}/tasks/{TASK_ID}/required_actions")
    for text in ("Agendar a campanha", "Público", "Approve", "Reject"):
        wait.until(
            ec.visibility_of_element_located((By.XPATH, f"//*[contains(normalize-space(), '{text}')]"))
        )
    driver.execute_script("document.activeElement.blur();")
    time.sleep(1.0)  # let the page settle (fonts, layout)
    target.parent.mkdir(parents=True, exist_ok=True)
    if not driver.save_screenshot(str(target)):
        raise RuntimeError(f"the screenshot could not be written to {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for campaign-approval.png")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each step")
    parser.add_argument("--install-browser", action="store_true", help="apt-get install chromium if missing")
    args = parser.parse_args(argv)

    from emailbr_sandbox import SandboxServer

    ensure_browser(args.install_browser)
    home = Path(tempfile.mkdtemp(prefix="emailbr-approval-shot-"))
    sandbox = SandboxServer(campaign_seconds=1, clock_speed=3600).start()
    child: subprocess.Popen[bytes] | None = None
    try:
        with (
            api_server(home / "airflow", free_port(), args.timeout) as url,
            chromium(home / "chromium") as driver,
        ):
            env = {
                **airflow_env(home / "airflow"),
                **sandbox.conn_env,
                "AIRFLOW_VAR_EMAILBR_CONTACTS_CSV": str(EXAMPLE.parent / "data" / "clientes_newsletter.csv"),
                "AIRFLOW_VAR_EMAILBR_OUTPUT_DIR": str(home / "output"),
                "AIRFLOW_VAR_EMAILBR_AIRFLOW_URL": url,
            }
            child_log = (home / "dag-test.log").open("wb")
            child = subprocess.Popen(
                [sys.executable, "-c", RUN_DAG, str(EXAMPLE), DAG_ID],
                env=env,
                stdout=child_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log("dag.test() started; waiting for the approval to be asked")
            run_id = waiting_run(url, args.timeout, child)
            target = shoot(driver, url, run_id, args.out / "campaign-approval.png", args.timeout)
            log(f"saved {target}")
            api_json(
                f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}/-1/hitlDetails",
                "PATCH",
                {"chosen_options": ["Reject"], "params_input": {}},
            )
            child.wait(timeout=args.timeout)
            log(f"the run ended after the rejection (exit {child.returncode})")
            if sandbox.client.state("criaenvio")["campaigns"]:
                raise RuntimeError("a rejected run created a campaign")
    finally:
        if child is not None and child.poll() is None:
            os.killpg(child.pid, 15)
            child.wait(timeout=30)
        sandbox.stop()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
