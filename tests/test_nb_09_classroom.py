"""The classroom notebook, executed in a real kernel: privacy statements, a refusal with its reason, sharing, limits."""

import pytest

from tests.notebook_runner import all_text, cell_text, errors, execute_notebook, find_cell

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def classroom():
    """notebooks/09-classroom.ipynb, executed top to bottom."""
    return execute_notebook("09-classroom.ipynb")


def test_runs_without_errors(classroom):
    """No cell of the notebook raises."""
    assert [] == errors(classroom)


def test_a_listener_says_it_is_private_and_admits_its_owner(classroom):
    """The statement names the owner; the owner's own client gets its echo."""
    text = all_text(classroom)
    assert "private: local connections only from processes of " in text
    assert "b'hello from me\\n'" in text


def test_the_refused_connection_shows_its_reason(classroom):
    """The second connection is closed at once and the capture says which limit and who set it."""
    text = cell_text(find_cell(classroom, "os.environ['LAB_MAX_CONNECTIONS'] = '1'"))
    assert "second: b''" in text and "refused: 1" in text
    assert "already has 1 open connections (connections per listener: LAB_MAX_CONNECTIONS=1" in text


def test_sharing_opens_and_closes_the_listener(classroom):
    """share=True makes it shared; share([me]) makes it private again."""
    text = cell_text(find_cell(classroom, "share=True"))
    assert text.startswith("shared: every user of this host may connect")
    assert "\nprivate: local connections only" in text


def test_the_listener_limit_names_itself_and_its_setter(classroom):
    """The fifth listener with LAB_MAX_LISTENERS=4 fails with the limit and who set it."""
    text = cell_text(find_cell(classroom, "os.environ['LAB_MAX_LISTENERS'] = '4'"))
    assert "you already run 4 listeners (many-0, many-1, many-2, many-3)" in text
    assert "LAB_MAX_LISTENERS=4, set by this notebook (an example)" in text
