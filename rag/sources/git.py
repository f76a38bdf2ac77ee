"""Git repositories as sources: which addresses may be cloned, and a shallow clone
that git's hooks, transports and credentials cannot turn against the machine."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from rag.errors import CorpusError
from rag.urls import public_url

_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")

_TRANSPORT = re.compile(r"[A-Za-z0-9+.-]+::")  # git's `<transport>::<address>` (ext::, fd::, ...)

_SCP_USER = re.compile(r"(?<!\S)[^\s/@]+@(?=[^\s/@:]+:)")  # "user[:secret]@" of user@host:path (ssh)

_CLONE_SCHEMES = ("https://", "file://")


def public_source(text: str) -> str:
    """A source, command line or git message fit to show or save: every URL in `text`
    passed through `rag.urls.public_url` (no user info, query or fragment), and the
    user of a `user@host:path` dropped. Local paths are kept as they are.

        >>> public_source("rag ingest https://user:token@github.com/o/corpus.git?x=1 --index idx")
        'rag ingest https://github.com/o/corpus.git --index idx'
    """
    return _SCP_USER.sub("", _URL_IN_TEXT.sub(lambda m: public_url(m[0]), text))


def is_git_url(source: str) -> bool:
    """A source to clone (or refuse) rather than read as a local folder: any URL, git's
    `transport::` and `[user@]host:path` forms, or a missing or bare `*.git` path."""
    if "://" in source or _TRANSPORT.match(source) or ":" in source.split("/")[0]:
        return True
    path = Path(source)
    return source.endswith(".git") and (not path.exists() or (path / "HEAD").is_file())


def check_clone_url(url: str) -> None:
    """Raise `CorpusError` unless `url` is https://, file:// or a local path.

    ssh (and `user@host:path`), git://, http:// and `transport::` URLs are refused:
    an index built for a public page must not reach servers or run helpers that an
    operator did not mean to trust.
    """
    lowered = url.lower()
    if lowered.startswith(_CLONE_SCHEMES):
        return
    if "://" in url or _TRANSPORT.match(url) or ":" in url.split("/")[0]:
        raise CorpusError(f"{public_source(url)}: refused: only https:// and file:// URLs or local paths can be cloned")


# Only https and local (file) transports, whatever the user's git config says (insteadOf
# rewrites included); no credential prompt; symlinks checked out as plain files.
_GIT_SAFETY = (
    "-c", "protocol.allow=never",
    "-c", "protocol.https.allow=always",
    "-c", "protocol.file.allow=always",
    "-c", "core.symlinks=false",
)


def clone_repository(url: str, into: Path) -> Path:
    """Shallow-clone `url` into the empty or missing folder `into`.

    Raises `CorpusError` naming the URL without its credentials when the URL is
    refused (`check_clone_url`) or the clone fails. The clone itself may use them.
    """
    shown = public_source(url)
    check_clone_url(url)
    into.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["git", *_GIT_SAFETY, "clone", "--quiet", "--depth", "1", "--", url, str(into)],
            check=True,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=600,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        )
    except FileNotFoundError:
        raise CorpusError(f"{shown}: cannot clone, 'git' is not installed") from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{shown}: git clone timed out") from None
    except subprocess.CalledProcessError as exc:
        lines = [line.strip() for line in (exc.stderr or "").splitlines() if line.strip()]
        detail = next((line for line in lines if line.startswith("fatal:")), lines[-1] if lines else "")
        detail = public_source(detail.replace(url, shown)) or f"exit code {exc.returncode}"
        raise CorpusError(f"{shown}: git clone failed: {detail}") from None
    return into
