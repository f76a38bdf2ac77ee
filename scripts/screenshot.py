"""Take README's screenshots: the app answering a question from a real index.

    python scripts/screenshot.py [--index indexes/dtc] [--question "..."] [--out docs/screenshot.png]
    python scripts/screenshot.py --phone              # 390 x 844 phone viewport -> docs/phone.png

Starts the web app in-process on a free port, asks the question in Debian's Chromium
(through Playwright, as the browser tests do) and saves the page once answered (with
--phone: what a 390 px wide phone shows, scrolled to the answer's end and its Share link).
"""

from __future__ import annotations

import argparse
import os
import secrets
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
    parser.add_argument("--out", help="[docs/screenshot.png, or docs/phone.png with --phone]")
    parser.add_argument("--phone", action="store_true", help="A 390 x 844 phone viewport (2x pixels) instead of 1400 x 1050.")
    args = parser.parse_args(argv)
    out = args.out or str(ROOT / "docs" / ("phone.png" if args.phone else "screenshot.png"))

    from playwright.sync_api import sync_playwright

    from rag.app.layout import build_app, launch_kwargs
    from rag.app.share import ShareSigner
    from rag.config import load_config

    # A throwaway share key: taking a picture leaves no key file beside the index.
    demo = build_app(load_config().with_overrides(index_dir=args.index), feedback_path=os.devnull,
                     share=ShareSigner(secrets.token_bytes(32)))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch_kwargs())
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=ARGS)
            if args.phone:
                page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True)
            else:
                page = browser.new_page(viewport={"width": 1400, "height": 1050})
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#rag-question textarea", args.question)
            page.keyboard.press("Enter")
            page.wait_for_selector("#rag-chat a[href*='youtube.com/watch'][href*='t=']", timeout=60000)
            page.wait_for_timeout(500)
            if args.phone:  # the answer's end, its Share link and the question box in view
                page.locator("#rag-question").scroll_into_view_if_needed()
                page.wait_for_timeout(300)
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=out)
            browser.close()
    finally:
        demo.close()
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
