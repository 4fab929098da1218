"""Fuzzed inputs (Hypothesis): config documents, YAML text, ``--set`` overrides, bytes as images and as checkpoint
files, damaged checkpoints. Every case must end in success or in one clear line (a GankitError, exit 2 from the
command line): never another exception, never a hang, never a change to an existing run.

The default suite runs ``GANKIT_FUZZ_EXAMPLES`` cases per test (default 20); the drill group (``-m drill``,
tests/test_drills.py) runs this file again with more and records the counts in docs/reliability.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gankit import config as C
from gankit.checkpoint import read_checkpoint
from gankit.cli import main
from gankit.data.folder import load_image_folder
from gankit.errors import GankitError

EXAMPLES = int(os.environ.get("GANKIT_FUZZ_EXAMPLES", "20"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=60), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
COUNTS: dict[str, dict[str, int]] = {}


def _outcome(name: str, fn) -> str:
    """Run one case: "ok", or "error" for a one-line GankitError; anything else fails the test."""
    tally = COUNTS.setdefault(name, {"cases": 0, "ok": 0, "error": 0})
    tally["cases"] += 1
    try:
        fn()
    except GankitError as exc:
        message = str(exc)
        assert message and "\n" not in message, f"a multi-line or empty error: {message!r}"
        tally["error"] += 1
        return "error"
    tally["ok"] += 1
    return "ok"


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    path = os.environ.get("GANKIT_FUZZ_REPORT")
    if path:
        Path(path).write_text(json.dumps(COUNTS, indent=1) + "\n")


# --- config documents ----------------------------------------------------------------------------------------

# no subnormal floats: a training run in this process turns on flush-to-zero (gankit.train.setup), under which
# Hypothesis cannot make them
SCALARS = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False) | st.text(max_size=12)
           | st.sampled_from(["1e-4", "auto", "", "none", "-1", "1e400", "nan", "[1, 2]", "0x10"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=10)
PRESETS = ["toy-ring", "dcgan-mnist", "cgan-mnist", "pix2pix-emoji", "cyclegan-emoji", "stylegan2-emoji64",
           "sr-emoji-x4-gan", "wgan-gp-mnist"]


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


@st.composite
def config_documents(draw):
    """A shipped preset with random edits: values replaced by anything, keys added, removed or nested wrongly."""
    doc = json.loads(json.dumps(C.load_preset(draw(st.sampled_from(PRESETS)))))
    for _ in range(draw(st.integers(1, 6))):
        paths = list(_paths(doc))
        action = draw(st.sampled_from(["replace", "replace", "add", "delete", "number"]))
        if action == "add" or not paths:
            where = draw(st.sampled_from([()] + [p for p in paths if isinstance(_get(doc, p), dict)]))
            _get(doc, where)[draw(st.text(max_size=10))] = draw(VALUES)
            continue
        path = draw(st.sampled_from(paths))
        parent = _get(doc, path[:-1])
        if action == "delete":
            del parent[path[-1]]
        elif action == "number":  # huge, negative, zero, fractional, non-finite
            parent[path[-1]] = draw(st.sampled_from([0, -1, -(10**9), 10**9, 2**31, 2**63, 0.5, -0.0, 1e308,
                                                     float("inf"), float("-inf"), float("nan"), 10**400]))
        else:
            parent[path[-1]] = draw(VALUES)
    return doc


def _get(doc, path):
    for key in path:
        doc = doc[key]
    return doc


@FUZZ
@given(doc=config_documents())
def test_fuzzed_config_documents(doc):
    _outcome("config documents", lambda: C.from_dict(doc))


@FUZZ
@given(text=st.text(max_size=300) | st.builds(lambda d, cut: yaml.safe_dump(d)[:cut], config_documents(),
                                               st.integers(0, 2000)))
def test_fuzzed_yaml_files(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("yaml") / "config.yaml"
    path.write_text(text)
    _outcome("YAML files", lambda: C.resolve(None, path))


@FUZZ
@given(override=st.text(max_size=60) | st.builds(lambda p, v: f"{'.'.join(map(str, p))}={v}",
                                                 st.sampled_from(list(_paths(C.load_preset("toy-ring")))),
                                                 st.text(max_size=20)))
def test_fuzzed_set_overrides(override):
    _outcome("--set overrides", lambda: C.resolve("toy-ring", overrides=[override]))


# --- bytes as images -----------------------------------------------------------------------------------------

MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBP", b"BM"]


@FUZZ
@given(data=st.builds(lambda m, b: m + b, st.sampled_from(MAGIC), st.binary(max_size=4000)),
       ext=st.sampled_from([".png", ".jpg", ".gif", ".webp", ".bmp"]))
def test_fuzzed_bytes_as_images(tmp_path_factory, data, ext):
    from PIL import Image

    root = tmp_path_factory.mktemp("imgs")
    Image.new("RGB", (20, 20), (200, 10, 10)).save(root / "good.png")
    (root / f"fuzz{ext}").write_bytes(data)

    def load():
        x, _, _ = load_image_folder(root, 16, 3, cache=False)
        assert len(x) in (1, 2)

    _outcome("bytes as images", load)


# --- checkpoints ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("good") / "run"
    assert main(["train", "--preset", "toy-ring", "--steps", "10", "--quiet", "--out", str(run),
                 "--set", "train.tensorboard=false", "--set", "data.num_samples=1024"]) == 0
    return run


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + p.read_bytes())
    return h.hexdigest()


def _damage(data: bytes, how: str, at: int, value: int) -> bytes:
    if not data:
        return data
    at %= len(data)
    if how == "truncate":
        return data[:at]
    if how == "flip":
        return data[:at] + bytes([data[at] ^ (1 << (value % 8))]) + data[at + 1:]
    if how == "overwrite":
        return data[:at] + bytes([value % 256]) * 16 + data[at + 16:]
    return data[:at] + bytes(64) + data[at:]  # insert


@FUZZ
@given(target=st.sampled_from(["tensors.safetensors", "state.json", "both"]),
       how=st.sampled_from(["truncate", "flip", "overwrite", "insert", "random"]),
       at=st.integers(0, 2**31), value=st.integers(0, 255), junk=st.binary(max_size=3000))
def test_fuzzed_checkpoints(tmp_path_factory, good_run, target, how, at, value, junk):
    """A copy of a real checkpoint, damaged; loading it for sampling either works or is one line, and the run it
    came from (read the same way) is never changed."""
    before = _digest(good_run)
    ck = tmp_path_factory.mktemp("ck") / "step"
    shutil.copytree(good_run / "checkpoints" / "step-00000010", ck)
    for name in (["tensors.safetensors", "state.json"] if target == "both" else [target]):
        data = (ck / name).read_bytes()
        (ck / name).write_bytes(junk if how == "random" else _damage(data, how, at, value))
    out = ck.parent / "s.png"

    def sample():
        read_checkpoint(ck)
        code = main(["sample", "--run", str(ck), "--n", "16", "--out", str(out)])
        if code != 0:
            raise GankitError("refused")  # main printed its one line

    _outcome("damaged checkpoints", sample)
    read_checkpoint(good_run)
    assert _digest(good_run) == before


@FUZZ
@given(state=VALUES)
def test_fuzzed_state_json_documents(tmp_path_factory, good_run, state):
    """A well-formed state.json with any content beside real tensors."""
    ck = tmp_path_factory.mktemp("st") / "step"
    shutil.copytree(good_run / "checkpoints" / "step-00000010", ck)
    real = json.loads((ck / "state.json").read_text())
    if isinstance(state, dict):
        state = {**real, **state}
    (ck / "state.json").write_text(json.dumps(state))

    def sample():
        code = main(["sample", "--run", str(ck), "--n", "8", "--out", str(ck.parent / "s.png")])
        if code != 0:
            raise GankitError("refused")

    _outcome("state.json documents", sample)
