"""Write notebooks/00-tour.ipynb (without outputs) from the cells below.

    python notebooks/_sources/00_tour.py
"""
import pathlib

import nbformat as nbf
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
cells = [
 md("# Protocol Lab: a tour\n\nThe lab runs Twisted's reactor in a background thread (with crochet), so this notebook stays free while servers listen, clients talk and Deferreds fire. Run the cells top to bottom."),
 md("## Start the reactor\n\n`lab.start()` starts it once per process; running the cell again is harmless and shows the same status."),
 code("import lab\n\nstatus = lab.start()\nstatus"),
 md("`lab.call(fn, ...)` runs `fn` in the reactor thread and gives back its result, waiting for a Deferred if it returns one. Errors come back with their type and the reactor-side traceback."),
 code("from twisted.internet import reactor, task\n\nanswer = lab.call(task.deferLater, reactor, 0.1, lambda: 6 * 7)\nprint('the reactor answered', answer)"),
 md("`await lab.wait(...)` waits without blocking the kernel, so widgets stay live while the cell waits."),
 code("handle = lab.submit(task.deferLater, reactor, 0.2, lambda: 'ready')\nprint('awaited:', await lab.wait(handle))"),
 md("## The status panel\n\nPing measures one round trip into the reactor thread and back."),
 code("from lab.widgets import StatusPanel\n\npanel = StatusPanel()\npanel.ping()\ndisplay(panel)\nprint(panel.result.value)"),
]
nb = nbf.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
nbf.write(nb, pathlib.Path(__file__).resolve().parent.parent / "00-tour.ipynb")
