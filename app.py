"""Web chat entry point. Until the Gradio app lands, `python app.py` runs the
interactive search of the `rag` command against RAG_INDEX (default indexes/dtc)."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from rag.cli import cli

    index = os.environ.get("RAG_INDEX", "indexes/dtc")
    return cli.main(["search", "--index", index], prog_name="app.py", standalone_mode=False) or 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as exc:  # noqa: BLE001 - the stub must never show a traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
