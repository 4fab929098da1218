"""load_image_folder: decoding of mixed files, transparency, labels, errors and the on-disk cache."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import Image

from gankit.data.folder import load_image_folder
from gankit.errors import DataError

BG = (10, 200, 30)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("GANKIT_CACHE", str(cache))
    return cache


def _solid(mode: str, size: tuple[int, int], color) -> Image.Image:
    return Image.new(mode, size, color)


def _make_mixed(root: Path) -> list[str]:
    """The mixed test folder; returns the readable files' relative paths in sorted order."""
    root.mkdir(parents=True)
    # Fully transparent red: must come out as the background colour.
    _solid("RGBA", (64, 64), (255, 0, 0, 0)).save(root / "a_rgba.png")
    _solid("LA", (20, 30), (0, 0)).save(root / "b_la.png")
    pal = Image.new("P", (100, 50), 1)
    pal.putpalette([0, 0, 0, 255, 255, 255] + [0] * (256 * 3 - 6))
    pal.save(root / "c_palette.png", transparency=1)  # palette index 1 is transparent
    _solid("L", (30, 20), 128).save(root / "d_gray.png")
    _solid("RGB", (40, 40), (0, 0, 255)).save(root / "e_photo.JPG", quality=95)
    _solid("RGB", (32, 48), (200, 100, 0)).save(root / "f_pic.webp", lossless=True)
    frames = [_solid("RGB", (24, 24), (255, 0, 0)), _solid("RGB", (24, 24), (0, 0, 255))]
    frames[0].save(root / "g_anim.gif", save_all=True, append_images=frames[1:], duration=100)
    _solid("RGB", (50, 100), (0, 255, 0)).save(root / "h_bitmap.bmp")
    (root / "x.png").write_bytes(np.random.default_rng(0).integers(0, 256, 500, dtype=np.uint8).tobytes())
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"hidden files are skipped, so this is never decoded")
    (root / ".git").mkdir()
    (root / ".git" / "y.png").write_bytes(b"nor is anything in a hidden folder")
    (root / "sub" / "deeper").mkdir(parents=True)
    _solid("RGB", (16, 16), (255, 255, 0)).save(root / "sub" / "deeper" / "i_nested.png")
    return [
        "a_rgba.png", "b_la.png", "c_palette.png", "d_gray.png", "e_photo.JPG",
        "f_pic.webp", "g_anim.gif", "h_bitmap.bmp", "sub/deeper/i_nested.png",
    ]  # fmt: skip


def test_mixed_folder_rgb(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    names = _make_mixed(tmp_path / "imgs")
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        images, labels, class_names = load_image_folder(tmp_path / "imgs", 16, 3, background=BG)
    assert images.shape == (len(names), 3, 16, 16) and images.dtype == torch.uint8
    assert labels is None and class_names == []
    warnings = [r.getMessage() for r in caplog.records if r.name == "gankit.data"]
    assert len(warnings) == 1 and "x.png" in warnings[0] and "skipping unreadable image" in warnings[0]

    def colour(name: str) -> list[int]:
        px = images[names.index(name)]
        assert (px.amax(dim=(1, 2)) - px.amin(dim=(1, 2))).max() <= 2, f"{name} is not uniform"
        return px[:, 8, 8].tolist()

    assert colour("a_rgba.png") == list(BG)  # transparent RGBA -> background
    assert colour("b_la.png") == list(BG)  # transparent LA -> background
    assert colour("c_palette.png") == list(BG)  # transparent palette entry -> background
    assert colour("d_gray.png") == [128, 128, 128]
    assert colour("g_anim.gif") == [255, 0, 0]  # first frame only
    assert colour("h_bitmap.bmp") == [0, 255, 0]
    assert colour("f_pic.webp") == [200, 100, 0]
    assert np.allclose(colour("e_photo.JPG"), [0, 0, 255], atol=4)
    assert colour("sub/deeper/i_nested.png") == [255, 255, 0]


def test_grayscale_and_default_background(tmp_path: Path) -> None:
    names = _make_mixed(tmp_path / "imgs")
    images, _, _ = load_image_folder(str(tmp_path / "imgs"), 8, 1)
    assert images.shape == (len(names), 1, 8, 8) and images.dtype == torch.uint8
    assert images[names.index("a_rgba.png")].unique().tolist() == [255]  # white default background
    assert images[names.index("d_gray.png")].unique().tolist() == [128]


def test_center_crop_then_lanczos(tmp_path: Path) -> None:
    root = tmp_path / "crop"
    root.mkdir()
    # 60 wide x 20 tall: red | green | blue thirds; the center square is the green third.
    arr = np.zeros((20, 60, 3), dtype=np.uint8)
    arr[:, :20, 0], arr[:, 20:40, 1], arr[:, 40:, 2] = 255, 255, 255
    Image.fromarray(arr).save(root / "wide.png")
    images, _, _ = load_image_folder(root, 10, 3)
    assert images[0, :, 5, 5].tolist() == [0, 255, 0]
    assert images[0, 0].max() <= 8 and images[0, 2].max() <= 8  # no red or blue beyond Lanczos ringing


def test_exif_orientation_applied(tmp_path: Path) -> None:
    root = tmp_path / "exif"
    root.mkdir()
    arr = np.full((20, 40), 255, dtype=np.uint8)
    arr[:, :20] = 0  # left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    Image.fromarray(arr).convert("RGB").save(root / "rot.jpg", exif=exif, quality=95)
    images, _, _ = load_image_folder(root, 20, 1)
    # Upright the image is 20 wide x 40 tall, black on top; its center square is half black, half white.
    assert images[0, 0, 2, :].float().mean() < 40 and images[0, 0, 17, :].float().mean() > 215


def test_labels_from_subfolders(tmp_path: Path) -> None:
    root = tmp_path / "classes"
    for cls, colour in [("dogs", (0, 0, 0)), ("cats", (255, 255, 255)), ("birds", (9, 9, 9))]:
        (root / cls).mkdir(parents=True)
        for i in range(2):
            _solid("RGB", (12, 12), colour).save(root / cls / f"{i}.png")
    (root / "cats" / "kittens").mkdir()
    _solid("RGB", (12, 12), (255, 255, 255)).save(root / "cats" / "kittens" / "k.png")
    images, labels, class_names = load_image_folder(root, 4, 3)
    assert class_names == ["birds", "cats", "dogs"]
    assert labels is not None and labels.dtype == torch.int64
    assert labels.tolist() == [0, 0, 1, 1, 1, 2, 2]
    assert images[labels == 1].unique().tolist() == [255] and images[labels == 2].unique().tolist() == [0]


def test_no_labels_with_one_subfolder_or_loose_files(tmp_path: Path) -> None:
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    _solid("L", (8, 8), 3).save(one / "only" / "a.png")
    _solid("L", (8, 8), 3).save(one / "only" / "b.png")
    assert load_image_folder(one, 8, 1)[1:] == (None, [])
    loose = tmp_path / "loose"
    for cls in ("p", "q"):
        (loose / cls).mkdir(parents=True)
        _solid("L", (8, 8), 3).save(loose / cls / "a.png")
    _solid("L", (8, 8), 3).save(loose / "top.png")
    assert load_image_folder(loose, 8, 1)[1:] == (None, [])


def test_second_load_uses_cache(tmp_path: Path, private_cache: Path, monkeypatch, capsys) -> None:
    names = _make_mixed(tmp_path / "imgs")
    first, labels, _ = load_image_folder(tmp_path / "imgs", 16, 3, background=BG)
    assert "decoding 10 images" in capsys.readouterr().err
    assert len(list((private_cache / "folders").glob("*.npz"))) == 1
    assert not list((private_cache / "folders").glob(".*"))  # no temp file left behind

    def no_decoding(*args, **kwargs):
        raise AssertionError("Image.open called although the folder is cached")

    monkeypatch.setattr(PIL.Image, "open", no_decoding)
    again, labels_again, names_again = load_image_folder(tmp_path / "imgs", 16, 3, background=BG)
    assert "using cached decode of 9 images" in capsys.readouterr().err
    assert torch.equal(first, again) and labels_again is None and names_again == []
    assert len(again) == len(names)

    # Other settings are another cache entry: decoding is needed (and here fails loudly).
    with pytest.raises(DataError, match="no readable images"):
        load_image_folder(tmp_path / "imgs", 8, 3, background=BG)


def test_changed_file_invalidates_cache(tmp_path: Path) -> None:
    root = tmp_path / "imgs"
    root.mkdir()
    _solid("L", (8, 8), 10).save(root / "a.png")
    assert load_image_folder(root, 8, 1)[0].unique().tolist() == [10]
    _solid("L", (8, 8), 99).save(root / "a.png")
    os.utime(root / "a.png", ns=(1, 1))  # make sure the mtime changes even on coarse clocks
    assert load_image_folder(root, 8, 1)[0].unique().tolist() == [99]


def test_cache_off_writes_nothing(tmp_path: Path, private_cache: Path) -> None:
    names = _make_mixed(tmp_path / "imgs")
    images, _, _ = load_image_folder(tmp_path / "imgs", 4, 3, cache=False)
    assert len(images) == len(names)
    assert not (private_cache / "folders").exists() or not any((private_cache / "folders").iterdir())


def test_all_corrupt_folder(tmp_path: Path) -> None:
    root = tmp_path / "bad"
    root.mkdir()
    (root / "x.png").write_bytes(b"not a png")
    (root / "y.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"no readable images in .*bad \(2 files failed, first: x\.png"):
        load_image_folder(root, 8, 3)


def test_empty_folder_names_extensions(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    (root / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match=r"no image files \(\.bmp .*\.webp"):
        load_image_folder(root, 8, 3)


def test_missing_path_and_file_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nope", 8, 3)
    file = tmp_path / "single.png"
    _solid("RGB", (8, 8), 0).save(file)
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_image_folder(file, 8, 3)


@pytest.mark.parametrize(
    ("resolution", "channels", "background", "match"),
    [(8, 2, (0, 0, 0), "channels"), (0, 3, (0, 0, 0), "resolution"), (8, 3, (0, 0, 300), "background")],
)
def test_bad_arguments(tmp_path: Path, resolution: int, channels: int, background, match: str) -> None:
    with pytest.raises(DataError, match=match):
        load_image_folder(tmp_path, resolution, channels, background)


# the peak memory of this process's own address space (VmHWM: unlike ru_maxrss it does not inherit the forking
# parent's peak)
HOSTILE_LOAD = """
import json, re, sys, time
from gankit.data.folder import load_image_folder
start = time.perf_counter()
x, _, _ = load_image_folder(sys.argv[1], 32, 3)
hwm = re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read())
print(json.dumps({"n": len(x), "seconds": time.perf_counter() - start, "max_rss_mb": int(hwm.group(1)) / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux's /proc to measure peak memory")
def test_hostile_files_are_named_and_skipped_in_bounded_memory(tmp_path: Path) -> None:
    """Decompression bombs (a 30000x30000 PNG of ~110 KB, and a 9000x9000 one under Pillow's own limit), a zero-byte
    file, a symlink loop, a dangling link and text named .jpg: each named and skipped, the good pictures kept."""
    import json
    import subprocess
    import sys

    root = tmp_path / "hostile"
    root.mkdir()
    Image.new("1", (30000, 30000)).save(root / "bomb.png", optimize=True)
    Image.new("1", (9000, 9000)).save(root / "big.png", optimize=True)
    assert (root / "bomb.png").stat().st_size < 200_000
    (root / "zero.png").write_bytes(b"")
    (root / "text.jpg").write_text("hello, I am not a JPEG")
    os.symlink("loop2.png", root / "loop1.png")
    os.symlink("loop1.png", root / "loop2.png")
    os.symlink("nowhere.png", root / "dangling.png")
    for i in range(3):
        _solid("RGB", (40, 40), (i * 80, 0, 0)).save(root / f"ok{i}.png")
    proc = subprocess.run([sys.executable, "-c", HOSTILE_LOAD, str(root)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "GANKIT_CACHE": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n"] == 3
    for name in ("bomb.png", "big.png", "zero.png", "text.jpg", "loop1.png", "loop2.png", "dangling.png"):
        assert f"skipping unreadable image {name}:" in proc.stderr, name
    assert "decompression bomb" in proc.stderr
    assert result["max_rss_mb"] < 1024, result  # no bomb was decoded (the 30000^2 one alone would be 900 MB in L)
