import pytest


@pytest.fixture(autouse=True)
def _few_threads(monkeypatch):
    """Tests run with the default thread count; keep TensorBoard quiet."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.fixture
def inception_path_or_skip():
    """The cached FID Inception TorchScript, or a skip that says how to get it."""
    from gankit.metrics.features import inception_path

    path = inception_path()
    if not path.is_file():
        pytest.skip(f"FID Inception weights not in the cache ({path}): run `gankit fetch inception`")
    return path
