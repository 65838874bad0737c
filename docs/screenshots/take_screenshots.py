"""Screenshot the real Airflow 3 "Add Connection" form for each of the provider's connection types.

Starts a real ``airflow api-server`` on a throw-away ``AIRFLOW_HOME`` (SQLite metadata database,
SimpleAuthManager with ``[core] simple_auth_manager_all_admins = True``, so no login is needed), drives
Debian's headless Chromium through ``/usr/bin/chromedriver`` with Selenium, and for every connection type
declared by ``get_provider_info()``: opens Admin → Connections → Add Connection, picks the type in the type
picker, opens the "Extra Fields" section, checks that every label and placeholder the provider declares is on
the screen, and saves the dialog as ``<out>/<conn_type>.png``.

    python docs/screenshots/take_screenshots.py                 # into docs/images/connections/
    python docs/screenshots/take_screenshots.py --out /tmp/shots  # CI smoke check

Needs the provider installed in the running Python (``pip install -e ".[docs]"``), Selenium, and
Debian's ``chromium`` and ``chromium-driver`` packages (``--install-browser`` runs ``apt-get`` for them).
Selenium is given the driver's path explicitly, so Selenium Manager never downloads anything. Exits
non-zero when a field is missing from a form, so it doubles as a check that the forms render.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "docs" / "images" / "connections"
sys.path.insert(0, str(REPO))  # the throw-away api-server of the tests (tests/apiserver.py)

from tests.apiserver import api_server  # noqa: E402 - needs the repository on the path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_INSTALL = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"]
#: Flags that keep Chromium from reaching for the network (it hangs on refused connections otherwise).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
WIDTH = 1280
#: Standard form fields, as the UI names them, in the order the form shows them.
STANDARD_FIELDS = ("description", "host", "schema", "login", "password", "port")


def log(message: str) -> None:
    print(f"[screenshots] {message}", flush=True)


def ensure_browser(install: bool) -> None:
    """Make sure Debian's Chromium and its driver are there, installing them when asked."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if not install:
        sys.exit(
            f"{CHROMIUM} or {CHROMEDRIVER} is missing. Install Debian's packages with\n"
            f"    sudo apt-get update && sudo {' '.join(APT_INSTALL)}\n"
            "or run this script again with --install-browser (as root)."
        )
    prefix = [] if os.geteuid() == 0 else ["sudo"]
    log("installing chromium and chromium-driver with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update"], check=True, env=env)
    subprocess.run([*prefix, *APT_INSTALL], check=True, env=env)


@contextmanager
def chromium(profile: Path) -> Iterator[Any]:
    """A headless Debian Chromium driven through the distribution's chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--window-size={WIDTH},1600", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def expected_form(conn: dict[str, Any]) -> tuple[dict[str, str | None], list[str]]:
    """``({standard label: placeholder}, [extra field labels])`` the form must show for ``conn``."""
    behaviour = conn.get("ui-field-behaviour", {})
    hidden = set(behaviour.get("hidden-fields", []))
    relabel = behaviour.get("relabeling", {})
    placeholders = behaviour.get("placeholders", {})
    default_labels = {
        "description": "Description",
        "host": "Host",
        "schema": "Schema",
        "login": "Login",
        "password": "Password",
        "port": "Port",
    }
    standard = {
        relabel.get(name, default_labels[name]): placeholders.get(name)
        for name in STANDARD_FIELDS
        if name not in hidden
    }
    extras = [field["label"] for field in conn.get("conn-fields", {}).values()]
    return standard, extras


def shoot(driver: Any, base_url: str, conn: dict[str, Any], out: Path, timeout: float) -> Path:
    """Fill the Add Connection dialog for ``conn``, check its fields, save two PNGs of the dialog.

    ``<conn_type>.png`` shows the form as it opens (standard fields), ``<conn_type>-extras.png`` the
    "Extra Fields" section. Returns the first.
    """
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    conn_type, hook_name = conn["connection-type"], conn["hook-name"]
    module, _, cls = conn["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), cls)

    driver.set_window_size(WIDTH, 1600)
    driver.get(f"{base_url}/connections")
    add = wait.until(ec.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Add Connection']")))
    add.click()
    dialog = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
    dialog.find_element(By.CSS_SELECTOR, "input[name=connection_id]").send_keys(hook.default_conn_name)
    picker = dialog.find_element(By.CSS_SELECTOR, "input[role=combobox]")
    picker.send_keys(hook_name)
    wait.until(
        ec.visibility_of_element_located((By.XPATH, f"//*[@role='option'][normalize-space()='{hook_name}']"))
    ).click()
    standard, extras = expected_form(conn)
    for label in standard:
        wait.until(
            ec.visibility_of_element_located(
                (By.XPATH, f"//*[@role='dialog']//label[normalize-space()='{label}']")
            )
        )
    shown = {
        p for p in (i.get_attribute("placeholder") for i in dialog.find_elements(By.TAG_NAME, "input")) if p
    }
    missing = [p for p in standard.values() if p and p not in shown]
    if missing:
        raise AssertionError(f"{conn_type}: placeholders missing from the form: {missing}")
    standard_png = _save_dialog(driver, out / f"{conn_type}.png")
    # The form's sections are an accordion with one section open at a time: a second picture shows the extras.
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Extra Fields']").click()
    for label in extras:
        wait.until(
            ec.visibility_of_element_located(
                (By.XPATH, f"//*[@role='dialog']//label[normalize-space()='{label}']")
            )
        )
    extras_png = _save_dialog(driver, out / f"{conn_type}-extras.png")
    log(
        f"{conn_type}: {standard_png.name}, {extras_png.name} "
        f"({len(standard)} standard and {len(extras)} extra fields checked)"
    )
    return standard_png


def _save_dialog(driver: Any, target: Path) -> Path:
    """Grow the window to the dialog's height and save the dialog alone as a PNG."""
    from selenium.webdriver.common.by import By

    driver.execute_script("document.activeElement.blur();")  # no focus ring or open menu in the picture
    time.sleep(0.6)  # let the accordion finish its animation
    height = driver.execute_script(
        "return document.querySelector('[role=dialog]').getBoundingClientRect().bottom;"
    )
    driver.set_window_size(WIDTH, max(1000, int(height) + 240))
    time.sleep(0.3)
    if not driver.find_element(By.CSS_SELECTOR, "[role=dialog]").screenshot(str(target)):
        raise RuntimeError(f"the screenshot could not be written to {target}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for <conn_type>.png")
    parser.add_argument("--port", type=int, default=0, help="API server port (default: a free one)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the server or a field"
    )
    parser.add_argument("--only", action="append", help="connection type to shoot (repeatable)")
    parser.add_argument("--keep-home", action="store_true", help="keep the throw-away AIRFLOW_HOME")
    parser.add_argument(
        "--install-browser", action="store_true", help="apt-get install chromium chromium-driver if missing"
    )
    args = parser.parse_args(argv)

    from airflow_provider_emailbr.get_provider_info import get_provider_info

    ensure_browser(args.install_browser)
    started = time.monotonic()
    conns = [
        c
        for c in get_provider_info()["connection-types"]
        if not args.only or c["connection-type"] in args.only
    ]
    if not conns:
        parser.error(f"no connection type matches {args.only}")
    args.out.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="emailbr-screens-"))
    try:
        with (
            api_server(
                home / "airflow",
                port=args.port or None,
                timeout=args.timeout,
                extra_env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"},
            ) as server,
            chromium(home / "chromium") as driver,
        ):
            for conn in conns:
                shoot(driver, server.url, conn, args.out, args.timeout)
    finally:
        if args.keep_home:
            log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    log(
        f"{2 * len(conns)} screenshots of {len(conns)} connection types in {args.out} "
        f"in {time.monotonic() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
