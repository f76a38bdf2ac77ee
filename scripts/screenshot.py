"""Take README's screenshot: the app answering a question from a real index.

    python scripts/screenshot.py [--index indexes/dtc] [--question "..."] [--out docs/screenshot.png]

Starts the web app in-process on a free port, asks the question in Debian's Chromium
(through Playwright, as the browser tests do) and saves the page once answered.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="indexes/dtc")
    parser.add_argument("--question", default="Why did the JigsawLabs bootcamp drop Kubernetes from its curriculum?")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshot.png"))
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from rag.config import load_config
    from rag.web import build_app, launch_kwargs

    demo = build_app(load_config().with_overrides(index_dir=args.index), feedback_path=os.devnull)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1050})
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#rag-question textarea", args.question)
            page.keyboard.press("Enter")
            page.wait_for_selector("#rag-chat a[href*='youtube.com/watch'][href*='t=']", timeout=60000)
            page.wait_for_timeout(500)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=args.out)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
