"""The tests. Shared helpers are imported from the package: `from tests.conftest import ...`, `from tests.fake_llm import ...`."""
