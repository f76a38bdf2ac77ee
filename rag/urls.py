"""URLs made fit to show, log or write: `public_url` drops the parts that carry secrets.

    >>> public_url("https://user:sk-secret@llm.example.com:8443/v1?api_key=sk-x#top")
    'https://llm.example.com:8443/v1'
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def public_url(url: str) -> str:
    """`url` without user info, query string or fragment (scheme, host, port and path kept).

    >>> public_url("http://127.0.0.1:11434/v1")
    'http://127.0.0.1:11434/v1'
    >>> public_url("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=75s")
    'https://www.youtube.com/watch'
    """
    text = url.split("#", 1)[0].split("?", 1)[0]
    try:
        parts = urlsplit(text)
    except ValueError:
        return text.rpartition("@")[2]
    if not parts.netloc:  # no "//host" part: drop anything up to an "@" all the same
        return text.rpartition("@")[2]
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    try:
        port = parts.port
    except ValueError:
        port = None
    return urlunsplit((parts.scheme, host + (f":{port}" if port else ""), parts.path, "", ""))
