import pytest


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    """Tests run with the default thread count; keep TensorBoard quiet."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
