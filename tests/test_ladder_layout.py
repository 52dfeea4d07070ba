"""The ladder's text fits its boxes, and the result's path never runs through a label."""

import re

from twisted.internet import defer

import lab
from lab.deferreds import _ladder


def _ladder_svg():
    """A chain with long names, a long start value, a raise, an errback and a long result."""
    def a_callback_with_a_really_very_long_descriptive_name(value):
        raise ValueError("x" * 80)

    def recover_from_the_value_error_with_a_long_name_too(failure):
        return "recovered " + "y" * 120

    d = defer.Deferred()
    d.addCallback(a_callback_with_a_really_very_long_descriptive_name)
    d.addErrback(recover_from_the_value_error_with_a_long_name_too)
    d.addCallback(len)
    traced = lab.trace(d)
    d.callback("a start value that is much longer than any box could hold " * 3)
    return traced.ladder_html()


def _texts(svg):
    """(x, y, anchor, text, font size) of every <text> element."""
    found = []
    for attrs, text in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        x = float(re.search(r'\bx="([\d.-]+)"', attrs).group(1))
        y = float(re.search(r'\by="([\d.-]+)"', attrs).group(1))
        anchor = re.search(r'text-anchor="(\w+)"', attrs)
        size = re.search(r'font-size="(\d+)"', attrs)
        found.append((x, y, anchor.group(1) if anchor else "start",
                      text.replace("&quot;", '"').replace("&#x27;", "'").replace("&lt;", "<")
                      .replace("&gt;", ">").replace("&amp;", "&"), int(size.group(1)) if size else 12))
    return found


def _span(x, anchor, text, size):
    width = len(text) * (_ladder.CHAR_W if size >= 12 else _ladder.EDGE_CHAR_W) * size / 12
    left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
    return left, left + width


def test_every_label_stays_inside_the_picture_and_its_box():
    """Box labels fit inside their boxes; pills and edge labels stay inside the picture."""
    svg = _ladder_svg()
    boxes = [tuple(map(float, m)) for m in re.findall(
        r'<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="30"', svg)]
    for x, y, anchor, text, size in _texts(svg):
        left, right = _span(x, anchor, text, size)
        assert 0 <= left and right <= _ladder.WIDTH, (text, left, right)
        for bx, by, bw in boxes:
            if bx <= x <= bx + bw and by <= y <= by + 30:
                assert bx <= left and right <= bx + bw, (text, left, right, bx, bx + bw)


def test_edges_do_not_run_through_their_labels():
    """No segment of the result's path crosses the box of an edge label."""
    svg = _ladder_svg()
    segments = []
    for d in re.findall(r'<path d="([^"]+)"', svg):
        x = y = None
        for command, number in re.findall(r"([MVH])([\d.,-]+)", d):
            if command == "M":
                x, y = map(float, number.split(","))
                continue
            if command == "V":
                segments.append((x, y, x, float(number)))
                y = float(number)
            else:
                segments.append((x, y, float(number), y))
                x = float(number)
    labels = [t for t in _texts(svg) if t[4] == 11]
    assert labels and segments
    for x, y, anchor, text, size in labels:
        left, right = _span(x, anchor, text, size)
        top, bottom = y - 9, y + 2
        for x1, y1, x2, y2 in segments:
            crosses = (min(x1, x2) <= right and max(x1, x2) >= left
                       and min(y1, y2) <= bottom and max(y1, y2) >= top)
            assert not crosses, (text, (left, top, right, bottom), (x1, y1, x2, y2))


def test_a_stage_that_raised_is_drawn_as_failed():
    """The callback that raised is marked in red with the word 'raised'."""
    svg = _ladder_svg()
    assert "\u2717 raised: a_callback_with" in svg
