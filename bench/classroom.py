"""What one student costs a classroom host: memory of a kernel and a server, CPU while the tour runs.

    .venv/bin/python bench/classroom.py [--rounds R] [--python PATH]

Each round, in rotating order so machine noise hits them alike:

* **bare kernel**: a fresh ipykernel that ran ``1`` (the baseline);
* **lab kernel**: a fresh ipykernel after ``import lab; lab.start()``, and
  again after every code cell of ``notebooks/00-tour.ipynb`` ran in it, with
  the CPU time the kernel used (user + system, its children included) over
  the wall time of the tour: the cores one student's tour keeps busy; and
  the same over the next 10 s, the tour left open (its live views refresh);
* **server**: a Jupyter server with JupyterLab (what ``jupyterhub-singleuser``
  runs), idle after its first answer;

and the CPU seconds a server and a kernel take to start (a class logging in at once).

Memory is read from ``/proc/PID/smaps_rollup``: RSS (what the process maps
in RAM) and USS (its private pages: what one more student adds when the
libraries' shared pages are already in RAM).  ``--python`` runs kernels and
server with another interpreter, e.g. the hub's shared environment
``/opt/protocol-lab/venv/bin/python``.  Linux only.  Prints medians and the
spread (min-max) over the rounds, and the lab kernel's ratios to the bare one.
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import nbformat
from jupyter_client import KernelManager

from _shared import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOUR = ROOT / "notebooks" / "00-tour.ipynb"
TICKS = __import__("os").sysconf("SC_CLK_TCK")
IDLE_SECONDS = 10.0


def memory(pid):
    """``(rss, uss)`` in MiB of one process, from smaps_rollup."""
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    uss = fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)
    return fields["Rss"] / 1024, uss / 1024


def cpu_seconds(pid):
    """User + system CPU seconds of a process and its waited-for children."""
    stat = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in stat[11:15]) / TICKS


class Kernel:
    """A fresh ipykernel started with ``python``, run cell by cell; errors raise."""

    def __init__(self, python, cwd):
        self.manager = KernelManager(kernel_name="python3")
        self.manager.kernel_cmd = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        self.manager.start_kernel(cwd=str(cwd), stderr=subprocess.DEVNULL)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=120)

    @property
    def pid(self):
        """The kernel process's id."""
        return self.manager.provisioner.process.pid

    def run(self, code, timeout=180):
        """Execute ``code``; raise if it ends in an error."""
        reply = self.client.execute_interactive(code, timeout=timeout,
                                                output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell failed: {reply['content'].get('ename')}: "
                               f"{reply['content'].get('evalue')}\n{code[:200]}")

    def stop(self):
        """Shut the kernel down."""
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=False)


def bare_kernel(python, workdir):
    """Memory of a kernel that ran only ``1``."""
    kernel = Kernel(python, workdir)
    try:
        kernel.run("1")
        started = cpu_seconds(kernel.pid)
        time.sleep(0.5)
        return {"bare kernel": memory(kernel.pid), "kernel start cpu": started}
    finally:
        kernel.stop()


def lab_kernel(python, workdir):
    """Memory after lab.start() and after the tour; the tour's CPU seconds per wall second."""
    tour = [c.source for c in nbformat.read(TOUR, as_version=4).cells if c.cell_type == "code"]
    kernel = Kernel(python, workdir)
    try:
        kernel.run("import lab\nlab.start()")
        time.sleep(0.5)
        started = memory(kernel.pid)
        cpu, wall = cpu_seconds(kernel.pid), time.monotonic()
        for source in tour:
            kernel.run(source)
        cpu, wall = cpu_seconds(kernel.pid) - cpu, time.monotonic() - wall
        idle = cpu_seconds(kernel.pid)
        time.sleep(IDLE_SECONDS)  # the tour's live views keep refreshing while it sits open
        idle = cpu_seconds(kernel.pid) - idle
        return {"lab.start()": started, "after the tour": memory(kernel.pid),
                "tour cpu": (cpu, wall), "idle cpu": (idle, IDLE_SECONDS)}
    finally:
        kernel.stop()


def server(python, workdir):
    """Memory of an idle Jupyter server with JupyterLab, after its first answer."""
    port = free_port()
    command = [python, "-m", "jupyter_server", "--no-browser", "--allow-root",
               f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1",
               "--IdentityProvider.token=bench", f"--ServerApp.root_dir={workdir}"]
    with subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    url = f"http://127.0.0.1:{port}/lab?token=bench"
                    with urllib.request.urlopen(url, timeout=5):
                        break
                except OSError:
                    time.sleep(0.3)
            started = cpu_seconds(proc.pid)
            time.sleep(1.0)
            return {"server (JupyterLab)": memory(proc.pid), "server start cpu": started}
        finally:
            proc.terminate()
            proc.wait(30)


def spread(values, digits=1):
    """``median (min-max)``."""
    return (f"{statistics.median(values):7.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})")


def main():
    """Rounds over the three cases in rotating order; print medians, spreads and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("bench/classroom.py reads /proc: run it on Linux, where the classroom runs.")
    cases = [bare_kernel, lab_kernel, server]
    figures = {}
    with tempfile.TemporaryDirectory() as workdir:
        for round_number in range(args.rounds):
            order = cases[round_number % 3:] + cases[:round_number % 3]
            for case in order:
                for name, value in case(args.python, workdir).items():
                    figures.setdefault(name, []).append(value)
    print(f"one student, {args.rounds} rounds, python {args.python}")
    print(f"  {'':22} {'RSS MiB median (range)':>26} {'USS MiB median (range)':>26}")
    for name in ("bare kernel", "lab.start()", "after the tour", "server (JupyterLab)"):
        rss, uss = zip(*figures[name])
        print(f"  {name:22} {spread(rss):>26} {spread(uss):>26}")
    cpu = [c / w for c, w in figures["tour cpu"]]
    walls = [w for _, w in figures["tour cpu"]]
    print(f"  tour: {spread(walls)} s wall, {spread(cpu, 2)} cores busy on average")
    print(f"  starting: a server {spread(figures['server start cpu'], 2)} CPU s, a kernel "
          f"{spread(figures['kernel start cpu'], 2)} CPU s")
    idle = [c / w for c, w in figures["idle cpu"]]
    print(f"  tour left open {IDLE_SECONDS:.0f} s: {spread(idle, 3)} cores busy on average")
    bare = [r for r, _ in figures["bare kernel"]]
    for name in ("lab.start()", "after the tour"):
        ratios = [r / b for (r, _), b in zip(figures[name], bare)]
        print(f"  ratio {name} / bare kernel (RSS): {spread(ratios, 2)}")
    kernel = statistics.median(r for r, _ in figures["after the tour"])
    serve = statistics.median(r for r, _ in figures["server (JupyterLab)"])
    print(f"  per student with two notebooks open: server + 2 kernels = "
          f"{serve + 2 * kernel:.0f} MiB RSS")


if __name__ == "__main__":
    main()
