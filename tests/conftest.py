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


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """Tiny trained runs of every family, shared by the tests of using models (tests/use_runs.py)."""
    from use_runs import tiny_runs as make

    root = tmp_path_factory.mktemp("tiny-runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GANKIT_CACHE", str(root / "cache"))
        return make(root)
