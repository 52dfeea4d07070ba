#!/usr/bin/env python3
"""The README's two commands, with nothing but Python 3.11+ needed to run them.

    python3 tasks.py lab     # create .venv if missing, install, start JupyterLab on notebooks/
    python3 tasks.py test    # create .venv if missing, install test needs, run the whole suite
    python3 tasks.py install # only the lab command's install step (no JupyterLab started)
    python3 tasks.py hub     # (root, Linux) a local workshop JupyterHub, one server per student
    python3 tasks.py hub --prepare   # only build what the hub needs (shared env, proxy)
    python3 tasks.py hub --check     # build, run every start-up check, do not start

Why a Python script and not a Makefile: a fresh machine is promised Python,
not make.  Extra arguments after ``test`` go to pytest
(``python3 tasks.py test -k bridge``).

Environment variables for ``lab``: LAB_PORT (8888), LAB_IP (127.0.0.1),
LAB_NO_BROWSER=1 for headless use.  ``hub`` reads the LAB_HUB_* variables
listed in deploy/README.md (port, students, password, ...).  LAB_VENV puts
the environment somewhere other than .venv (the test of the install step
makes a fresh one that way).
"""

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent
VENV = pathlib.Path(os.environ.get("LAB_VENV") or ROOT / ".venv").resolve()
PYTHON = VENV / "bin" / "python"
# Extras of pyproject.toml: the lab command installs what every shipped notebook imports.
LAB_EXTRAS = ["notebooks"]
TEST_EXTRAS = ["test", "browser", *LAB_EXTRAS]
DEBIAN_PACKAGES = {  # command that proves it is installed -> Debian package
    "/usr/bin/chromium": "chromium",
    "/usr/bin/memcached": "memcached",
    "/usr/bin/memccapable": "libmemcached-tools",
    "/usr/bin/tshark": "tshark",
    "/usr/bin/redis-server": "redis-server",
}
# JupyterLab's news pop-up covers the page (and asks the network); turn it off.
LAB_OVERRIDES = {
    "@jupyterlab/apputils-extension:notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    }
}


def run(*command, **kwargs):
    """Run a command, echoing it; stop with its exit code if it fails."""
    print("+", " ".join(str(c) for c in command), flush=True)
    result = subprocess.run([str(c) for c in command], **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv():
    """Create .venv with this Python if it is missing."""
    if sys.version_info < (3, 11):
        sys.exit(f"Protocol Lab needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
        run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")


def ensure_installed(extras):
    """pip-install the project (editable) with ``extras`` unless pyproject.toml is unchanged."""
    spec = f".[{','.join(extras)}]" if extras else "."
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = VENV / f".installed-{'-'.join(extras) or 'base'}"
    if not (stamp.exists() and stamp.read_text() == digest):
        run(PYTHON, "-m", "pip", "install", "--quiet", "-e", spec, cwd=ROOT)
        stamp.write_text(digest)
    write_lab_overrides()


def write_lab_overrides(venv=VENV):
    """Install JupyterLab settings overrides into the venv (no news pop-up)."""
    settings = venv / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True, exist_ok=True)
    (settings / "overrides.json").write_text(json.dumps(LAB_OVERRIDES, indent=2))


# The real servers notebooks 05 and 08 start beside the lab's own (a subset of the above).
NOTEBOOK_PACKAGES = {path: pkg for path, pkg in DEBIAN_PACKAGES.items()
                     if pkg in ("memcached", "redis-server")}


def ensure_debian_packages(packages=DEBIAN_PACKAGES, needed_by="the peer and browser tiers"):
    """As root, apt-get install the Debian ``packages`` (path -> package) that are missing."""
    missing = sorted({pkg for path, pkg in packages.items() if not os.path.exists(path)})
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print(f"warning: missing Debian packages {missing}; install them as root "
              f"(apt-get install ...) or {needed_by} will fail.", flush=True)
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run("apt-get", "update", "-qq", env=env)
    run("apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing, env=env)


def install_command():
    """The lab command's install step: the venv, the lab and what the notebooks import."""
    ensure_venv()
    ensure_installed(LAB_EXTRAS)


def lab_command():
    """Start JupyterLab on notebooks/ (root-safe, news off, headless by variables)."""
    install_command()
    ensure_debian_packages(NOTEBOOK_PACKAGES, "the real-server cells of notebooks 05 and 08")
    command = [
        VENV / "bin" / "jupyter", "lab",
        f"--notebook-dir={ROOT / 'notebooks'}",
        f"--ip={os.environ.get('LAB_IP', '127.0.0.1')}",
        f"--port={os.environ.get('LAB_PORT', '8888')}",
    ]
    if os.environ.get("LAB_NO_BROWSER"):
        command.append("--no-browser")
    if os.geteuid() == 0:
        command.append("--allow-root")
    print("+", " ".join(map(str, command)), flush=True)
    os.execv(command[0], [str(c) for c in command])


def test_command(pytest_args):
    """Install everything the tiers need and run the whole suite (exit code of pytest)."""
    ensure_venv()
    ensure_installed(TEST_EXTRAS)
    ensure_debian_packages()
    if os.geteuid() == 0 and sys.platform.startswith("linux"):
        hub_command(["--prepare"])  # the hub tier's shared environment and proxy
    command = [PYTHON, "-m", "pytest", *(pytest_args or ["-q"])]
    print("+", " ".join(map(str, command)), flush=True)
    code = subprocess.run([str(c) for c in command], cwd=ROOT).returncode
    if code == 5:
        print("pytest collected no tests: that is a failure here.", flush=True)
        code = 1
    sys.exit(code)


# -- the classroom hub (deploy/jupyterhub) ---------------------------------------------
HUB = ROOT / ".hub"
HUB_PACKAGES = ["jupyterhub>=5,<7", "jupyterhub-idle-culler>=1.4"]
PROXY_PACKAGE = "configurable-http-proxy@5"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: every account can run it (pyenv under /root cannot)


def hub_workshop():
    """deploy/jupyterhub/workshop.py: the hub's settings and checks (stdlib only)."""
    sys.path.insert(0, str(ROOT / "deploy" / "jupyterhub"))
    import workshop
    return workshop


def system_python():
    """Debian's Python 3.11+ with venv, installed with apt-get if missing (as root)."""
    ok = os.path.exists(SYSTEM_PYTHON) and subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys, ensurepip; assert sys.version_info >= (3, 11)"],
        capture_output=True).returncode == 0
    if not ok:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "python3", "python3-venv",
            env=env)
    return SYSTEM_PYTHON


def _digest_of_lab():
    """What the shared environment was built from: packages, pyproject, lab/ and notebooks."""
    digest = hashlib.sha256(" ".join(HUB_PACKAGES).encode())
    files = [ROOT / "pyproject.toml", *sorted((ROOT / "lab").rglob("*.py")),
             *sorted((ROOT / "notebooks").glob("*.ipynb"))]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    return digest.hexdigest()


def ensure_hub_environment(prefix):
    """The shared environment every student runs: a venv from the system Python, outside /root.

    It is isolated (no Debian dist-packages: Debian's pyOpenSSL there would make
    twisted.internet.endpoints ask for service_identity), holds JupyterHub and a
    regular (not editable) install of the lab, and the notebooks to copy.
    """
    venv = prefix / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        prefix.mkdir(parents=True, exist_ok=True)
        os.chmod(prefix, 0o755)
        run(system_python(), "-m", "venv", venv)
        run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    stamp, digest = prefix / ".installed", _digest_of_lab()
    if not (stamp.exists() and stamp.read_text() == digest):
        # With the notebooks' extras: students run the same notebooks as the lab command.
        run(python, "-m", "pip", "install", "--quiet", *HUB_PACKAGES,
            f"{ROOT}[{','.join(LAB_EXTRAS)}]", cwd="/")
        # The version number does not change with every edit: reinstall the lab itself.
        run(python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", ROOT,
            cwd="/")
        # Write Twisted's dropin.cache files now, as root: students cannot write there.
        run(python, "-c", "import lab; lab.plugins().names()", cwd="/")
        notebooks = prefix / "notebooks"
        shutil.rmtree(notebooks, ignore_errors=True)
        notebooks.mkdir()
        for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
            shutil.copy(notebook, notebooks / notebook.name)
        write_lab_overrides(venv)
        run("chmod", "-R", "a+rX", prefix)
        stamp.write_text(digest)
    return python


def ensure_proxy():
    """configurable-http-proxy from the npm registry, in the project's .hub/proxy."""
    binary = HUB / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
    if binary.exists():
        return binary
    if not (shutil.which("npm") and shutil.which("node")):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run("apt-get", "update", "-qq", env=env)
        run("apt-get", "install", "-y", "-qq", "--no-install-recommends", "nodejs", "npm", env=env)
    (HUB / "proxy").mkdir(parents=True, exist_ok=True)
    run("npm", "install", "--prefix", HUB / "proxy", "--no-audit", "--no-fund", "--silent",
        PROXY_PACKAGE)
    return binary


def hub_environment():
    """os.environ with the hub's defaults filled in (state in .hub, a trial roster, a password)."""
    env = dict(os.environ)
    env.setdefault("LAB_HUB_STATE", str(HUB / "state"))
    if not env.get("LAB_HUB_STUDENTS") and not env.get("LAB_HUB_ROSTER"):
        env["LAB_HUB_STUDENTS"] = "student1 student2 student3"
    if not env.get("LAB_HUB_PASSWORD"):
        import secrets
        state = pathlib.Path(env["LAB_HUB_STATE"])
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        saved = state / "workshop-password"
        if not saved.exists():
            saved.write_text(secrets.token_urlsafe(12))
            saved.chmod(0o600)
        env["LAB_HUB_PASSWORD"] = saved.read_text().strip()
    return env


def hub_command(args):
    """Build what the hub needs if missing, check everything, then become JupyterHub."""
    workshop = hub_workshop()
    try:
        workshop.check_platform()
        workshop.check_root()
        env = hub_environment()
        hub = workshop.settings(env)
        for name in (*hub.students, *hub.admins):
            workshop.check_account_name(name)
    except workshop.HubConfigError as error:
        sys.exit(str(error.code))
    ensure_hub_environment(hub.env)
    ensure_proxy()
    if "--prepare" in args:
        return
    try:
        workshop.preflight(hub)
    except workshop.HubConfigError as error:
        sys.exit(str(error.code))
    if "--check" in args:
        print("the hub's settings pass every start-up check", flush=True)
        return
    url = f"http://{hub.ip}:{hub.port}/"
    print(f"Protocol Lab hub on {url}\n  students: {' '.join(hub.students)}\n"
          f"  workshop password: {hub.password}\n  stop with Ctrl-C (stops every student's "
          "server)", flush=True)
    jupyterhub = hub.env / "venv" / "bin" / "jupyterhub"
    command = [jupyterhub, "-f", ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"]
    print("+", " ".join(map(str, command)), flush=True)
    hub.state.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chdir(hub.state)
    os.execve(command[0], [str(c) for c in command], env)


def main(argv):
    """Dispatch ``lab``, ``test``, ``install`` or ``hub``."""
    if not argv or argv[0] not in ("lab", "test", "install", "hub"):
        sys.exit(__doc__)
    if argv[0] == "lab":
        lab_command()
    elif argv[0] == "install":
        install_command()
    elif argv[0] == "hub":
        hub_command(argv[1:])
    else:
        test_command(argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
