"""Write a deployable Hugging Face Space folder: the code, requirements and a prebuilt index.

    python scripts/make_space.py --index indexes/dtc --out ../space
    cd ../space && git init && git lfs install && git add . && git commit -m space \
        && git push https://huggingface.co/spaces/USER/NAME main

A free Space (2 vCPUs) would take many minutes to embed the whole corpus, so the
index ships with the code; large files are tracked by Git LFS (`.gitattributes`),
which the Hub requires for files over 10 MB. Prints the folder's size.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> str:
    """The Space settings block that opens the repository's README.md (one source)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise SystemExit("error: README.md has no Space front matter")
    return text[: text.index("\n---\n", 4) + len("\n---\n")]


README_BODY = """
# Ask the DataTalks.Club podcast

Ask a question; the answer cites the episode, the speaker and the second, and a
click plays the episode from there. Add `?episode=<id>` to the URL to chat about
one episode.

Without an LLM the answers quote the transcripts. Set a Space secret `HF_TOKEN`
to answer with the Hugging Face router, or `OPENAI_BASE_URL` / `OPENAI_API_KEY` /
`RAG_LLM_MODEL` for any OpenAI-compatible server.
"""
GITATTRIBUTES = """*.index filter=lfs diff=lfs merge=lfs -text
*.npy filter=lfs diff=lfs merge=lfs -text
*.npz filter=lfs diff=lfs merge=lfs -text
*.jsonl filter=lfs diff=lfs merge=lfs -text
*.sqlite filter=lfs diff=lfs merge=lfs -text
*.onnx filter=lfs diff=lfs merge=lfs -text
indexes/**/bm25/* filter=lfs diff=lfs merge=lfs -text
"""


def _not_package_files(folder: str, names: list[str]) -> set[str]:
    """For `shutil.copytree`: skip all but .py and .yaml files and sub-packages (no __pycache__)."""

    def keep(name: str) -> bool:
        path = Path(folder, name)
        return name != "__pycache__" if path.is_dir() else path.suffix in (".py", ".yaml")

    return {name for name in names if not keep(name)}


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _copy_relevance_model(index: Path, shipped: Path) -> None:
    """The trained relevance model the index names (`rag tune`), at the same place relative
    to the shipped index, so that a Space never trains at start-up. An index without one
    ships without one (its search ranks untuned)."""
    from rag.index.files import read_manifest

    entry = read_manifest(index).get("relevance")
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        return
    source = (index / entry["path"]).resolve()
    target = (shipped / entry["path"]).resolve()
    if not source.is_dir():
        raise SystemExit(f"error: {index}'s manifest names the relevance model {source}, which is missing; "
                         f"run `rag tune --index {index}` or ship without it by removing the entry")
    if not target.is_relative_to(shipped.parent.resolve()):
        raise SystemExit(f"error: {index}'s relevance model path {entry['path']!r} leaves the indexes folder")
    shutil.copytree(source, target)


def make_space(index: Path, out: Path) -> int:
    """Copy code + index into `out` (which must not exist or be empty); return its size in bytes."""
    from rag.index.files import load_index

    load_index(index)  # refuse to ship a missing or broken index
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"error: {out} is not empty")
    shutil.copytree(ROOT / "rag", out / "rag", ignore=_not_package_files)
    shutil.copy2(ROOT / "app.py", out / "app.py")
    shutil.copy2(ROOT / "requirements.txt", out / "requirements.txt")
    shutil.copy2(ROOT / "constraints.txt", out / "constraints.txt")
    shutil.copytree(index, out / "indexes" / "dtc", ignore=shutil.ignore_patterns("*.tmp", "*.lock"))
    _copy_relevance_model(index, out / "indexes" / "dtc")
    (out / "README.md").write_text(front_matter() + README_BODY, encoding="utf-8")
    (out / ".gitattributes").write_text(GITATTRIBUTES, encoding="utf-8")
    (out / ".gitignore").write_text("__pycache__/\nfeedback.jsonl\nshare-secret\n", encoding="utf-8")
    return folder_size(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a deployable Hugging Face Space folder.")
    parser.add_argument("--index", default="indexes/dtc", help="Prebuilt index to ship [indexes/dtc].")
    parser.add_argument("--out", required=True, help="Folder to write (new or empty).")
    args = parser.parse_args(argv)

    try:
        size = make_space(Path(args.index), Path(args.out))
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}: {size / 1e6:.1f} MB (index {folder_size(Path(args.out) / 'indexes') / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
