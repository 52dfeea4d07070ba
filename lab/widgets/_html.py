"""Small HTML pieces the views share."""

import html

__all__ = ["error_html"]


def error_html(error):
    """An exception as a red ``Type: message`` line, for a view's message area."""
    text = html.escape(f"{type(error).__name__}: {error}")
    return f'<span class="lab-error" style="color:#cf222e">{text}</span>'
