"""The index in Milvus: passages, vectors and BM25 text in one engine, embedded or clustered.

`rag ingest ... --backend milvus --milvus-uri URI` writes the index into a Milvus
collection and leaves only `manifest.json` in the index directory, naming the engine and
the collection. URI is a Milvus Lite file (`*.db`, the engine embedded in this process,
started by nothing) or `http(s)://host:19530` (a standalone server or a cluster; its
token from MILVUS_TOKEN, sent to that host only).

    engine.py      connecting, deadlines and errors: every failure is one line naming the URI
    collection.py  the schema; writing a generation; the alias swap
    reader.py      the index as search reads it: passages, dense and BM25 search over
                   candidate scopes, the term statistics

The project's own ranking (fusion, episode focus, merging, locating the moment) runs
unchanged on the engine's candidates: the engine answers "the k best among these
episodes", which is what `VectorStore` and `LexicalSearch` ask.
"""
