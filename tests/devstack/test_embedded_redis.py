import stat
from pathlib import Path

import pytest
import redis

from devstack.embedded_redis import EmbeddedRedis, embedded_redis_url, socket_path

pytestmark = pytest.mark.new_user_setup


def client(server: EmbeddedRedis) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(server.socket))


def test_embedded_redis_starts_private_never_evicting_and_stops(tmp_path):
    with EmbeddedRedis(tmp_path) as server:
        connection = client(server)
        assert connection.ping()
        assert connection.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        assert connection.config_get("port") == {"port": "0"}
        assert stat.S_IMODE(server.socket.stat().st_mode) == 0o700
        assert server.url == f"redis+socket://{server.socket}"
        process = server.process
    assert process.poll() is not None
    with pytest.raises(redis.ConnectionError):
        client(server).ping()


def test_embedded_redis_refuses_to_start_twice_in_one_directory(tmp_path):
    with EmbeddedRedis(tmp_path), pytest.raises(RuntimeError, match="already answers"):
        EmbeddedRedis(tmp_path).start()


def test_socket_path_stays_short_for_deep_directories(tmp_path):
    deep = tmp_path / ("d" * 120)
    path = socket_path(deep)
    assert len(str(path)) <= 100
    assert path != socket_path(tmp_path / ("e" * 120))
    assert socket_path(Path("/srv/app/var/redis")) == Path("/srv/app/var/redis/redis.sock")
    assert embedded_redis_url(deep) == f"redis+socket://{path}"
