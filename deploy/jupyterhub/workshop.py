"""The workshop hub's parts: settings, checks at start, accounts, notebooks, the authenticator.

Read by ``jupyterhub_config.py`` (inside the hub's environment) and by
``tasks.py hub`` (any Python 3.11+, before JupyterHub is even installed), so
nothing at module level imports JupyterHub: the authenticator class is made
by :func:`workshop_authenticator` when the hub asks for it.

Every setting comes from the environment, so ``python3 tasks.py hub`` and a
teacher's own ``jupyterhub -f deploy/jupyterhub/jupyterhub_config.py`` read
the same ones (the table in ``deploy/README.md``).
"""

import grp
import hmac
import os
import pathlib
import pwd
import re
import shutil
import socket
import subprocess
import sys
from typing import NamedTuple

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
# What a student's account name may be: Debian's useradd accepts more, but a
# name that is also a safe path part, URL part and shell word avoids surprises.
ACCOUNT_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
FIRST_STUDENT_UID = 1000


class HubConfigError(SystemExit):
    """The hub cannot start as configured; the message says what to change."""

    def __init__(self, message):
        super().__init__(f"protocol-lab hub: {message}")


class Settings(NamedTuple):
    """The workshop hub's settings, from the environment (see deploy/README.md)."""

    ip: str
    port: int
    api_port: int
    hub_port: int
    env: pathlib.Path
    state: pathlib.Path
    proxy: pathlib.Path
    students: tuple
    admins: tuple
    password: str
    cull_idle: int
    limits: dict
    expose_app: bool

    @property
    def python(self):
        """The shared environment's interpreter."""
        return self.env / "venv" / "bin" / "python"

    @property
    def notebooks(self):
        """Where the shared environment keeps the notebooks copied to each student's home."""
        return self.env / "notebooks"


def _names(text):
    return tuple(n for n in re.split(r"[\s,]+", text or "") if n)


def _port(environ, name, default):
    value = environ.get(name, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise HubConfigError(f"{name}={value!r} is not a port number (1-65535).")
    return int(value)


def settings(environ=None):
    """The settings in force, with defaults; raises :class:`HubConfigError` on a bad value."""
    env = os.environ if environ is None else environ
    port = _port(env, "LAB_HUB_PORT", 8000)
    roster = env.get("LAB_HUB_ROSTER")
    students = _names(env.get("LAB_HUB_STUDENTS", ""))
    if roster:
        try:
            students += _names(pathlib.Path(roster).read_text())
        except OSError as error:
            raise HubConfigError(f"LAB_HUB_ROSTER={roster!r} cannot be read: {error}.") from None
    cull = env.get("LAB_HUB_CULL_IDLE", "3600")
    if not cull.isdigit():
        raise HubConfigError(f"LAB_HUB_CULL_IDLE={cull!r}: give seconds, e.g. 3600.")
    return Settings(
        ip=env.get("LAB_HUB_IP", "127.0.0.1"), port=port,
        api_port=_port(env, "LAB_HUB_PROXY_API_PORT", port + 1),
        hub_port=_port(env, "LAB_HUB_INTERNAL_PORT", port + 2),
        env=pathlib.Path(env.get("LAB_HUB_ENV", "/opt/protocol-lab")),
        state=pathlib.Path(env.get("LAB_HUB_STATE", "/srv/protocol-lab-hub")),
        proxy=pathlib.Path(env.get("LAB_HUB_PROXY", ROOT / ".hub" / "proxy" / "node_modules"
                                   / ".bin" / "configurable-http-proxy")),
        students=students, admins=_names(env.get("LAB_HUB_ADMINS", "")),
        password=env.get("LAB_HUB_PASSWORD", ""), cull_idle=int(cull),
        limits={"LAB_MAX_LISTENERS": env.get("LAB_MAX_LISTENERS", "10"),
                "LAB_MAX_CONNECTIONS": env.get("LAB_MAX_CONNECTIONS", "100"),
                "LAB_MAX_CAPTURE": env.get("LAB_MAX_CAPTURE", "64M")},
        expose_app=env.get("LAB_HUB_EXPOSE_APP", "") == "1")


# ------------------------------------------------------------------------------
# checks at start


def check_platform(platform=None):
    """The classroom needs Linux: per-user uids for servers, and the peer-uid rule for listeners."""
    platform = platform or sys.platform
    if not platform.startswith("linux"):
        raise HubConfigError(
            f"this host runs {platform}, not Linux. The classroom runs each student's server "
            "under their own Unix account and keeps listeners private by reading Linux's "
            "socket tables; run it on a Linux host (The Littlest JupyterHub, or Kubernetes: "
            "see deploy/README.md).")


def check_root():
    """Starting servers as other users needs root."""
    if os.geteuid() != 0:
        raise HubConfigError(
            "the hub must run as root: it creates student accounts and starts each "
            "student's server under the student's own uid. Run it with sudo.")


def check_account_name(name):
    """A student or teacher name must be a valid, non-system Unix account name."""
    if not ACCOUNT_NAME.fullmatch(name or ""):
        raise HubConfigError(
            f"{name!r} is not a valid account name: use at most 32 lowercase letters, digits, "
            "'-' and '_', starting with a letter or '_' (e.g. 'alice', 'student-07'). Fix "
            "LAB_HUB_STUDENTS, LAB_HUB_ROSTER or LAB_HUB_ADMINS.")
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return
    if uid < FIRST_STUDENT_UID:
        raise HubConfigError(
            f"{name!r} is a system account (uid {uid}) of this host; a student or teacher "
            "needs an account of their own. Choose another name.")


def check_port_free(ip, port, variable):
    """Nothing may listen on the hub's ports yet."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as sock:
        try:
            sock.bind((ip, port))
        except OSError as error:
            raise HubConfigError(
                f"port {port} on {ip} is in use ({error.strerror}): another hub, or another "
                f"server, has it. Stop it, or set {variable} to a free port.") from None


def check_proxy(path):
    """configurable-http-proxy must be installed where the hub will look for it."""
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise HubConfigError(
            f"configurable-http-proxy is missing: nothing runnable at {path}. Run "
            "'python3 tasks.py hub' (it installs it with npm into .hub/proxy), or "
            "'npm install --prefix DIR configurable-http-proxy' and set LAB_HUB_PROXY to "
            "DIR/node_modules/.bin/configurable-http-proxy.")
    if shutil.which("node") is None:
        raise HubConfigError("configurable-http-proxy needs Node.js: install Debian's nodejs.")


def runnable_by_everyone(path):
    """None if every account can run ``path``, else why not (a folder on the way is closed)."""
    path = pathlib.Path(path)
    for folder in [*reversed(path.parents)]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            return f"{folder} is not searchable by other accounts (mode {oct(mode & 0o777)})"
    real = pathlib.Path(os.path.realpath(path))
    if real != path:
        return runnable_by_everyone(real)
    if not path.stat().st_mode & 0o001:
        return f"{path} is not executable by other accounts"
    return None


def check_environment(config):
    """The shared environment must exist, and its interpreter be runnable by every account."""
    if not config.python.exists():
        raise HubConfigError(
            f"no shared environment at {config.env} ({config.python} is missing). Run "
            "'python3 tasks.py hub' to build it, or set LAB_HUB_ENV.")
    why = runnable_by_everyone(config.python)
    if why:
        raise HubConfigError(
            f"students could not run the shared environment's Python: {why}. Build it from a "
            "system interpreter (/usr/bin/python3) in a folder every account can enter, e.g. "
            "/opt/protocol-lab.")


def preflight(config, platform=None):
    """Every check that can fail before the hub starts, in the order a teacher would fix them."""
    check_platform(platform)
    check_root()
    if not config.students and not config.admins:
        raise HubConfigError("no students: set LAB_HUB_STUDENTS='alice bob ...' or "
                             "LAB_HUB_ROSTER=/path/to/roster.txt (one name per line).")
    for name in (*config.students, *config.admins):
        check_account_name(name)
    if len(config.password) < 8:
        raise HubConfigError("set LAB_HUB_PASSWORD to the workshop password (8 characters or "
                             "more) that students type with their name.")
    check_environment(config)
    check_proxy(config.proxy)
    for port, variable in ((config.port, "LAB_HUB_PORT"),
                           (config.api_port, "LAB_HUB_PROXY_API_PORT"),
                           (config.hub_port, "LAB_HUB_INTERNAL_PORT")):
        check_port_free(config.ip if variable == "LAB_HUB_PORT" else "127.0.0.1", port, variable)


# ------------------------------------------------------------------------------
# accounts and notebooks


def add_account(name):
    """Create the Unix account ``name`` with a private home (nothing if it exists)."""
    check_account_name(name)
    try:
        pwd.getpwnam(name)
        return False
    except KeyError:
        pass
    subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", name],
                   check=True)
    os.chmod(pwd.getpwnam(name).pw_dir, 0o700)
    return True


def remove_account(name):
    """Delete the Unix account ``name``, its home and its group (for tests and teardown)."""
    check_account_name(name)
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    subprocess.run(["userdel", "--remove", name], check=True, capture_output=True)
    try:
        grp.getgrnam(name)
        subprocess.run(["groupdel", name], check=False, capture_output=True)
    except KeyError:
        pass
    return True


def copy_notebooks(name, source, folder="protocol-lab"):
    """On first login, copy the notebooks into the student's home, owned by the student."""
    account = pwd.getpwnam(name)
    home = pathlib.Path(account.pw_dir)
    target = home / folder
    if target.exists():
        return target
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints",
                                                                  "_sources", "__pycache__"))
    for path in [target, *target.rglob("*")]:
        os.chown(path, account.pw_uid, account.pw_gid, follow_symlinks=False)
    os.chown(home, account.pw_uid, account.pw_gid)
    os.chmod(home, 0o700)
    return target


def workshop_authenticator():
    """The authenticator class: a workshop password, the roster, real accounts."""
    from jupyterhub.auth import LocalAuthenticator
    from traitlets import Unicode

    class WorkshopAuthenticator(LocalAuthenticator):
        """A shared workshop password plus a roster name; each account is a real Unix account."""

        workshop_password = Unicode(
            "", config=True, help="The password every student types with their own name.")

        def validate_username(self, username):
            """Only valid, non-system account names (checked again before any account is made)."""
            try:
                check_account_name(username)
            except HubConfigError:
                return False
            return super().validate_username(username)

        async def authenticate(self, handler, data):
            """The user's name if it is on the roster and the workshop password matches."""
            name = self.normalize_username(data.get("username", ""))
            given = data.get("password", "").encode()
            if not hmac.compare_digest(given, self.workshop_password.encode()):
                self.log.warning("wrong workshop password for %r", name)
                return None
            return name

        def add_system_user(self, user):
            """Create the student's account with a private home."""
            add_account(user.name)

    return WorkshopAuthenticator
