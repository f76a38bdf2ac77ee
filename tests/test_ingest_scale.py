"""Ingest at scale: embedding worker processes, `--shard I/N` runs and the merge."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag.cli import cli
from rag.errors import EmbedderError
from rag.index.embedding import EmbedderSpec, EmbeddingCache, HashingEmbedder, Shard, normalize_rows, text_key
from rag.index.embedding.cache import shard_files
from rag.index.embedding.workers import fill_cache, worker_threads
from rag.index.files import load_index

REPO = Path(__file__).parent.parent
HASHING = "hashing-256"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def ingest_cli(corpus: Path, index: Path, cache: Path, *extra: str):
    result = run("ingest", str(corpus), "--index", str(index), "--cache", str(cache), "--model", HASHING, "-q", *extra)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def grown_corpus(corpus_dir: Path) -> Path:
    """The test corpus plus two altered copies of each episode: over 256 distinct passage
    texts, so that embedding takes several batches and two workers both get some."""
    for path in sorted((corpus_dir / "podcast").glob("*.md")):
        text = path.read_text(encoding="utf-8")
        video = re.search(r"youtube: (\S{11})", text).group(1)  # one episode per video id
        for copy in (2, 3):
            altered = re.sub(r"\bthe\b", f"the{copy}", text).replace(video, f"{video[:-1]}{copy}")
            (corpus_dir / "podcast" / f"{path.stem}-{copy}.md").write_text(altered, encoding="utf-8")
    return corpus_dir


def saved_vectors(index_dir: Path) -> np.ndarray:
    return np.load(index_dir / "vectors.npy", allow_pickle=False)


def cached_keys(path: Path) -> set[str]:
    with np.load(path, allow_pickle=False) as data:
        return set(data["keys"].tolist())


def assert_same_index(built: Path, expected: Path) -> None:
    one, other = load_index(built), load_index(expected)
    assert list(one.passages) == list(other.passages)
    assert np.array_equal(saved_vectors(built), saved_vectors(expected))
    for query in ("bloom filters", "hiring a data team", "technical writing"):
        assert np.array_equal(one.lexical.scores(query), other.lexical.scores(query))
    drop = ("created_at",)
    assert {k: v for k, v in one.manifest.items() if k not in drop} == {
        k: v for k, v in other.manifest.items() if k not in drop}


def test_two_shards_then_merge_build_the_index_one_ingest_builds(tmp_path: Path, corpus_dir: Path) -> None:
    plain = ingest_cli(corpus_dir, tmp_path / "plain", tmp_path / "plain-cache")
    cache = tmp_path / "cache"
    first = ingest_cli(corpus_dir, tmp_path / "merged", cache, "--shard", "1/2")
    second = ingest_cli(corpus_dir, tmp_path / "merged", cache, "--shard", "2/2")

    assert not (tmp_path / "merged").exists()  # a shard builds no index
    files = [cache / f"{HASHING}.shard-1-of-2.npz", cache / f"{HASHING}.shard-2-of-2.npz"]
    assert shard_files(cache, HASHING) == files and not (cache / f"{HASHING}.npz").exists()
    keys = [cached_keys(path) for path in files]
    assert not keys[0] & keys[1] and all(Shard(n + 1, 2).holds(k) for n in (0, 1) for k in keys[n])
    for result, shard_keys, path, n in zip((first, second), keys, files, (1, 2)):
        assert re.fullmatch(rf"shard {n}/2: embedded {len(shard_keys)} passages into {re.escape(str(path))} "
                            rf"\(0 of its {len(shard_keys)} were cached; 4 episodes read\) in \d+\.\ds\n", result.output)

    merged = ingest_cli(corpus_dir, tmp_path / "merged", cache)
    passages = len(load_index(tmp_path / "plain").passages)
    assert merged.output.startswith(f"indexed 4 episodes, {passages} passages (0 embedded, {passages} from cache)")
    assert plain.output.startswith(f"indexed 4 episodes, {passages} passages ({len(keys[0] | keys[1])} embedded")
    assert_same_index(tmp_path / "merged", tmp_path / "plain")
    # The shards are folded into the main cache, and only then removed.
    assert shard_files(cache, HASHING) == [] and cached_keys(cache / f"{HASHING}.npz") == keys[0] | keys[1]


def test_merge_embeds_what_no_shard_did(tmp_path: Path, corpus_dir: Path) -> None:
    ingest_cli(corpus_dir, tmp_path / "idx", tmp_path / "cache", "--shard", "2/3")
    done = cached_keys(tmp_path / "cache" / f"{HASHING}.shard-2-of-3.npz")
    merged = ingest_cli(corpus_dir, tmp_path / "idx", tmp_path / "cache")
    distinct = cached_keys(tmp_path / "cache" / f"{HASHING}.npz")
    assert f"({len(distinct - done)} embedded, " in merged.output and done < distinct


def test_workers_2_give_the_vectors_of_workers_1(tmp_path: Path, grown_corpus: Path) -> None:
    one = ingest_cli(grown_corpus, tmp_path / "one", tmp_path / "cache-one", "--workers", "1")
    two = ingest_cli(grown_corpus, tmp_path / "two", tmp_path / "cache-two", "--workers", "2")
    assert int(re.match(r"indexed 12 episodes, \d+ passages \((\d+) embedded", two.output).group(1)) > 256
    assert one.output.split(" in ")[0] == two.output.split(" in ")[0]  # same counts
    assert_same_index(tmp_path / "two", tmp_path / "one")


def test_shards_with_workers_then_merge_build_the_same_index(tmp_path: Path, grown_corpus: Path) -> None:
    ingest_cli(grown_corpus, tmp_path / "plain", tmp_path / "plain-cache")
    for shard in ("1/2", "2/2"):
        ingest_cli(grown_corpus, tmp_path / "merged", tmp_path / "cache", "--shard", shard, "--workers", "2")
    merged = ingest_cli(grown_corpus, tmp_path / "merged", tmp_path / "cache")
    assert "(0 embedded, " in merged.output
    assert_same_index(tmp_path / "merged", tmp_path / "plain")


@pytest.mark.parametrize("value", ["0/2", "3/2", "1/0", "-1/2", "a/b", "1-2", "1/2/3", ""])
def test_a_bad_shard_is_a_usage_error_that_quotes_it(tmp_path: Path, corpus_dir: Path, value: str) -> None:
    result = run("ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model", HASHING, "--shard", value)
    assert result.exit_code == 2
    assert result.output.endswith(
        f"Error: Invalid value for '--shard': {value!r} is not a shard: use I/N with 1 <= I <= N, "
        "e.g. 1/4 for the first of four\n")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "idx").exists()


@pytest.mark.parametrize("index_option", [["--force"], ["--name", "My Show"]])
def test_shard_with_an_index_option_is_a_usage_error(tmp_path: Path, corpus_dir: Path, index_option: list[str]) -> None:
    result = run("ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model", HASHING,
                 "--shard", "1/2", *index_option)
    assert result.exit_code == 2
    assert "Error: --force and --name are for the index, and a --shard run builds none; drop them" in result.output


def test_zero_workers_is_a_usage_error(tmp_path: Path, corpus_dir: Path) -> None:
    result = run("ingest", str(corpus_dir), "--index", str(tmp_path / "idx"), "--model", HASHING, "--workers", "0")
    assert result.exit_code == 2 and "Invalid value for '--workers': 0 is not in the range x>=1." in result.output


def test_two_shards_running_at_once_keep_their_own_files(tmp_path: Path, grown_corpus: Path) -> None:
    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "rag.cli", "ingest", str(grown_corpus), "--index", str(tmp_path / "idx"),
               "--cache", str(cache), "--model", HASHING, "-q", "--shard"]
    children = [subprocess.Popen([*command, shard], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for shard in ("1/2", "2/2")]
    outputs = [child.communicate(timeout=120) for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs  # no lock between shards
    ingest_cli(grown_corpus, tmp_path / "plain", tmp_path / "plain-cache")
    distinct = cached_keys(tmp_path / "plain-cache" / f"{HASHING}.npz")
    one, two = (cached_keys(cache / f"{HASHING}.shard-{n}-of-2.npz") for n in (1, 2))
    assert one | two == distinct and not one & two
    assert "(0 embedded, " in ingest_cli(grown_corpus, tmp_path / "idx", cache).output


def test_a_shard_file_rewritten_during_the_merge_is_kept(tmp_path: Path) -> None:
    embedder = HashingEmbedder(dim=256)
    texts = [f"passage number {n}" for n in range(40)]
    shard_cache = EmbeddingCache(tmp_path, HASHING, shard=Shard(1, 2))
    fill_cache(shard_cache, texts[:20], embedder)
    merge = EmbeddingCache(tmp_path, HASHING)  # has read the shard file
    assert len(merge) == 20
    fill_cache(EmbeddingCache(tmp_path, HASHING, shard=Shard(1, 2)), texts, embedder)  # the shard goes on
    merge.add(texts[:1], embedder.embed(texts[:1]))
    merge.save()
    assert cached_keys(tmp_path / f"{HASHING}.npz") == {text_key(t) for t in texts[:20]}
    assert shard_files(tmp_path, HASHING) == [tmp_path / f"{HASHING}.shard-1-of-2.npz"]
    assert len(EmbeddingCache(tmp_path, HASHING)) == 40  # the next merge gets the rest


def test_an_up_to_date_ingest_still_folds_shard_files(tmp_path: Path, corpus_dir: Path) -> None:
    ingest_cli(corpus_dir, tmp_path / "idx", tmp_path / "cache")
    ingest_cli(corpus_dir, tmp_path / "idx", tmp_path / "other-cache", "--shard", "1/2")
    shard_keys = cached_keys(tmp_path / "other-cache" / f"{HASHING}.shard-1-of-2.npz")
    again = ingest_cli(corpus_dir, tmp_path / "idx", tmp_path / "other-cache")
    assert again.output.startswith("index up to date")
    assert shard_files(tmp_path / "other-cache", HASHING) == []
    assert cached_keys(tmp_path / "other-cache" / f"{HASHING}.npz") == shard_keys


# Worker processes import these by name (spawn), as they would a real embedder.


class PidLoggingEmbedder(HashingEmbedder):
    """The hashing embedder, noting which process embedded each batch and on how many threads."""

    def __init__(self, log: Path, threads: int | None) -> None:
        super().__init__(dim=256)
        self.log, self.threads = log, threads

    def embed(self, texts):  # type: ignore[no-untyped-def]
        first = not self.log.exists() or str(os.getpid()) not in self.log.read_text()
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {self.threads} {len(texts)}\n")
        # A worker's first batch waits until a second process has logged one, so that the
        # first worker cannot finish every batch while the second is still starting.
        deadline = time.monotonic() + 60
        while first and len({line.split()[0] for line in self.log.read_text().splitlines()}) < 2:
            assert time.monotonic() < deadline, "no second worker process embedded anything"
            time.sleep(0.05)
        return super().embed(texts)


@dataclass(frozen=True)
class PidLoggingSpec(EmbedderSpec):
    log: str = ""

    def build(self, *, threads: int | None = None, show_progress: bool = False) -> HashingEmbedder:
        return PidLoggingEmbedder(Path(self.log), threads)


class DyingEmbedder(HashingEmbedder):
    """The hashing embedder, killed (as the kernel kills a process out of memory) by the text BOOM."""

    def embed(self, texts):  # type: ignore[no-untyped-def]
        if "BOOM" in texts:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().embed(texts)


@dataclass(frozen=True)
class DyingSpec(EmbedderSpec):
    def build(self, *, threads: int | None = None, show_progress: bool = False) -> HashingEmbedder:
        return DyingEmbedder(dim=256)


def test_workers_are_separate_processes_sharing_the_cores(tmp_path: Path) -> None:
    texts = [f"passage {n} about streaming" for n in range(100)]
    log = tmp_path / "log.txt"
    cache = EmbeddingCache(tmp_path / "cache", HASHING)
    embedded = fill_cache(cache, texts, HashingEmbedder(dim=256), workers=2, spec=PidLoggingSpec(HASHING, log=str(log)),
                          batch_size=10)
    rows = [line.split() for line in log.read_text().splitlines()]
    pids = {int(pid) for pid, _, _ in rows}
    assert embedded == 100 and sum(int(n) for _, _, n in rows) == 100
    assert len(pids) == 2 and os.getpid() not in pids
    assert {int(threads) for _, threads, _ in rows} == {worker_threads(2)} == {max(1, (os.cpu_count() or 1) // 2)}
    assert np.array_equal(EmbeddingCache(tmp_path / "cache", HASHING).lookup(texts, 256),
                          normalize_rows(HashingEmbedder(dim=256).embed(texts)))


def test_a_worker_that_dies_is_named_and_the_finished_batches_are_kept(tmp_path: Path) -> None:
    texts = [f"passage {n} about streaming" for n in range(160)] + ["BOOM"] + [f"late {n}" for n in range(40)]
    cache = EmbeddingCache(tmp_path, HASHING)
    with pytest.raises(EmbedderError) as error:
        fill_cache(cache, texts, HashingEmbedder(dim=256), workers=2, spec=DyingSpec(HASHING), batch_size=16)
    message = str(error.value)
    kept = int(re.search(r"the (\d+) passages embedded before it are kept in (\S+);", message).group(1))
    assert message.startswith("an embedding worker process died (killed, out of memory, or crashed in hashing-256)")
    assert f"kept in {tmp_path / 'hashing-256.npz'}; run the same command again" in message
    # The BOOM batch is the 11th: ten batches had been handed out, so at least nine had finished.
    assert kept >= 9 * 16
    saved = EmbeddingCache(tmp_path, HASHING)
    assert len(saved) == kept and "BOOM" not in [t for t in texts if saved.has(t)]
    done = [t for t in texts if saved.has(t)]
    assert np.array_equal(saved.lookup(done, 256), normalize_rows(HashingEmbedder(dim=256).embed(done)))
    assert fill_cache(saved, texts, HashingEmbedder(dim=256)) == len(texts) - kept  # the re-run does the rest


def test_a_worker_whose_model_fails_to_load_reports_that_error(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, HASHING)
    with pytest.raises(EmbedderError, match=r"a worker built 'hashing-64' from .*, not 'hashing-256'"):
        fill_cache(cache, [f"text {n}" for n in range(30)], HashingEmbedder(dim=256), workers=2,
                   spec=EmbedderSpec("hashing-64"), batch_size=10)
    assert not (tmp_path / "hashing-256.npz").exists()
