"""A load test's progress bar: a ``<progress>`` shown in the running cell, updated as requests complete.

``lab.load_test`` asks for it through :mod:`lab.display` (kind ``"load progress"``)
when it runs in a notebook; the model calls it through ``lab.bridge.deliver``.
"""

from IPython.display import HTML, display

__all__ = ["LoadProgress"]


class LoadProgress:
    """A progress bar of ``total`` requests; call it with ``(done, total)`` to move it."""

    def __init__(self, total: int) -> None:
        self.handle = display(HTML(self._bar(0, total)), display_id=True)

    @staticmethod
    def _bar(done: int, total: int) -> str:
        return (f'<div class="lab-load-progress"><progress value="{done}" max="{total}">'
                f"</progress> {done}/{total} requests</div>")

    def __call__(self, done: int, total: int) -> None:
        """Show ``done`` of ``total`` requests."""
        self.handle.update(HTML(self._bar(done, total)))
