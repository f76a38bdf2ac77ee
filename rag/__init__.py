"""podcast-rag: find the moment in a podcast where a question was discussed."""

__version__ = "0.1.0"
