"""Where an index lives: its own files (the default), or a Milvus collection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from rag.errors import CorpusError
from rag.index.files import BUILTIN
from rag.index.milvus.collection import SCHEMA_VERSION
from rag.index.milvus.engine import check_uri
from rag.urls import public_url


@dataclass(frozen=True)
class Backend:
    """Where the index lives: its own files ("builtin"), or a Milvus collection ("milvus")
    at `uri` (a Lite file *.db, or http(s)://host:19530) under the alias `collection`."""

    name: str = BUILTIN
    uri: str | None = None
    collection: str | None = None

    def for_index(self, index_dir: Path) -> Backend:
        """With the defaults filled in: a Lite file beside the index, an alias after its name."""
        if self.name == BUILTIN:
            return self
        if self.name != "milvus":
            raise CorpusError(f"unknown backend {self.name!r}: builtin or milvus")
        uri = check_uri(self.uri or str(index_dir.parent / f"{index_dir.name}-milvus.db"))
        collection = self.collection or "rag_" + re.sub(r"[^A-Za-z0-9]+", "_", index_dir.name).strip("_")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,120}", collection) or "__" in collection:
            raise CorpusError(f"Milvus collection {collection!r}: a letter, then letters, digits and single underscores")
        return Backend("milvus", uri, collection)

    def manifest_entry(self) -> dict[str, Any]:
        """What an index records of where it lives; another engine, alias or schema rebuilds it."""
        return {"uri": public_url(str(self.uri)), "alias": self.collection, "schema": SCHEMA_VERSION}

    @classmethod
    def of_manifest(cls, manifest: Mapping[str, Any] | None) -> Backend:
        engine = (manifest or {}).get("engine")
        if (manifest or {}).get("backend") == "milvus" and isinstance(engine, Mapping):
            return cls("milvus", str(engine.get("uri")), str(engine.get("alias")))
        return cls()
