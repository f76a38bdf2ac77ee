"""The web chat: `python app.py` (or a Hugging Face Space) serves `rag.web.build_app`.

Configuration comes from the environment, and flags win:

    RAG_INDEX=indexes/dtc GRADIO_SERVER_PORT=7860 python app.py
    OPENAI_BASE_URL=http://localhost:11434/v1 RAG_LLM_MODEL=llama3.2 python app.py --port 8080
    HF_TOKEN=hf_... python app.py            # the Hugging Face router as the LLM

When the index is missing and a corpus is given (`--corpus` or RAG_CORPUS; on a
Hugging Face Space, the DataTalks.Club website repository), the page comes up at once
and shows the build's progress until the index is ready; without one the page says
how to build it.
"""

from __future__ import annotations

import argparse
import os
import sys


# On a Hugging Face Space without a shipped index, the transcripts come from here.
WEBSITE_REPO = "https://github.com/DataTalksClub/datatalksclub.github.io.git"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ask the DataTalks.Club podcast: the web chat.")
    parser.add_argument("--index", help="Index directory [RAG_INDEX or indexes/dtc].")
    parser.add_argument("--corpus", default=os.environ.get("RAG_CORPUS"), help="Build the index from this corpus when it is missing [RAG_CORPUS].")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), help="[GRADIO_SERVER_NAME or 127.0.0.1]")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), help="[GRADIO_SERVER_PORT or 7860]")
    parser.add_argument("--llm-model", help="LLM model name [RAG_LLM_MODEL].")
    parser.add_argument("--llm-base-url", help="OpenAI-compatible server URL [OPENAI_BASE_URL].")
    parser.add_argument("--feedback", default=os.environ.get("RAG_FEEDBACK", "feedback.jsonl"), help="Feedback log (JSONL) [RAG_FEEDBACK or feedback.jsonl].")
    parser.add_argument("--concurrency", type=int, default=int(os.environ.get("RAG_CONCURRENCY", "4")), help="Answers generated at once [RAG_CONCURRENCY or 4].")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:

    from rag.config import load_config
    from rag.errors import RagError
    from rag.web import build_app, launch_kwargs

    args = parse_args(argv)
    try:
        config = load_config().with_overrides(index_dir=args.index)
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    config = config.with_llm(args.llm_model, args.llm_base_url)
    corpus = args.corpus or (WEBSITE_REPO if os.environ.get("SPACE_ID") else None)
    demo = build_app(config, feedback_path=args.feedback, concurrency=args.concurrency, build_from=corpus)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs())
    return 0


if __name__ == "__main__":
    sys.exit(main())
