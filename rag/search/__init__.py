"""Stage 3, question -> moments: the passages where it was discussed, and the second each
link opens at.

    searcher.py  Searcher: dense + BM25, fused, focused on the episodes in question
    scope.py     which passages a search may return (filters, guests named in the question)
    fusion.py    reciprocal-rank fusion; neighbouring passages merged into one moment
    locate.py    where inside a moment the answer starts
    hits.py      Hit (a moment) and Filters (episode, guest, season)
    relevance.py, rescore.py   the optional relevance model trained on the podcast (`rag tune`)
    pairs.py, training.py, tune.py   mining its training pairs and training it
"""
