"""The echo plugin, served by name over TCP and UDP."""

import pytest

import lab

pytestmark = pytest.mark.reactor


@pytest.fixture
def cleanup(lab_reactor):
    """Stop every listener a test started."""
    yield
    lab.model.stop_all()


def test_echo_plugin_by_name_over_tcp(cleanup):
    """lab.listen('echo') serves the plugin on loopback TCP and names the listener after it."""
    echo = lab.listen("echo")
    assert ("echo", "echo", "tcp") == (echo.name, echo.plugin_name, echo.transport)
    client = lab.connect(echo)
    client.send(b"\x00\xffbinary\r\n")
    assert b"\x00\xffbinary\r\n" == client.read_until(b"\r\n")
    client.close()


def test_echo_plugin_by_name_over_udp(cleanup):
    """The same plugin serves UDP when the endpoint says udp."""
    echo = lab.listen("echo", "udp:0", name="echo-udp")
    client = lab.connect(echo)
    client.send(b"datagram")
    assert b"datagram" == client.read()
    client.close()
    assert ["connect", "in", "out"] == [e.kind for e in echo.capture.events()]


def test_unknown_plugin_is_a_plugin_error(cleanup):
    """Listening on a plugin name nobody declared raises a PluginError naming it."""
    with pytest.raises(lab.PluginError, match="nosuch"):
        lab.listen("nosuch")


def test_plugin_transport_mismatch_is_refused(cleanup):
    """A TCP-only plugin asked for UDP says which transports it serves."""
    with pytest.raises(lab.model.ListenError, match="serves tcp, not udp"):
        lab.listen("chat", "udp:0")


def test_unknown_plugin_option_is_refused(cleanup):
    """A misspelt option is refused with the plugin's real options listed."""
    with pytest.raises(lab.model.ListenError, match="max_line"):
        lab.listen("chat", max_lines=10)
