"""A real `jupyter lab` on 127.0.0.1 and the MLOps panel driven through Debian's Chromium (page objects)."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, sync_playwright

from tests.helpers import papermill

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "ui"
REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def project_env(project: Path) -> dict[str, str]:
    """The environment of a process working on `project`'s embedded store."""
    env = {**os.environ, "MLOPS_NB_PROJECT": str(project)}
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def git_project(root: Path, notebook: Path, ui_url: str) -> Path:
    """A git project holding `notebook`, committed (runs record the commit), with an MLflow UI URL set.

    Returns the notebook's copy."""
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "0"\n\n[tool.mlops_nb]\nui_url = "{ui_url}"\n', encoding="utf-8"
    )
    copy = root / notebook.name
    shutil.copy(notebook, copy)
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run(
            ["git", "-c", "user.name=ui", "-c", "user.email=ui@test", *args],
            cwd=root,
            check=True,
            capture_output=True,
        )
    return copy


def execute_notebooks(project: Path, notebook: Path, runs: list[dict[str, object]]) -> None:
    """Execute `notebook` once per parameter set through papermill (real kernels, two at a time)."""
    out = project / "executed"
    out.mkdir(exist_ok=True)
    env = {"MLOPS_NB_PROJECT": str(project), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(papermill, notebook, out / f"{notebook.stem}-{i}.ipynb", params=params, env=env)
            for i, params in enumerate(runs)
        ]
        for future in done:
            future.result()


def labextensions(home: Path) -> list[str]:
    """Server options that make this checkout's extension build (`jlpm build`) win over an installed one."""
    build = REPO / "mlops_nb" / "labextension"
    if not (build / "package.json").is_file():
        return []
    # one folder per checkout: worktrees share a project's home (the bench store), and a link left by
    # another checkout would serve that checkout's build
    folder = home / "labextensions" / hashlib.sha256(str(build).encode()).hexdigest()[:12]
    folder.mkdir(parents=True, exist_ok=True)
    link = folder / "mlops-nb"
    if not link.is_symlink():
        link.symlink_to(build, target_is_directory=True)
    return [f"--LabApp.extra_labextensions_path={folder}"]


class JupyterLab:
    """`jupyter lab` on a free port with a random token and isolated settings; stopped by its pid."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.home = project.parent / f"{project.name}-jupyter"
        settings = self.home / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))
        env = project_env(project)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.home / "config"),
            JUPYTERLAB_SETTINGS_DIR=str(self.home / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.home / "workspaces"),
        )
        self.log = (self.home / "server.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--ip=127.0.0.1",
                f"--port={self.port}",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={project}",
                "--allow-root",
                *labextensions(self.home),
            ],
            cwd=project,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/lab?token={self.token}"

    def tree_url(self, path: str) -> str:
        """The URL opening `path` (relative to the project) in JupyterLab."""
        return f"http://127.0.0.1:{self.port}/lab/tree/{path}?token={self.token}"

    def _wait(self) -> None:
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited; see {self.log.name}")
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{self.port}/mlops-nb/api/settings",
                    headers={"Authorization": f"token {self.token}"},
                )
                with urllib.request.urlopen(request, timeout=5):
                    return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer within 90 s; see {self.log.name}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get update && apt-get install -y chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class MlopsPanel:
    """Page object of the MLOps sidebar and the views it opens."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def open(self, lab: JupyterLab, url: str | None = None) -> None:
        self.page.goto(url or lab.url)
        self.page.wait_for_selector("#jp-main-dock-panel", timeout=90_000)
        # The splash screen goes once the layout is restored: a click before that can be undone by it.
        self.page.wait_for_selector("#jupyterlab-splash", state="detached", timeout=90_000)
        tab = self.page.locator(".jp-SideBar [data-id='mlops-nb-panel']")
        tab.wait_for(timeout=30_000)
        body = self.page.locator(".mlops-nb-panel-body")
        deadline = time.monotonic() + 60
        while not body.is_visible():
            if time.monotonic() > deadline:
                raise TimeoutError("the MLOps panel did not open within 60 s")
            # Click only a tab that is not current: clicking the current one collapses the sidebar.
            if "lm-mod-current" not in (tab.get_attribute("class") or ""):
                tab.click()
            self.page.wait_for_timeout(500)
        self.widen()

    def widen(self, width: int = 640) -> None:
        """Drag the left sidebar's split handle so the runs table has room."""
        handle = self.page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
        box = handle.bounding_box()
        if box:
            self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            self.page.mouse.down()
            self.page.mouse.move(width, box["y"] + box["height"] / 2, steps=5)
            self.page.mouse.up()

    def section(self, name: str) -> None:
        """Show one of the panel's sections: experiments, models, releases or schedules."""
        self.page.locator(f".mlops-nb-tab[data-section='{name}']").click()

    def choose_experiment(self, name: str) -> None:
        self.page.locator(".mlops-nb-experiment", has_text=name).click()

    def rows(self) -> Locator:
        return self.page.locator(".mlops-nb-run-row")

    def row(self, name: str) -> Locator:
        name_cell = self.page.locator(".mlops-nb-run-name", has_text=name)
        return self.page.locator(".mlops-nb-run-row", has=name_cell)

    def select(self, *names: str) -> None:
        for name in names:
            self.row(name).locator(".mlops-nb-select-cell").click()

    def compare(self) -> None:
        self.page.locator(".mlops-nb-compare-button").click()

    def wait_for_charts(self, timeout: float = 60_000) -> None:
        for chart in ("parcoords", "curves", "scatter"):
            self.page.wait_for_selector(f".mlops-nb-{chart} [data-drawn='true']", timeout=timeout)

    def screenshot(self, name: str, full_page: bool = False) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path
