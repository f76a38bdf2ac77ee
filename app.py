"""The web chat: `python app.py` (or a Hugging Face Space) serves `rag.app.layout.build_app`.

Configuration comes from the environment, and flags win:

    RAG_INDEX=indexes/dtc GRADIO_SERVER_PORT=7860 python app.py
    OPENAI_BASE_URL=http://localhost:11434/v1 RAG_LLM_MODEL=llama3.2 python app.py --port 8080
    HF_TOKEN=hf_... python app.py            # the Hugging Face router as the LLM
    python app.py --no-mcp                   # no MCP server (or RAG_MCP=0)

The MCP server is on by default: Gradio serves the app's tools (`rag/app/mcp_tools.py`) at
http://HOST:PORT/gradio_api/mcp/ (streamable HTTP). What the operator needs to know
(how to enable an LLM, where the share-link key lives, a missing index) is printed in
the terminal at start-up, never shown on the page.

When the index is missing and a corpus is given (`--corpus` or RAG_CORPUS; on a
Hugging Face Space, the DataTalks.Club website repository), the page comes up at once
and shows the build's progress until the index is ready; without one the page says
it is not ready and the terminal says how to build it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.config import Config


# On a Hugging Face Space without a shipped index, the transcripts come from here.
WEBSITE_REPO = "https://github.com/DataTalksClub/datatalksclub.github.io.git"
WEBSITE_PODCAST = "the DataTalks.Club podcast"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ask a podcast: the web chat.")
    parser.add_argument("--index", help="Index directory [RAG_INDEX or indexes/dtc].")
    parser.add_argument("--corpus", default=os.environ.get("RAG_CORPUS"), help="Build the index from this corpus when it is missing [RAG_CORPUS].")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="[GRADIO_SERVER_NAME or 127.0.0.1]")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="[GRADIO_SERVER_PORT or 7860]")
    parser.add_argument("--llm-model", help="LLM model name [RAG_LLM_MODEL].")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
    parser.add_argument("--feedback", default=os.environ.get("RAG_FEEDBACK", "feedback.jsonl"), help="Feedback log (JSONL) [RAG_FEEDBACK or feedback.jsonl].")
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("RAG_CONCURRENCY", "4")), help="Answers generated at once [RAG_CONCURRENCY or 4].")
    parser.add_argument("--mcp", action=argparse.BooleanOptionalAction, default=env_flag("RAG_MCP", default=True),
                        help="Serve ask_podcast and find_moments as MCP tools at /gradio_api/mcp/ [RAG_MCP or on].")
    return parser.parse_args(argv)


def env_flag(name: str, *, default: bool) -> bool:
    """A yes/no environment variable (`rag.config.as_bool`); unset or empty: `default`."""
    from rag.config import as_bool
    from rag.errors import RagError

    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return as_bool(value, name)
    except RagError as exc:
        raise SystemExit(f"error: {exc}") from None


def startup_notes(config: Config, share_source: str, mcp: bool) -> list[str]:
    """What the operator reads in the terminal at start-up (the page shows none of it)."""
    from rag.answers.llm import LLM_SETUP_HINT
    from rag.app.share import key_file

    notes = [f"Answers written by {config.llm.describe()}." if config.llm.configured else LLM_SETUP_HINT]
    if share_source == "environment":
        notes.append("Share links are signed with RAG_SHARE_SECRET: they keep working across restarts.")
    elif share_source == "file":
        notes.append(f"Share links are signed with the key in {key_file(config)}: they stop working if that file "
                     "is lost (e.g. a Space restart without persistent storage); set RAG_SHARE_SECRET to keep them.")
    else:
        notes.append("Share links are signed with a key kept in memory: they stop working when the app restarts; "
                     "set RAG_SHARE_SECRET to keep them.")
    if not mcp:
        notes.append("MCP server off (--no-mcp or RAG_MCP=0).")
    if config.relevance_model and not _names_relevance_model(config):
        notes.append(f"Search ranks without a trained relevance model: `rag tune --index {config.index_dir}` "
                     "trains one on the transcripts (once, about 40 minutes on 2 cores).")
    return notes


def _names_relevance_model(config: Config) -> bool:
    """Whether the index's manifest names a relevance model (a missing index: say nothing)."""
    from rag.errors import RagError
    from rag.index.files import read_manifest

    try:
        return bool(read_manifest(config.index_dir).get("relevance"))
    except RagError:
        return True


def main(argv: list[str] | None = None) -> int:

    from rag.app.layout import build_app, launch_kwargs
    from rag.app.share import load_signer
    from rag.config import load_config
    from rag.errors import RagError

    args = parse_args(argv)
    logging.basicConfig(format="%(message)s")
    logging.getLogger("rag").setLevel(logging.INFO)
    try:
        config = load_config().with_overrides(index_dir=args.index)
        config = config.with_llm(args.llm_model, args.llm_base_url)
        corpus = args.corpus or (WEBSITE_REPO if os.environ.get("SPACE_ID") else None)
        share = load_signer(config)
        demo = build_app(config, feedback_path=args.feedback, concurrency=args.concurrency, build_from=corpus,
                         build_name=WEBSITE_PODCAST if corpus == WEBSITE_REPO else None, share=share)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for note in startup_notes(config, share.source, args.mcp):
        print(note, file=sys.stderr)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs(mcp_server=args.mcp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
