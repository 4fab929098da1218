"""gankit serve: the HTTP API for each kind of model, and the page end to end in headless Chromium (skipped with a
reason where no Chromium/ChromeDriver is installed; scripts/test.sh installs Debian's where it can)."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time

import pytest
from PIL import Image

fastapi = pytest.importorskip("fastapi", reason="gankit serve's extras are not installed: pip install 'gankit[serve]'")
from fastapi.testclient import TestClient  # noqa: E402

from gankit.infer import load_model  # noqa: E402
from gankit.serve import create_app  # noqa: E402


def _client(run) -> TestClient:
    return TestClient(create_app(load_model(str(run)), run.name))


def _image(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def test_api_samples_interpolates_and_mixes(tiny_runs):
    client = _client(tiny_runs["sg2"])
    info = client.get("/api/info").json()
    assert info["kind"] == "sample" and info["stylegan"] and len(info["classes"]) == 10
    a = client.get("/api/sample.png", params={"seed": 1, "class": 3})
    b = client.get("/api/sample.png", params={"seed": 2, "class": 3})
    assert a.status_code == 200 and a.headers["content-type"] == "image/png" and a.content != b.content
    assert _image(a.content).size == (256, 256)  # 8 px enlarged for the page
    assert client.get("/api/sample.png", params={"seed": 1, "class": 3}).content == a.content
    walk = client.get("/api/interpolate.gif", params={"a": 1, "b": 2, "steps": 4, "class": 1})
    assert walk.status_code == 200 and _image(walk.content).n_frames == 6  # a loop: there and back
    mix = client.get("/api/mix.png", params={"rows": "1,2", "cols": "3,4,5", "layers": "0-1", "class": 0})
    assert mix.status_code == 200
    bad = client.get("/api/sample.png", params={"seed": -1})
    assert bad.status_code == 400 and "seed" in bad.text
    assert client.post("/api/convert.png", content=b"x").status_code == 400


def test_api_converts_uploads_for_translation_and_sr(tiny_runs):
    buf = io.BytesIO()
    Image.new("RGB", (20, 12), (200, 40, 40)).save(buf, format="PNG")
    sr = _client(tiny_runs["sr"])
    assert sr.get("/api/info").json() | {"kind": "upscale", "scale": 2} == sr.get("/api/info").json()
    up = sr.post("/api/convert.png", content=buf.getvalue())
    assert up.status_code == 200 and _image(up.content).size == (40, 24)
    tr = _client(tiny_runs["pix2pix"])
    out = tr.post("/api/convert.png", content=buf.getvalue())
    assert out.status_code == 200 and _image(out.content).size == (20, 12)
    junk = tr.post("/api/convert.png", content=b"not an image")
    assert junk.status_code == 400 and "not an image" in junk.text
    assert tr.post("/api/convert.png", params={"direction": "b2a"}, content=buf.getvalue()).status_code == 400
    assert tr.get("/api/sample.png").status_code == 400


def test_api_of_an_unconditional_zoo_model_offers_no_classes():
    from gankit.infer.zoo import model_dir

    client = TestClient(create_app(load_model(str(model_dir("dcgan-mnist"))), "dcgan-mnist"))
    info = client.get("/api/info").json()
    assert info["classes"] == [] and not info["stylegan"]
    assert client.get("/api/sample.png", params={"seed": 5, "psi": 0.8}).status_code == 200
    assert client.get("/api/mix.png").status_code == 400


def _browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("no Chromium/ChromeDriver installed (Debian: apt-get install chromium chromium-driver; "
                    "scripts/test.sh does this where it can)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1200,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=driver))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server():
    """The page of the zoo's cgan-mnist, served from a thread."""
    import uvicorn

    from gankit.infer.zoo import model_dir

    port = _free_port()
    config = uvicorn.Config(create_app(load_model(str(model_dir("cgan-mnist"))), "cgan-mnist"), host="127.0.0.1",
                            port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


PIXELS = """const img = document.getElementById('sample');
if (!img.complete || !img.naturalWidth) return null;
const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL();"""


def test_page_in_headless_chromium_moves_the_seed(server, tmp_path):
    """Open the page, wait for the first sample, move the seed slider with the keyboard, and check that a new
    picture arrives; a screenshot is kept (GANKIT_SCREENSHOT=path keeps it where you want it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser = _browser()
    try:
        browser.get(server)
        wait = WebDriverWait(browser, 60)
        first = wait.until(lambda b: b.execute_script(PIXELS))
        assert browser.find_element(By.ID, "title").text == "gankit: cgan-mnist"
        assert len(browser.find_elements(By.CSS_SELECTOR, "#class option")) == 10
        Select(browser.find_element(By.ID, "class")).select_by_visible_text("3")
        first = wait.until(lambda b: (p := b.execute_script(PIXELS)) != first and p)  # a 3 now
        slider = browser.find_element(By.ID, "seed")
        slider.send_keys(Keys.ARROW_RIGHT)
        slider.send_keys(Keys.ARROW_RIGHT)
        second = wait.until(lambda b: (p := b.execute_script(PIXELS)) != first and p)
        assert browser.find_element(By.ID, "seed-value").text == "2"
        assert second != first
        assert browser.find_element(By.ID, "download-sample").get_attribute("href").startswith("blob:")
        browser.find_element(By.ID, "interp-btn").click()
        wait.until(lambda b: b.execute_script("const i = document.getElementById('interp'); "
                                              "return i.complete && i.naturalWidth > 0;"))
        assert browser.find_element(By.ID, "status").text == ""
        shot = os.environ.get("GANKIT_SCREENSHOT") or str(tmp_path / "page.png")
        browser.save_screenshot(shot)
        assert Image.open(shot).size[0] > 0
    finally:
        browser.quit()
