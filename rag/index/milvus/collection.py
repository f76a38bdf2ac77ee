"""The index as a Milvus collection: its schema, writing one generation, and the alias swap.

One logical index is an alias (`rag_dtc`) that points at one generation, a physical
collection `rag_dtc__<time>_<random>`. A rebuild writes a fresh generation and then moves
the alias in one call, so a reader never sees half an index; the generation before stays
for readers that opened it, the ones older are dropped.

A row is one passage, keyed by its position in the index (what `VectorStore` and
`LexicalSearch` return as ids), with its episode's code and its ordinal (what merging
neighbours reads), its vector, the BM25 text and the passage itself as JSON. Filters
become `episode_code in [...]`: integers only, nothing of a transcript is ever part of
an expression. The BM25 text is our own tokens (stemmed, stop words out, as the bm25s
index has them) joined by spaces, so the engine's BM25 ranks the same terms.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from typing import Any, Iterable, Iterator, Sequence

import numpy as np

from rag.errors import IndexCorruptError
from rag.index.chunking import Passage
from rag.index.lexical import LexicalIndex
from rag.index.milvus.engine import WRITE_TIMEOUT_S, Engine
from rag.index.store import passage_from_json, passage_to_json

VARCHAR_MAX = 65_535  # the engine's limit for one text field, in UTF-8 bytes
BATCH_ROWS = 1_000
BATCH_BYTES = 8 << 20
# bm25s's defaults ("lucene" IDF, k1 1.5, b 0.75): the engine's BM25 then scores as ours does.
BM25_PARAMS = {"bm25_k1": 1.5, "bm25_b": 0.75}
FIELDS = ("position", "episode_code", "ordinal", "episode_fingerprint", "text", "sparse", "vector", "data")
MAX_LIMIT = 16_384  # the engine's largest page and top-k
SCHEMA_VERSION = 2  # 2: episode_fingerprint, for updates in place


def new_generation_name(alias: str) -> str:
    return f"{alias}__{time.strftime('%Y%m%d%H%M%S')}_{secrets.token_hex(3)}"


def create_generation(engine: Engine, name: str, dim: int) -> None:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("position", DataType.INT64, is_primary=True)
    schema.add_field("episode_code", DataType.INT64)
    schema.add_field("ordinal", DataType.INT64)
    schema.add_field("episode_fingerprint", DataType.VARCHAR, max_length=64)  # what an update compares
    schema.add_field("text", DataType.VARCHAR, max_length=VARCHAR_MAX, enable_analyzer=True)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("data", DataType.VARCHAR, max_length=VARCHAR_MAX)
    schema.add_function(Function(name="text_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["text"], output_field_names=["sparse"]))
    indexes = MilvusClient.prepare_index_params()
    indexes.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    indexes.add_index(field_name="sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                      params=BM25_PARAMS)
    # Strong: a search sees every write acknowledged before it (a server's default is Bounded).
    engine.call("create_collection", name, schema=schema, index_params=indexes, consistency_level="Strong",
                deadline_s=WRITE_TIMEOUT_S)


def bm25_text(lexical_text: str) -> str:
    """The text the engine's BM25 indexes: our tokens, so both backends rank the same terms."""
    return " ".join(LexicalIndex.tokenize([lexical_text])[0])


def rows(passages: Iterable[Passage], vectors: Iterable[np.ndarray], lexical_texts: Iterable[str],
         fingerprints: dict[str, str], *, first_position: int = 0, first_code: int = 0,
         positions: Iterable[int] | None = None, codes: dict[str, int] | None = None) -> Iterator[dict[str, Any]]:
    """One row per passage from `first_position` on (or at `positions`), in index order;
    episode codes by first appearance from `first_code` (or as `codes` says), as the
    built-in store numbers them. The description is kept on an episode's first passage only."""
    codes = {} if codes is None else codes
    places = iter(positions) if positions is not None else None
    for offset, (passage, vector, text) in enumerate(zip(passages, vectors, lexical_texts)):
        position = next(places) if places is not None else first_position + offset
        code = codes.setdefault(passage.episode_id, first_code + len(codes))
        kept = passage if passage.ordinal == 0 else replace(passage, episode_description="")
        data = passage_to_json(kept)
        if len(data.encode("utf-8")) > VARCHAR_MAX:
            raise IndexCorruptError(f"{passage.id}: the passage is over Milvus's {VARCHAR_MAX:,} bytes per field")
        yield {"position": position, "episode_code": code, "ordinal": passage.ordinal,
               "episode_fingerprint": fingerprints.get(passage.episode_id, ""),
               "text": bm25_text(text)[:VARCHAR_MAX // 4], "vector": np.asarray(vector, dtype=np.float32).tolist(),
               "data": data}


def write_generation(engine: Engine, name: str, batches: Iterator[list[dict[str, Any]]]) -> int:
    """Write the rows, seal them and load the generation, ready to search; returns the count."""
    written = 0
    for batch in batches:
        engine.call("insert", name, batch, deadline_s=WRITE_TIMEOUT_S)
        written += len(batch)
    # Rows left unsealed make a Lite BM25 search score all of them from scratch (seconds).
    engine.call("flush", name, deadline_s=WRITE_TIMEOUT_S)
    load(engine, name)
    warm(engine, name)
    return written


def warm(engine: Engine, name: str) -> None:
    """Build the engine's BM25 scorers now, under the long deadline: Milvus Lite builds them
    on the first BM25 search of each process (47 s at 420k passages), which would otherwise
    be a visitor's question, and over the search deadline."""
    engine.call("search", name, data=["warm"], anns_field="sparse", limit=1, output_fields=["position"],
                search_params={"metric_type": "BM25"}, deadline_s=WRITE_TIMEOUT_S)


def batched(items: Iterator[dict[str, Any]], max_rows: int = BATCH_ROWS,
            max_bytes: int = BATCH_BYTES) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    size = 0
    for row in items:
        row_size = len(row["data"]) + len(row["text"]) + 4 * len(row["vector"]) + 64
        if batch and (len(batch) >= max_rows or size + row_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(row)
        size += row_size
    if batch:
        yield batch


def load(engine: Engine, name: str, attempts: int = 40, pause_s: float = 0.25) -> None:
    """Load a generation for search. Milvus Lite writes a segment's index file in a
    background thread after a flush or an open; a load meanwhile fails with "not fully
    written", and is retried."""
    for attempt in range(attempts):
        try:
            engine.call("load_collection", name, deadline_s=WRITE_TIMEOUT_S)
            return
        except IndexCorruptError as exc:
            if "not fully written" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(pause_s)


def alias_target(engine: Engine, alias: str) -> str | None:
    if alias not in engine.call("list_aliases").get("aliases", []):
        return None
    return str(engine.call("describe_alias", alias)["collection_name"])


def publish(engine: Engine, alias: str, generation: str) -> list[str]:
    """Point `alias` at `generation`; drop the generations older than the one it replaced.
    Returns the dropped names."""
    previous = alias_target(engine, alias)
    if previous is None:
        engine.call("create_alias", generation, alias)
    else:
        engine.call("alter_alias", generation, alias)
    kept = {generation, previous}
    dropped = [name for name in generations(engine, alias) if name not in kept]
    for name in dropped:
        engine.call("drop_collection", name, deadline_s=WRITE_TIMEOUT_S)
    return dropped


def generations(engine: Engine, alias: str) -> list[str]:
    return sorted(name for name in engine.call("list_collections") if name.startswith(f"{alias}__"))


def check_generation(engine: Engine, name: str, dim: int, count: int) -> None:
    """The generation the manifest names exists, has our fields, its dimension and its count."""
    if not engine.call("has_collection", name):
        raise IndexCorruptError(f"{engine.shown}: collection {name} is gone (replaced by a newer ingest?); "
                                f"re-read the index, or rebuild it with `rag ingest`")
    described = engine.call("describe_collection", name)
    fields = {field["name"]: field for field in described["fields"]}
    missing = sorted(set(FIELDS) - set(fields))
    if missing:
        raise IndexCorruptError(f"{engine.shown}: collection {name} lacks the fields {missing}; rebuild with `rag ingest`")
    found_dim = int(fields["vector"].get("params", {}).get("dim", 0))
    if found_dim != dim:
        raise IndexCorruptError(f"{engine.shown}: collection {name} holds {found_dim}-dim vectors, the manifest {dim}")
    load(engine, name)
    found = int(engine.call("query", name, filter="", output_fields=["count(*)"])[0]["count(*)"])
    if found != count:
        raise IndexCorruptError(f"{engine.shown}: collection {name} holds {found} passages, the manifest says {count}")


def term_counts(texts: Iterable[str]) -> dict[str, int]:
    """How many passages say each term (BM25's document frequency), for `term_idf`."""
    counts: dict[str, int] = {}
    for text in texts:
        for term in set(LexicalIndex.tokenize([text])[0]):
            counts[term] = counts.get(term, 0) + 1
    return counts


def manifest_entry(engine: Engine, alias: str, generation: str, positions: int,
                   counts: dict[str, int]) -> dict[str, Any]:
    """What the manifest records of the engine: where, which alias and generation, how many
    positions it has used (deleted passages leave theirs empty), the term counts."""
    return {"uri": engine.shown, "alias": alias, "collection": generation, "positions": positions,
            "term_counts": dict(sorted(counts.items()))}


def all_rows(engine: Engine, collection: str, fields: list[str], positions: int,
             expression: str = "") -> Iterator[dict[str, Any]]:
    """Every row, a page of positions at a time (the engine returns at most 16,384 a query)."""
    for start in range(0, positions, MAX_LIMIT):
        page = f"position >= {start} and position < {start + MAX_LIMIT}"
        # Opening reads every row once: an admin step, under the long deadline (Lite at 413k
        # passages takes over 10 s a page), never a visitor's question.
        yield from engine.call("query", collection, filter=f"{page} and {expression}" if expression else page,
                               output_fields=fields, limit=MAX_LIMIT, deadline_s=WRITE_TIMEOUT_S)


def write_index(uri: str, alias: str, dim: int, count: int, new_rows: Iterator[dict[str, Any]],
                counts: dict[str, int]) -> dict[str, Any]:
    """A fresh generation of `alias` at `uri` holding `new_rows` (`rows`, `count` of them),
    written, sealed and loaded, then the alias moved onto it: readers of the alias see the
    old index or the new one, never half of one. Returns the manifest's entry for it."""
    engine = Engine(uri)
    try:
        generation = new_generation_name(alias)
        create_generation(engine, generation, dim)
        try:
            written = write_generation(engine, generation, batched(new_rows))
            if written != count:
                raise IndexCorruptError(f"{engine.shown}: {written} passages written to {generation}, not {count}")
        except BaseException:
            engine.call("drop_collection", generation, deadline_s=WRITE_TIMEOUT_S)
            raise
        publish(engine, alias, generation)
        return manifest_entry(engine, alias, generation, count, counts)
    finally:
        engine.close()


def update_in_place(entry: dict[str, Any], passages: Sequence[Passage], vectors: np.ndarray,
                    lexical_texts: Sequence[str], fingerprints: dict[str, str]) -> tuple[dict[str, Any], int, int]:
    """Bring the generation `entry` names to these passages by writing only what changed:
    the passages of removed or changed episodes are deleted, those of new or changed ones
    appended at fresh positions. Idempotent: a second run finds nothing to do. Returns
    the new manifest entry and how many episodes were dropped and written."""
    engine = Engine(str(entry["uri"]))
    try:
        generation, positions = str(entry["collection"]), int(entry["positions"])
        load(engine, generation)  # a reopened Lite file has every collection released
        stored = {passage_from_json(row["data"]).episode_id: (int(row["episode_code"]), row["episode_fingerprint"])
                  for row in all_rows(engine, generation, ["episode_code", "episode_fingerprint", "data"],
                                      positions, "ordinal == 0")}
        kept = {episode for episode, (_, fingerprint) in stored.items() if fingerprints.get(episode) == fingerprint}
        stale = sorted(code for episode, (code, _) in stored.items() if episode not in kept)
        if stale:
            engine.call("delete", generation, filter=f"episode_code in [{', '.join(map(str, stale))}]",
                        deadline_s=WRITE_TIMEOUT_S)
        fresh = [i for i, passage in enumerate(passages) if passage.episode_id not in kept]
        first_code = max((code for code, _ in stored.values()), default=-1) + 1
        new_rows = rows([passages[i] for i in fresh], vectors[fresh], [lexical_texts[i] for i in fresh], fingerprints,
                        first_position=positions, first_code=first_code)
        for batch in batched(new_rows):
            engine.call("insert", generation, batch, deadline_s=WRITE_TIMEOUT_S)
        engine.call("flush", generation, deadline_s=WRITE_TIMEOUT_S)
        if stale:
            compact(engine, generation)
        load(engine, generation)
        updated = manifest_entry(engine, str(entry["alias"]), generation, positions + len(fresh),
                                 term_counts(lexical_texts))
        return updated, len(stale), len({passages[i].episode_id for i in fresh})
    finally:
        engine.close()


def compact(engine: Engine, name: str, wait_s: float = 60.0) -> None:
    """Merge away deleted rows, to reclaim their room (Milvus Lite's BM25 statistics still
    count them afterwards: docs/deploy.md, "BM25 statistics")."""
    job = engine.call("compact", name, deadline_s=WRITE_TIMEOUT_S)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if str(engine.call("get_compaction_state", job)).lower() in ("completed", "compactionstate.completed"):
            return
        time.sleep(0.2)


def shard_generation_name(alias: str, build_key: str) -> str:
    """The generation every shard of one build writes into: named by what is built."""
    return f"{alias}__shards_{build_key[:16]}"


def write_shard(uri: str, alias: str, build_key: str, dim: int, total: int, new_rows: Iterator[dict[str, Any]],
                counts: dict[str, int]) -> tuple[int, dict[str, Any] | None]:
    """Write one shard's rows into the generation all shards of this build share (the
    first to come creates it; rows are keyed by position, and a shard run twice adds
    none). The shard that finds all `total` passages there publishes it. Returns how
    many rows this shard wrote and, once published, the manifest's entry."""
    engine = Engine(uri)
    try:
        name = shard_generation_name(alias, build_key)
        if not engine.call("has_collection", name):
            try:
                create_generation(engine, name, dim)
            except IndexCorruptError:
                if not engine.call("has_collection", name):  # not another shard's creation: a real failure
                    raise
        load(engine, name)
        written = 0
        for batch in batched(new_rows):
            # Insert only the rows not there yet: an upsert would delete and re-add them, and
            # the engine's BM25 statistics go on counting what was deleted.
            positions = ", ".join(str(row["position"]) for row in batch)
            there = {int(row["position"]) for row in engine.call(
                "query", name, filter=f"position in [{positions}]", output_fields=["position"], limit=len(batch))}
            missing = [row for row in batch if row["position"] not in there]
            if missing:
                engine.call("insert", name, missing, deadline_s=WRITE_TIMEOUT_S)
            written += len(batch)
        engine.call("flush", name, deadline_s=WRITE_TIMEOUT_S)
        return written, _publish_if_complete(engine, alias, name, total, counts)
    finally:
        engine.close()


def published_shards(uri: str, alias: str, build_key: str, total: int, counts: dict[str, int]) -> dict[str, Any] | None:
    """The manifest entry of this build's shards' generation when it holds every passage
    (published now if no shard did); None when the shards have not written it all."""
    engine = Engine(uri)
    try:
        name = shard_generation_name(alias, build_key)
        return _publish_if_complete(engine, alias, name, total, counts) if engine.call("has_collection", name) else None
    finally:
        engine.close()


def _publish_if_complete(engine: Engine, alias: str, name: str, total: int, counts: dict[str, int]) -> dict[str, Any] | None:
    load(engine, name)
    if int(engine.call("query", name, filter="", output_fields=["count(*)"])[0]["count(*)"]) != total:
        return None
    if alias_target(engine, alias) != name:
        publish(engine, alias, name)
    return manifest_entry(engine, alias, name, total, counts)
