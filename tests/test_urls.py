from __future__ import annotations

import doctest

import pytest

import rag.urls
from rag.urls import public_url


def test_doctests_pass() -> None:
    assert doctest.testmod(rag.urls).failed == 0


@pytest.mark.parametrize(("url", "shown"), [
    ("https://user:pw-SECRET@llm.example.com/v1", "https://llm.example.com/v1"),
    ("https://llm.example.com/v1?api-key=SECRET&x=1", "https://llm.example.com/v1"),
    ("https://llm.example.com/v1#SECRET", "https://llm.example.com/v1"),
    ("http://token-SECRET@[::1]:8080/v1?k=SECRET", "http://[::1]:8080/v1"),
    ("user:pw-SECRET@llm.example.com/v1", "llm.example.com/v1"),  # no scheme: still no user info
    ("http://127.0.0.1:11434/v1", "http://127.0.0.1:11434/v1"),
])
def test_public_url_drops_user_info_query_and_fragment(url: str, shown: str) -> None:
    assert public_url(url) == shown
    assert "SECRET" not in public_url(url)
