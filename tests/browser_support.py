"""Real JupyterLab in headless Debian Chromium, driven by Playwright.

One JupyterLab server per test session serves a *copy* of ``notebooks/``
(so the browser's autosave never writes outputs into the repository), with
the application exposed as ``window.jupyterapp`` so that tests can run
JupyterLab commands the way the menus do.
"""

import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
NOTEBOOKS = pathlib.Path(__file__).resolve().parent.parent / "notebooks"


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class JupyterLabServer:
    """A JupyterLab process on 127.0.0.1 serving a temporary copy of the notebooks."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.root = self.workdir / "notebooks"
        shutil.copytree(NOTEBOOKS, self.root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.process = None
        self.log_path = self.workdir / "jupyterlab.log"

    @property
    def base_url(self):
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path):
        """A URL of this server with the token attached."""
        return f"{self.base_url}{path}?token={self.token}"

    def start(self, timeout=90):
        """Start JupyterLab and wait until /lab answers 200."""
        env = dict(os.environ,
                   JUPYTER_RUNTIME_DIR=str(self.workdir / "runtime"),
                   JUPYTERLAB_WORKSPACES_DIR=str(self.workdir / "workspaces"),
                   JUPYTERLAB_SETTINGS_DIR=str(self.workdir / "user-settings"))
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root}", "--LabApp.expose_app_in_browser=True",
        ]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=env, cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited early; see {self.log_path}")
            if self.status_of("/lab") == 200:
                return self
            time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout}s; see {self.log_path}")

    def status_of(self, path):
        """HTTP status of GET path (with the token), or None if nothing answers."""
        try:
            with urllib.request.urlopen(self.url(path), timeout=5) as response:
                return response.status
        except OSError:
            return None

    def shut_down_kernels(self):
        """Shut down every kernel session (a finished notebook's listeners go with it)."""
        import json

        with urllib.request.urlopen(self.url("/api/sessions"), timeout=10) as response:
            sessions = json.load(response)
        for session in sessions:
            request = urllib.request.Request(self.url(f"/api/sessions/{session['id']}"),
                                             method="DELETE")
            urllib.request.urlopen(request, timeout=30).close()

    def stop(self):
        """Stop JupyterLab (and with it every kernel it started)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process:
            self.log.close()


# JavaScript run in the page; `window.jupyterapp` exists thanks to expose_app_in_browser.
JS_NOTEBOOK_READY = """async (name) => {
  const nb = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!nb || !nb.sessionContext || !nb.context || nb.context.path !== name) return false;
  await nb.sessionContext.ready;
  return !!(nb.sessionContext.session && nb.sessionContext.session.kernel);
}"""

JS_RUN_ALL = "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"

# Finished: every code cell ran, or the kernel is idle after a cell failed
# (Run All stops at the first error, leaving the rest unrun).
JS_ALL_CELLS_RAN = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  if (!kernel || kernel.status !== 'idle') return false;
  const cells = nb.content.widgets.filter(
      c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
  const failed = cells.some(c => c.model.outputs.toJSON().some(o => o.output_type === 'error'));
  return failed ||
      cells.every(c => c.model.executionCount !== null && c.model.executionCount !== undefined);
}"""

# Error outputs, and any traceback printed to a cell's stderr (Twisted's log of
# an error, a thread's crash): a reader sees both as "something broke".
JS_ERRORS = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const found = [];
  nb.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'error') found.push(`cell ${index}: ${out.ename}: ${out.evalue}`);
      const text = Array.isArray(out.text) ? out.text.join('') : (out.text || '');
      if (out.output_type === 'stream' && out.name === 'stderr' &&
          /Traceback|Unhandled Error/.test(text)) {
        found.push(`cell ${index}: stderr traceback: ${text.slice(0, 400)}`);
      }
    }
  });
  return found;
}"""


def open_and_run_notebook(page, server, name, timeout=180):
    """Open a notebook, run all its cells, wait for the kernel to finish; return error outputs.

    Each notebook opens in a workspace of its own, reset, so that JupyterLab
    does not restore the tabs (and kernels) of the notebooks opened before.
    """
    workspace = "".join(c for c in name if c.isalnum())
    page.goto(f"{server.base_url}/lab/workspaces/{workspace}/tree/{name}"
              f"?reset&token={server.token}")
    page.wait_for_selector(".jp-Notebook", timeout=60_000)
    page.wait_for_function(JS_NOTEBOOK_READY, arg=name, timeout=60_000, polling=500)
    page.evaluate(JS_RUN_ALL)
    page.wait_for_timeout(500)  # let the kernel go busy before polling for idle
    page.wait_for_function(JS_ALL_CELLS_RAN, timeout=timeout * 1000, polling=500)
    return page.evaluate(JS_ERRORS)
