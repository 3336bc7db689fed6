"""Replica and multi-host configuration: parsed strictly, passwords never shown."""

from __future__ import annotations

import pytest

import rawdb
from rawdb.config import parse_url


def test_multi_host_postgresql_url() -> None:
    url, query = parse_url("postgresql://app:s3cret@db1:5432,db2:5433,[::1]/prod?max_size=5")
    assert url.hosts == (("db1", 5432), ("db2", 5433), ("::1", None))
    assert (url.host, url.port, url.user, url.database) == ("db1", 5432, "app", "prod")
    assert query == {"max_size": "5"}
    assert url.redacted() == "postgresql://app:***@db1:5432,db2:5433,[::1]/prod"
    assert "s3cret" not in repr(url) and "s3cret" not in str(url)


def test_single_host_url_has_no_host_list() -> None:
    url, _ = parse_url("postgresql://app@db1:5432/prod")
    assert url.hosts == () and url.netloc() == "db1:5432"


@pytest.mark.parametrize("url", ["mysql://root@h1:3306,h2:3307/test", "postgresql://u@h1:99999,h2/db",
                                 "postgresql://u@h1,,h2/db"])
def test_bad_multi_host_urls(url: str) -> None:
    with pytest.raises(rawdb.ConfigError):
        parse_url(url)
