"""The classroom: a local workshop JupyterHub, three students at once in Chromium, listeners private to their owner.

Needs root on Linux (it creates and removes the accounts labtest-a/-b/-c and
switches uids); elsewhere every test here fails and says why.  The tests run
in file order: the students log in and work, then the privacy checks use
their kernels, then the hub is stopped and nothing of theirs may be left.
"""

import asyncio
import json

import pytest

from tests.browser_support import (CHROMIUM, CHROMIUM_ARGS, JS_ALL_CELLS_RAN, JS_ERRORS,
                                   JS_NOTEBOOK_READY, JS_RUN_ALL, VIEWPORT)
from tests.classroom_support import require_root_on_linux
from tests.polling import eventually
from tests.hub_support import (JS_EXECUTE, JS_STDERR, STUDENTS, Hub, listening_ports_of,
                               processes_of, remove_test_accounts, uid_of)

pytestmark = pytest.mark.hub
NOTEBOOKS = ("00-tour.ipynb", "06-custom-protocol.ipynb")


class Classroom:
    """The hub, a browser, and one logged-in page per student (on one asyncio loop)."""

    def __init__(self, hub):
        self.hub, self.loop = hub, asyncio.new_event_loop()
        self.playwright = self.browser = None
        self.pages, self.contexts, self.results = {}, [], {}

    def run(self, coroutine):
        """Run a coroutine on the classroom's loop."""
        return self.loop.run_until_complete(coroutine)

    async def open_browser(self):
        """Debian's Chromium, headless, through Playwright."""
        from playwright.async_api import async_playwright

        self.playwright = await async_playwright().start()
        self.browser = await self.playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

    async def student(self, name):
        """Log in as ``name``, wait for the server, run each notebook; keep the page."""
        context = await self.browser.new_context(viewport=VIEWPORT)
        self.contexts.append(context)
        page = self.pages[name] = await context.new_page()
        await page.goto(f"{self.hub.url}/hub/login")
        await page.fill("#username_input", name)
        await page.fill("#password_input", self.hub.password)
        await page.click("#login_submit")
        await page.wait_for_url(f"**/user/{name}/lab**", timeout=180_000)
        for notebook in NOTEBOOKS:
            self.results[name, notebook] = await self.run_notebook(page, name, notebook)

    async def run_notebook(self, page, name, notebook):
        """Open a notebook in the student's JupyterLab, run all, return (errors, stderr)."""
        workspace = "".join(c for c in notebook if c.isalnum())
        await page.goto(f"{self.hub.url}/user/{name}/lab/workspaces/{workspace}/tree/"
                        f"{notebook}?reset")
        await page.wait_for_selector(".jp-Notebook", timeout=120_000)
        await page.wait_for_function(JS_NOTEBOOK_READY, arg=notebook, timeout=120_000,
                                     polling=500)
        await page.evaluate(JS_RUN_ALL)
        await page.wait_for_timeout(500)
        await page.wait_for_function(JS_ALL_CELLS_RAN, timeout=240_000, polling=500)
        return await page.evaluate(JS_ERRORS), await page.evaluate(JS_STDERR)

    def execute(self, name, code):
        """Run ``code`` in the kernel of the student's open notebook; its output text."""
        return self.run(self.pages[name].evaluate(JS_EXECUTE, code))

    async def close(self):
        """Close pages, browser and Playwright."""
        contexts, self.contexts = self.contexts, []
        for context in contexts:
            await context.close()
        browser, self.browser = self.browser, None
        if browser:
            await browser.close()
        playwright, self.playwright = self.playwright, None
        if playwright:
            await playwright.stop()


@pytest.fixture(scope="module")
def classroom(tmp_path_factory, artifacts):
    """The hub with the test roster, and a browser; accounts removed and the hub stopped after."""
    require_root_on_linux("the classroom hub tier")
    remove_test_accounts()
    hub = Hub(tmp_path_factory.mktemp("hub")).start()
    room = Classroom(hub)
    try:
        room.run(room.open_browser())
        yield room
    finally:
        try:
            room.run(room.close())
            room.loop.close()
        finally:
            hub.stop()
            (artifacts / "hub.log").write_text(hub.log_text())
            remove_test_accounts()


def test_three_students_run_the_tour_and_the_exercise_at_once(classroom):
    """Three students log in concurrently; each runs the tour and the exercise with no error output."""
    async def everyone():
        await asyncio.gather(*(classroom.student(name) for name in STUDENTS))

    classroom.run(everyone())
    problems = {f"{name} {nb}": found for (name, nb), found in classroom.results.items()
                if found != ([], [])}
    assert {} == problems
    assert len(STUDENTS) * len(NOTEBOOKS) == len(classroom.results)


def test_each_student_runs_under_their_own_uid_with_no_port_clash(classroom):
    """Each kernel reports its student's uid; the ports the students listen on are disjoint."""
    ports = {}
    for name in STUDENTS:
        output = classroom.execute(name, "import os, pwd; print(pwd.getpwuid(os.getuid()).pw_name)")
        assert name == output.strip()
        ports[name] = listening_ports_of(uid_of(name))
        assert ports[name], f"{name} listens on nothing"
    a, b, c = (ports[name] for name in STUDENTS)
    assert set() == (a & b) | (b & c) | (a & c)


def test_another_students_client_is_refused_until_the_owner_shares(classroom):
    """B's client is refused by A's private listener (and A sees why); A's own works; after share=True, B's works."""
    a, b = STUDENTS[0], STUDENTS[1]
    started = classroom.execute(a, "import lab, json\n"
                                   "mine = lab.listen('echo', name='classroom-private')\n"
                                   "print(json.dumps(mine.port))")
    port = json.loads(started)
    connect = ("import socket\ns = socket.create_connection(('127.0.0.1', %d), timeout=5)\n"
               "s.sendall(b'from b\\n')\ntry:\n    print(repr(s.recv(100)))\n"
               "except ConnectionResetError:\n    print(repr(b''))\n")
    assert "b''" == classroom.execute(b, connect % port).strip()
    seen = classroom.execute(a, "import time\ntime.sleep(0.3)\n"
                                "print(mine.stats()['refused'], mine.capture.connections()[-1].reason)")
    assert seen.startswith("1 refused: labtest-b (uid ")
    assert "private to labtest-a" in seen
    own = classroom.execute(a, "c = lab.connect(mine)\nc.send('from a\\n')\n"
                               "print(c.read_until(b'\\n'))\nc.close()")
    assert "b'from a\\n'" == own.strip()
    shared = classroom.execute(a, "mine = lab.listen('echo', name='classroom-private', share=True)\n"
                                  "print(mine.port)")
    assert "b'from b\\n'" == classroom.execute(b, connect % int(shared)).strip()


def test_stopping_the_hub_stops_every_students_server(classroom):
    """After the hub stops, no process and no listening socket of any student is left."""
    uids = {name: uid_of(name) for name in STUDENTS}
    assert all(processes_of(uid) for uid in uids.values())  # they were running
    classroom.run(classroom.close())
    classroom.hub.stop()
    # Servers and kernels get SIGTERM from the hub as it stops; give them a moment to exit.
    eventually(lambda: not any(processes_of(uid) for uid in uids.values()), limit=30)
    left = {name: processes_of(uid) for name, uid in uids.items() if processes_of(uid)}
    sockets = {name: listening_ports_of(uid) for name, uid in uids.items()
               if listening_ports_of(uid)}
    assert ({}, {}) == (left, sockets)
    assert "Cleaning up" in classroom.hub.log_text() or "Stopping" in classroom.hub.log_text()
