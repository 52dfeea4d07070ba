"""Write notebooks/09-classroom.ipynb (without outputs): who may connect to your listeners, the teacher's limits.

    python notebook_sources/09_classroom.py     # or build.py for every notebook
"""

from _notebook import code, md, write

CELLS = [
 md("# Your listeners are yours\n\n"
    "In a classroom every student's kernel runs on the same host, under the student's own account, and all of them "
    "share one loopback address, `127.0.0.1`. Without a rule, anyone could connect to your echo or memcached server "
    "and read or change what it holds.\n\n"
    "So a listener admits a local connection only from processes of **your** user. Linux records which user "
    "created each socket; when a connection arrives, the listener asks the kernel whose socket is on the other "
    "end, and closes it at once if it is someone else's."),
 code("import os\nimport pwd\n\nimport lab\n\nlab.start()\nme = pwd.getpwuid(os.getuid()).pw_name\n"
      "echo = lab.listen('echo', name='mine')\nprint('you are', me)\nprint(echo.privacy.statement)"),
 md("Your own clients, in this kernel or in any other process of yours, are welcome:"),
 code("client = lab.connect(echo)\nclient.send('hello from me\\n')\nprint(client.read_until(b'\\n'))\nclient.close()"),
 md("## What a refusal looks like\n\n"
    "Another student's client gets its connection closed before your server sees a byte. Your capture keeps the "
    "attempt, with the reason, something like:\n\n"
    "```\nconnection #2 closed: refused: bob (uid 1002) is not allowed; this listener is private to alice, "
    "who can open it with lab.listen(..., share=True) or share=['bob']\n```\n\n"
    "You cannot be another user from this notebook, but a teacher's limit produces the same kind of refusal. "
    "Here we set the connections-per-listener limit to 1 for this kernel (in a classroom the hub sets it for "
    "everyone), and open two connections:"),
 code("teacher = dict(os.environ)   # what the hub set, to put back afterwards\n"
      "os.environ['LAB_MAX_CONNECTIONS'] = '1'\nbusy = lab.listen('echo', name='busy')\n"
      "first = lab.connect(busy)\nsecond = lab.connect(busy)\nprint('second:', second.read(timeout=2), second.closed_reason)\n"
      "busy.capture.wait_for(lambda c: busy.stats()['refused'] == 1)\n"
      "print('refused:', busy.stats()['refused'])\nprint(busy.capture.connections()[-1].reason)\n"
      "first.close()\nos.environ.clear()\nos.environ.update(teacher)"),
 md("The listeners panel counts refusals per listener and shows the last reason; the conversation view lists the "
    "refused connection with its reason:"),
 code("from lab.widgets import ConversationView, ListenersPanel\n\ndisplay(ListenersPanel())\nConversationView(busy)"),
 md("## Sharing on purpose\n\n"
    "Working in pairs? Open a listener to everyone, or to named classmates (account names, as `id -un` prints them), "
    "and close it again while it runs:"),
 code("shared = lab.listen('echo', name='pair-work', share=True)\nprint(shared.privacy.statement)\n"
      "shared.privacy.share([me])       # back to you (and anyone else you name)\nprint(shared.privacy.statement)"),
 md("UDP has no connection: a datagram is admitted when the local socket it was sent from belongs to an admitted "
    "user. A sender that has already closed its socket cannot be attributed, and its datagrams are dropped:"),
 code("udp = lab.listen('echo', 'udp:0', name='udp-mine')\nprint(udp.privacy.statement)"),
 md("## The teacher's limits\n\n"
    "A classroom hub sets limits for everyone: running listeners per student (all your kernels together), open "
    "connections per listener, and memory for captures per student. Reaching one is an error that names the limit "
    "and who set it. Here none is set unless your hub set them:"),
 code("lab.teacher_limits()"),
 code("# The count covers every kernel of yours, but only listeners started while a limit is set.\n"
      "os.environ['LAB_MAX_LISTENERS'] = '4'\nos.environ['LAB_LIMITS_SET_BY'] = 'this notebook (an example)'\n"
      "try:\n    for n in range(5):\n        lab.listen('echo', name=f'many-{n}')\nexcept lab.LimitReached as error:\n"
      "    print(error)\nfinally:\n    os.environ.clear()\n    os.environ.update(teacher)\n"
      "for n in range(4):\n    lab.model.get_listener(f'many-{n}').stop()"),
 md("Your listeners stop when this notebook's kernel shuts down; `lab.model.stop_all()` stops them now."),
 code("lab.listeners()"),
]

if __name__ == "__main__":
    write(CELLS, "09-classroom.ipynb")
