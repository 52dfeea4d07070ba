"""redis-py through the lab proxy to Debian's redis-server, decoded as RESP."""

import contextlib
import re
import shutil

import pytest
import redis

import lab
from tests.memcached_peers import free_port, peer_process
from tests.polling import eventually


@contextlib.contextmanager
def real_redis():
    """Debian's redis-server on a free loopback port, no persistence; yield the port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; apt-get install redis-server (the test "
                    "command installs it).", pytrace=False)
    port = free_port()
    with peer_process([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                       "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp"], port):
        yield port


@pytest.fixture
def redis_proxy(lab_reactor):
    """A proxy with the RESP framer in front of a fresh redis-server."""
    with real_redis() as port:
        proxy_ = lab.proxy(f"tcp:127.0.0.1:{port}", framer="resp", name="t-redis")
        try:
            yield proxy_
        finally:
            proxy_.stop()


def _lines(proxy_):
    decoder = proxy_.decoder()
    legs = {client for client, _ in proxy_.legs()}
    return [line for e in proxy_.capture.events(kinds=("in", "out")) if e.connection in legs
            for line in decoder.feed(e.kind, e.data)]


def test_strings_hashes_and_pipelining_decode_as_resp(redis_proxy):
    """Strings, hashes and a pipeline work through the proxy and read as RESP."""
    client = redis.Redis(port=redis_proxy.port, socket_timeout=5)
    assert client.set("greeting", "hello") and b"hello" == client.get("greeting")
    assert 2 == client.hset("user", mapping={"name": "ada", "lang": "py"})
    assert {b"name": b"ada", b"lang": b"py"} == client.hgetall("user")
    pipe = client.pipeline(transaction=False)
    pipe.incr("n").incr("n").get("n")
    assert [1, 2, b"2"] == pipe.execute()
    client.close()
    lines = _lines(redis_proxy)
    assert "-> SET greeting hello" in lines and "<- OK" in lines
    assert '<- "hello"' in lines and "-> HGETALL user" in lines
    assert "<- (integer) 2" in lines


def test_pubsub_pushes_decode_as_resp3(redis_proxy):
    """With RESP3, a published message reaches the subscriber as a push, decoded as one."""
    subscriber = redis.Redis(port=redis_proxy.port, protocol=3, socket_timeout=5)
    pubsub = subscriber.pubsub()
    pubsub.subscribe("news")
    assert "subscribe" == pubsub.get_message(timeout=5)["type"]
    publisher = redis.Redis(port=redis_proxy.port, socket_timeout=5)
    assert 1 == publisher.publish("news", "extra")
    message = pubsub.get_message(timeout=5)
    assert b"extra" == message["data"]
    pubsub.close()
    subscriber.close()
    publisher.close()
    assert '<- push: ["message", "news", "extra"]' in _lines(redis_proxy)


def test_an_intercepted_set_is_edited_on_its_way(redis_proxy):
    """A SET held on its way to Redis and edited is stored with the edited value."""
    from lab.protocols.resp import encode_command

    # Only SET itself (redis-py also sends CLIENT SETINFO when it connects).
    redis_proxy.intercept("to_server", match=re.compile(rb"^\*3\r\n\$3\r\nSET\r\n"))
    client = redis.Redis(port=redis_proxy.port, socket_timeout=5)
    with _in_thread(lambda: client.set("colour", "blue")) as result:
        assert eventually(lambda: len(redis_proxy.held) == 1)
        redis_proxy.forward(redis_proxy.held[0], encode_command("SET", "colour", "red"))
    assert result() is True
    redis_proxy.intercept(None)
    assert b"red" == client.get("colour")
    client.close()
    assert any("edited" in note.text for note in redis_proxy.notes)


def test_a_reply_released_after_the_clients_timeout(redis_proxy):
    """A reply held past the client's timeout: redis-py has hung up, so the late reply is lost."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    redis_proxy.intercept("to_client", match=b"PONG")
    client = redis.Redis(port=redis_proxy.port, socket_timeout=0.3, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.TimeoutError):
        client.ping()
    first_leg = redis_proxy.legs()[0][0]
    # redis-py closed its connection on the timeout: the proxy saw its FIN, the reply still waits.
    assert eventually(lambda: redis_proxy.capture.events(first_leg)[-1].kind != "in"
                      or len(redis_proxy.held) == 1)
    assert 1 == redis_proxy.release_all()
    assert eventually(lambda: not any(c.id == first_leg for c in redis_proxy.connections))
    closed = redis_proxy.capture.connection(first_leg)
    assert closed.reason  # why the client leg ended, as the kernel said it
    redis_proxy.intercept(None)
    assert client.ping()  # a new connection, answered at once
    client.close()


@contextlib.contextmanager
def _in_thread(fn):
    import threading

    box = {}

    def run():
        try:
            box["value"] = fn()
        except Exception as error:  # noqa: BLE001 - re-raised in the test's thread
            box["error"] = error

    thread = threading.Thread(target=run)
    thread.start()

    def result():
        if "error" in box:
            raise box["error"]
        return box["value"]
    try:
        yield result
    finally:
        thread.join(10)
