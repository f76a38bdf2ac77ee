"""Stage 1, sources -> episodes: every way a podcast's transcripts arrive, read into
`Episode`s of timed, attributed `Line`s.

    episode.py   Line, Episode, FileNote: what every reader produces
    load.py      load_corpus: folders, files, git URLs and feeds -> a Corpus (+ a note per bad file)
    formats/     one reader per transcript format (DTC Markdown, WebVTT, SRT, Whisper JSON,
                 Podcasting 2.0 JSON), sniffed by content; speakers and chapters
    sidecar.py   a transcript plus its optional .yaml metadata -> an Episode
    rss.py       a podcast's RSS feed, parsed safely -> FeedItems
    feed.py      FeedItems -> Episodes: each item's transcript fetched or read
    fetch.py     one http(s) GET under one deadline, refusing private addresses
    git.py       cloning a repository of transcripts safely
    dedup.py     the same episode twice is indexed once
"""
