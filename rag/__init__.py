"""podcast-rag: find the moment in a podcast where a question was discussed.

One package per stage; imports point one way (tests/test_architecture.py):

    sources/   transcripts, folders, git, feeds -> Episodes
    index/     Episodes -> an index on disk
    search/    a question -> ranked moments (Hits)
    answers/   Hits -> a cited Answer, or a refusal
    app/       an Answer -> the web page, share links, MCP tools

Below them the shared leaves (errors, limits, moment, atomic, urls, measure); above the
first four, config.py and pipeline.py, which assemble them from settings; on top, the
`rag` command (cli/) and the evaluation helpers.
"""

__version__ = "0.1.0"
