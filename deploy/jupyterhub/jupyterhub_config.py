"""JupyterHub for a Protocol Lab workshop: one server per student, under the student's own uid.

Start it with ``sudo python3 tasks.py hub`` (builds what it needs first), or
by hand from the shared environment::

    sudo LAB_HUB_STUDENTS="alice bob" LAB_HUB_PASSWORD=... \\
        /opt/protocol-lab/venv/bin/jupyterhub -f deploy/jupyterhub/jupyterhub_config.py

What it sets up (the settings are environment variables; deploy/README.md lists them):

* JupyterHub behind configurable-http-proxy (npm), on LAB_HUB_IP:LAB_HUB_PORT;
* a workshop password: a student logs in with a roster name and the shared
  password; the Unix account is created on first login (private home);
* LocalProcessSpawner: each student's Jupyter server and kernels run as the
  student, from the shared environment (LAB_HUB_ENV, default /opt/protocol-lab,
  built from the system Python so every account can run it);
* the notebooks copied into ``~/protocol-lab`` on first login, JupyterLab as
  the interface;
* listener privacy required and the teacher's limits, in every kernel's
  environment (lab.teacher_limits());
* an idle culler: servers idle for LAB_HUB_CULL_IDLE seconds (3600) are
  stopped; kernels idle that long are shut down by the server itself.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import workshop  # noqa: E402  (the folder of this file, added just above)

c = get_config()  # noqa: F821  (provided by JupyterHub when it loads this file)
hub = workshop.settings()
workshop.preflight(hub)
hub.state.mkdir(parents=True, exist_ok=True, mode=0o700)

# -- the hub, its database and its proxy -----------------------------------------
c.JupyterHub.ip = hub.ip
c.JupyterHub.port = hub.port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub.hub_port
c.JupyterHub.db_url = f"sqlite:///{hub.state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(hub.state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hub.state / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(hub.proxy)]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub.api_port}"
c.ConfigurableHTTPProxy.should_start = True
# Stopping the hub stops every student's server and the proxy (the defaults, stated).
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# -- who may log in ----------------------------------------------------------------
c.JupyterHub.authenticator_class = workshop.workshop_authenticator()
c.WorkshopAuthenticator.workshop_password = hub.password
c.Authenticator.allowed_users = set(hub.students)
c.Authenticator.admin_users = set(hub.admins)
c.LocalAuthenticator.create_system_users = True

# -- each student's server: their uid, the shared environment, JupyterLab ------------
c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [str(hub.env / "venv" / "bin" / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~/protocol-lab"
c.Spawner.default_url = "/lab/tree/00-tour.ipynb"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
# Only what is set here reaches a student's server: not the hub's own PATH,
# VIRTUAL_ENV or PYTHONPATH (the hub may have been started from another venv).
c.Spawner.env_keep = ["LANG", "LC_ALL", "TZ"]
c.Spawner.environment = {
    "PATH": f"{hub.env / 'venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
    # Listener privacy and the teacher's limits (see lab.teacher_limits()).
    "LAB_LISTENER_PRIVACY": "require",
    "LAB_LIMITS_SET_BY": "your teacher (LAB_MAX_* in the hub's jupyterhub_config.py settings)",
    **hub.limits,
}
c.Spawner.args = [
    f"--MappingKernelManager.cull_idle_timeout={hub.cull_idle}",
    "--MappingKernelManager.cull_interval=300",
]
if hub.expose_app:  # for the hub tests: lets the browser run JupyterLab commands
    c.Spawner.args.append("--LabApp.expose_app_in_browser=True")


def _first_login(spawner):
    """Copy the notebooks into the student's home the first time their server starts."""
    workshop.copy_notebooks(spawner.user.name, hub.notebooks)


c.Spawner.pre_spawn_hook = _first_login

# -- the idle culler -------------------------------------------------------------------
c.JupyterHub.services = [{
    "name": "idle-culler",
    "command": [str(hub.python), "-m", "jupyterhub_idle_culler",
                f"--timeout={hub.cull_idle}", "--cull-every=300"],
}]
c.JupyterHub.load_roles = [{
    "name": "idle-culler",
    "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
    "services": ["idle-culler"],
}]
