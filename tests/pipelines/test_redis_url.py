"""``--redis-url`` checking: every form redis-py takes, and a clear, credential-free message
for each way a URL cannot work (no Redis needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.redis_url import RedisUrlError, parse_redis_url, redis_client

SECRET = "S3cr3t"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/0", ("redis", "127.0.0.1", 6379, 0, None, False)),
        ("redis://localhost", ("redis", "localhost", 6379, 0, None, False)),
        (f"redis://:{SECRET}@10.0.0.5:6380/2", ("redis", "10.0.0.5", 6380, 2, None, True)),
        (f"redis://default:{SECRET}@h/0", ("redis", "h", 6379, 0, None, True)),
        (f"redis://box-a:{SECRET}@h:1/0", ("redis", "h", 1, 0, "box-a", True)),
        ("redis://box%40a:p%40ss%2F%3F%23%20x@h/0", ("redis", "h", 6379, 0, "box@a", True)),
        (f"redis://h/?password={SECRET}&db=3", ("redis", "h", 6379, 3, None, True)),
        (f"rediss://u:{SECRET}@[::1]:6380/0", ("rediss", "::1", 6380, 0, "u", True)),
        (
            "rediss://h:6380/0?ssl_cert_reqs=required&ssl_check_hostname=false",
            ("rediss", "h", 6380, 0, None, False),
        ),
        ("unix:///run/redis.sock?db=1", ("unix", None, 0, 1, None, False)),
        ("REDIS://H:1/0", ("redis", "h", 1, 0, None, False)),
    ],
    ids=[
        "plain",
        "defaults",
        "default-user-password",
        "default-named",
        "acl-user",
        "percent-encoded",
        "password-option",
        "tls-ipv6",
        "tls-options",
        "unix",
        "upper-case-scheme",
    ],
)
def test_good_urls(url: str, expected: tuple[object, ...]) -> None:
    target = parse_redis_url(url)
    got = (target.scheme, target.host, target.port, target.db, target.username)
    assert (*got, target.has_password) == expected
    assert SECRET not in target.safe_url and SECRET not in repr(target)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("", "empty"),
        (f"http://u:{SECRET}@h/0", "must start with redis://, rediss:// (TLS) or unix://"),
        (f"redis:/u:{SECRET}@h/0", "must start with redis://"),
        (f"redis://u:{SECRET}/x@h:6379/0", "percent-encoded (write %2F, %3F, %23, %40)"),
        (f"redis://u:{SECRET}?x@h:6379/0", "percent-encoded"),
        (f"redis://u:{SECRET}#x@h:6379/0", "percent-encoded"),
        (f"redis://u:{SECRET}@h/0@x", "percent-encoded"),
        (f"redis://u:{SECRET}@h:99999/0", "the port is not a number from 1 to 65535"),
        (f"redis://u:{SECRET}@h:abc/0", "the port is not a number"),
        (f"redis://u:{SECRET}@h/abc", "the database must be a number such as /0, got 'abc'"),
        (f"redis://u:{SECRET}@h/0?db=x", "the database must be a number"),
        (f"redis://u:{SECRET}@h/0?ssl_ca_certs=/x", "'ssl_ca_certs' is for TLS: use a rediss://"),
        (f"rediss://u:{SECRET}@h/0?ssl_ca_cert=/x", "unknown option 'ssl_ca_cert'; known:"),
        (f"rediss://u:{SECRET}@h/0?ssl_cert_reqs=always", "ssl_cert_reqs must be one of none"),
        (f"rediss://u:{SECRET}@h/0?ssl_ca_certs=/no/such/ca.pem", "no such file '/no/such/ca"),
        (f"rediss://u:{SECRET}@h/0?ssl_ca_path=/no/such/dir", "no such folder"),
        (f"redis://u:{SECRET}@h/0?db=1&db=2", "the option 'db' is given twice"),
        (f"redis://u:{SECRET}@h/0?socket_timeout", "name=value"),
        ("unix://", "give the socket's path"),
    ],
    ids=[
        "empty",
        "http",
        "one-slash",
        "slash-in-password",
        "question-mark-in-password",
        "hash-in-password",
        "at-in-path",
        "port-range",
        "port-word",
        "db-word",
        "db-option-word",
        "tls-option-on-plain",
        "unknown-option",
        "cert-reqs",
        "missing-ca",
        "missing-ca-path",
        "duplicate",
        "not-name-value",
        "unix-without-path",
    ],
)
def test_bad_urls_say_what_is_wrong_without_the_password(url: str, error: str) -> None:
    with pytest.raises(RedisUrlError) as info:
        parse_redis_url(url)
    assert error in str(info.value)
    assert SECRET not in str(info.value)
    if "://" in url and "@" in url:
        assert "***" in str(info.value)  # the URL is named, masked


def test_a_client_certificate_and_ca_that_exist_are_taken(tmp_path: Path) -> None:
    for name in ("ca.pem", "box.pem", "box.key"):
        (tmp_path / name).write_text("-----BEGIN X-----\n")
    url = (
        f"rediss://box:{SECRET}@h:6380/0?ssl_cert_reqs=required&ssl_ca_certs={tmp_path}/ca.pem"
        f"&ssl_certfile={tmp_path}/box.pem&ssl_keyfile={tmp_path}/box.key&ssl_password=k"
    )
    target = parse_redis_url(url)
    assert target.tls and target.options["ssl_keyfile"] == f"{tmp_path}/box.key"
    assert "ssl_password=***" in target.safe_url
    client = redis_client(url, timeout_s=0.5)  # no connection is made yet
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["username"] == "box" and kwargs["password"] == SECRET
    assert kwargs["ssl_ca_certs"] == f"{tmp_path}/ca.pem"
    client.close()
