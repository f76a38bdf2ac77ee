"""Stage 2, episodes -> index: passages cut, embedded and written to one directory.

    chunking.py  Episode -> speaker-aware, timestamped Passages sized by the tokenizer
    embedding/   embedders (ONNX int8 by default) and the vector cache re-ingest reuses
    vectors.py   VectorStore protocol; FaissStore (exact, IVF or HNSW)
    lexical.py   LexicalIndex (bm25s) and the term weights search and the refusal gate read
    store.py     PassageStore: passages in SQLite, read as they are returned
    files.py     the index directory: saved atomically, locked, loaded and checked
    build.py     ingest: sources -> a saved index, incremental, sharded when asked
"""
