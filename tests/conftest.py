"""Suite-wide settings. The llm_client tests share session fixtures that train a tiny LM; keeping them
on one xdist worker (``--dist loadgroup`` in the Makefile) trains it once instead of once per worker."""
import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith("tests/llm_client/"):
            item.add_marker(pytest.mark.xdist_group("llm_client"))
