"""The `rag` command (`rag.cli.commands`) and what it prints (`rag.cli.output`)."""

from rag.cli.commands import cli, main

__all__ = ["cli", "main"]
