"""Small HTML pieces the views share."""

import html
import re

__all__ = ["error_html", "WIDGET_ADVICE"]

# Advice written for code, said again for a panel that has no such argument or
# method: (widget, pattern in the message) -> what to say instead.
WIDGET_ADVICE = {
    "listeners panel": [
        (r"Pass allow_remote=True[^.]*\.",
         "This panel only listens on loopback: leave out interface=, or start it from a cell "
         "with lab.listen(..., allow_remote=True) if you mean it."),
    ],
    "protocol stepper": [
        (r"[Uu]se reset\(\)", "Press Reset"),
    ],
    "chain view": [
        (r"[Uu]se reset\(\)", "Press Reset"),
    ],
}


def error_html(error, widget=None):
    """An exception as a red ``Type: message`` line, for a view's message area.

    ``widget`` names the view showing it: advice written for code (an argument
    the view has no field for, a method next to its button) is said in the
    view's own terms.
    """
    message = str(error)
    for pattern, instead in WIDGET_ADVICE.get(widget, ()):
        message = re.sub(pattern, instead, message)
    text = html.escape(f"{type(error).__name__}: {message}")
    return f'<span class="lab-error" style="color:#cf222e">{text}</span>'
