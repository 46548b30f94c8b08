import os
import shutil
import signal
import socket
import subprocess
import time

import pytest
import redis


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def restore_caches(settings, slides_root):
    """Put settings.CACHES back before slides_root empties the caches (which needs them up)."""
    saved = settings.CACHES
    yield
    settings.CACHES = saved


class RedisServer:
    """A private redis-server that a test may kill, restart, freeze and thaw."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [shutil.which("redis-server") or "redis-server", "--port", str(self.port)]
        command += ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def keys(self) -> list[bytes]:
        return redis.Redis(port=self.port).keys("*")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.thaw()
            self.kill()


@pytest.fixture
def redis_server(free_port):
    server = RedisServer(free_port)
    server.start()
    yield server
    server.stop()
