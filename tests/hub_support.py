"""A local workshop JupyterHub for the hub tier, started the README's way (``python3 tasks.py hub``).

The hub runs from ``deploy/jupyterhub/jupyterhub_config.py`` with throwaway
student accounts (created by the hub on first login, removed here), a
random workshop password, free ports and a temporary state folder.  The
helpers read the kernel's own tables (``/proc``) to say which processes and
listening sockets each account still has.
"""

import os
import pathlib
import pwd
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from tests.browser_support import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "deploy" / "jupyterhub"))
import workshop  # noqa: E402  (deploy/jupyterhub, added just above)

STUDENTS = ("labtest-a", "labtest-b", "labtest-c")

# Runs code in the notebook's kernel (the page's current notebook) and returns its output text.
JS_EXECUTE = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, store_history: false});
  const out = [];
  future.onIOPub = (msg) => {
    const kind = msg.header.msg_type;
    if (kind === 'stream') out.push(msg.content.text);
    if (kind === 'error') out.push(`ERROR ${msg.content.ename}: ${msg.content.evalue}`);
    if (kind === 'execute_result') out.push(msg.content.data['text/plain']);
  };
  await future.done;
  return out.join('');
}"""

# Stream output on stderr, per cell: "error output" as a learner sees it.
JS_STDERR = """() => {
  const nb = window.jupyterapp.shell.currentWidget;
  const found = [];
  nb.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    for (const out of cell.model.outputs.toJSON()) {
      if (out.output_type === 'stream' && out.name === 'stderr') found.push(`cell ${index}: ${out.text}`);
    }
  });
  return found;
}"""


def remove_test_accounts():
    """Delete the test students' accounts (and homes) if a run left them behind."""
    for name in STUDENTS:
        kill_processes_of(uid_of(name))
        workshop.remove_account(name)


def uid_of(name):
    """The uid of account ``name``, or None if it does not exist."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:
        return None


def processes_of(uid):
    """``{pid: command line}`` of the processes running as ``uid``.

    Zombies are left out: they have exited and hold nothing but their pid
    until a parent reaps them, which in a container whose PID 1 does not
    reap may be never.
    """
    found = {}
    if uid is None:
        return found
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            real = next(l for l in status.splitlines() if l.startswith("Uid:")).split()[1]
            state = next(l for l in status.splitlines() if l.startswith("State:")).split()[1]
            if int(real) == uid and state not in ("Z", "X"):
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(
                    b"\0", b" ").decode(errors="replace").strip()
        except (OSError, StopIteration):
            continue
    return found


def kill_processes_of(uid):
    """SIGKILL whatever still runs as ``uid`` (teardown after a failure only)."""
    for pid in processes_of(uid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def listening_ports_of(uid):
    """The TCP ports sockets of ``uid`` listen on (from /proc/net/tcp and tcp6)."""
    ports = set()
    for name in ("tcp", "tcp6"):
        with open(f"/proc/net/{name}") as table:
            next(table)
            for line in table:
                fields = line.split()
                if fields[3] == "0A" and int(fields[7]) == uid:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class Hub:
    """``python3 tasks.py hub`` on free ports with the test roster; stopped with SIGTERM like Ctrl-C."""

    def __init__(self, workdir):
        self.workdir = pathlib.Path(workdir)
        self.port = free_port()
        self.password = secrets.token_urlsafe(12)
        self.log_path = self.workdir / "hub.log"
        self.process = None
        self.env = dict(
            os.environ, LAB_HUB_PORT=str(self.port), LAB_HUB_PROXY_API_PORT=str(free_port()),
            LAB_HUB_INTERNAL_PORT=str(free_port()), LAB_HUB_STATE=str(self.workdir / "state"),
            LAB_HUB_STUDENTS=" ".join(STUDENTS), LAB_HUB_PASSWORD=self.password,
            LAB_HUB_EXPOSE_APP="1")

    @property
    def url(self):
        """http://127.0.0.1:PORT"""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=240):
        """Start the hub and wait until its API answers (building its environment first if needed)."""
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "tasks.py"), "hub"], env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.close()
                raise RuntimeError(f"the hub exited early: {self.log_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/hub/api/", timeout=5) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the hub did not answer within {timeout}s: {self.log_text()[-2000:]}")

    def log_text(self):
        """What the hub has logged so far."""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout=90):
        """SIGTERM the hub (it stops every student's server and the proxy); return its exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if not self.log.closed:
            self.log.close()
        return self.process.returncode
