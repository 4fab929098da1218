"""``gankit serve``: a local web page for a trained model (FastAPI + one static page; ``pip install gankit[serve]``).

The page adapts to the model:

* generators (gan runs and zoo models): a seed slider, the truncation slider psi (:func:`gankit.sampling.generate`),
  a class picker for conditional models, an interpolation between two seeds (GIF) and, for StyleGAN2, a
  style-mixing grid;
* pix2pix / CycleGAN: upload an image, pick the direction, get the translation;
* super-resolution: upload an image, get it upscaled (at most ``MAX_UPSCALE_PIXELS`` input pixels).

Every picture can be downloaded from the page. The JSON/PNG endpoints behind it (``/api/...``) are plain HTTP and
may be scripted. The server binds to 127.0.0.1 unless told otherwise: it is a local tool, with no
authentication. Inference runs one request at a time (a lock), on the CPU unless the model was loaded elsewhere.
"""

# no `from __future__ import annotations` here: FastAPI reads the endpoints' annotations (Request, Query) at
# definition time, and they are imported inside create_app so that fastapi stays an optional extra
import io
import threading
from pathlib import Path

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.infer import LoadedModel

PAGE = Path(__file__).with_name("page.html")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
MAX_UPSCALE_PIXELS = 1024 * 1024
MAX_SEED = 2**31 - 1


def _png(array: np.ndarray, min_size: int = 256) -> bytes:
    """uint8 (H, W, C) as PNG bytes, enlarged (nearest) so that small images are visible."""
    from PIL import Image

    img = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    scale = max(1, -(-min_size // max(img.size)))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def model_info(loaded: LoadedModel, title: str) -> dict:
    """What the page needs to know to build itself."""
    family = loaded.family
    kind = {"gan": "sample", "pix2pix": "translate", "cyclegan": "translate", "sr": "upscale"}.get(family, "")
    info = {"title": title, "family": family, "kind": kind, "step": loaded.step,
            "resolution": loaded.cfg.data.resolution, "channels": loaded.cfg.data.channels}
    if kind == "sample":
        net = loaded.net
        k = loaded.num_classes  # an unconditional model of labelled data (MNIST) has class names but no classes
        info.update({"classes": (loaded.class_names or [str(c) for c in range(k)]) if k else [],
                     "stylegan": hasattr(net, "w_avg"), "num_ws": int(getattr(net, "num_ws", 0)),
                     "psi": loaded.cfg.sample.truncation_psi, "images": bool(loaded.data.get("is_image", True))})
    elif kind == "translate":
        info["directions"] = ["a2b", "b2a"] if family == "cyclegan" else ["a2b"]
    elif kind == "upscale":
        info["scale"] = loaded.cfg.model.scale
    return info


class Service:
    """The model behind the page: each method returns PNG/GIF bytes or raises GankitError (a 400 for the page)."""

    def __init__(self, loaded: LoadedModel, title: str):
        from gankit.sampling import ready

        self.loaded, self.info = loaded, model_info(loaded, title)
        self.lock = threading.Lock()
        if self.info["kind"] == "sample":  # BatchNorm's standing statistics once, not on every slider move
            loaded.nets["G"] = ready(loaded.net)

    def _class(self, class_: str | None) -> int | None:
        from gankit.infer.sample import class_index

        if not self.loaded.num_classes:
            return None
        return class_index(self.loaded, class_ if class_ not in (None, "") else "0")

    def _need(self, kind: str) -> None:
        if self.info["kind"] != kind:
            raise GankitError(f"this model is a {self.info['family']} model: it does not {kind}")

    def sample(self, seed: int, psi: float, class_: str | None = None) -> bytes:
        from gankit.data import to_uint8
        from gankit.sampling import generate

        self._need("sample")
        if not self.info["images"]:
            raise GankitError("this model generates 2-D points, which the page does not draw")
        _check(seed, psi)
        label = self._class(class_)
        net = self.loaded.net
        z = net.latent.sample(1, generator=torch.Generator().manual_seed(seed))
        labels = torch.tensor([label]) if label is not None else None
        with self.lock:
            image = to_uint8(generate(net, z, labels, psi=psi))[0]
        return _png(image.permute(1, 2, 0).numpy())

    def interpolate(self, seed_a: int, seed_b: int, psi: float, class_: str | None = None, steps: int = 16) -> bytes:
        from gankit.infer.interpolate import interpolate, save_walk

        self._need("sample")
        _check(seed_a, psi)
        _check(seed_b, psi)
        if not 2 <= steps <= 64:
            raise GankitError("steps: 2 to 64")
        label = self._class(class_)
        with self.lock:
            frames = interpolate(self.loaded, [seed_a, seed_b], steps, classes=[label] if label is not None else [],
                                 psi=psi, loop=True)
        return _via_file(lambda p: save_walk(frames, p, steps, loop=True, fps=12, min_size=256), ".gif")

    def mix(self, rows: list[int], cols: list[int], layers: str, psi: float, class_: str | None = None) -> bytes:
        from gankit.infer.style import mix_grid, parse_layers

        self._need("sample")
        if not self.info["stylegan"]:
            raise GankitError("style mixing needs a StyleGAN2 model")
        if not rows or not cols or len(rows) > 8 or len(cols) > 8:
            raise GankitError("style mixing: 1 to 8 row seeds and 1 to 8 column seeds")
        for s in rows + cols:
            _check(s, psi)
        chosen = parse_layers(layers, self.info["num_ws"])
        with self.lock:
            grid = mix_grid(self.loaded, rows, cols, chosen, psi, self._class(class_))
        return _png(grid, min_size=512)

    def convert(self, data: bytes, direction: str = "a2b") -> bytes:
        """Translate (pix2pix, CycleGAN) or upscale (sr) an uploaded image."""
        from gankit.data.folder import open_image

        if self.info["kind"] not in ("translate", "upscale"):
            raise GankitError("this model samples from noise: there is nothing to upload")
        if not data:
            raise GankitError("no image was uploaded")
        if len(data) > MAX_UPLOAD_BYTES:
            raise GankitError(f"the upload is larger than {MAX_UPLOAD_BYTES // 2**20} MB")
        channels = self.loaded.cfg.data.channels
        background = tuple(self.loaded.data.get("background", self.loaded.cfg.data.background))
        try:
            image = np.asarray(open_image(io.BytesIO(data), channels, background), dtype=np.uint8)
        except Exception as exc:  # Pillow raises many types for what is not an image
            raise GankitError(f"the upload is not an image Pillow can read ({exc or type(exc).__name__})") from None
        if image.ndim == 2:
            image = image[:, :, None]
        with self.lock:
            if self.info["kind"] == "translate":
                from gankit.infer.translate import generator_for, translate_image

                if direction not in self.info["directions"]:
                    raise GankitError(f"direction {direction!r}: this model has {', '.join(self.info['directions'])}")
                out = translate_image(generator_for(self.loaded, direction), image, self.info["resolution"])
            else:
                from gankit.infer.upscale import upscale_array

                if image.shape[0] * image.shape[1] > MAX_UPSCALE_PIXELS:
                    raise GankitError(f"the page upscales images of up to {MAX_UPSCALE_PIXELS:,} pixels; use "
                                      "gankit upscale for larger ones")
                out = upscale_array(self.loaded.net, image, self.info["scale"])
        return _png(out, min_size=0)


def _check(seed: int, psi: float) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise GankitError(f"seed: 0 to {MAX_SEED}")
    if not 0 <= psi <= 4:
        raise GankitError("psi: 0 to 4")


def _via_file(write, suffix: str) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out{suffix}"
        write(path)
        return path.read_bytes()


def create_app(loaded: LoadedModel, title: str):  # noqa: C901
    """The FastAPI application serving ``loaded``."""
    try:
        from fastapi import FastAPI, Query, Request
        from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
    except ImportError:
        raise GankitError("gankit serve needs its extras: pip install 'gankit[serve]' (fastapi, uvicorn)") from None

    service = Service(loaded, title)
    app = FastAPI(title=f"gankit: {title}", docs_url=None, redoc_url=None)

    @app.exception_handler(GankitError)
    async def _bad_request(_request, exc: GankitError):
        return PlainTextResponse(str(exc), status_code=400)

    @app.get("/", response_class=HTMLResponse)
    def page():
        return PAGE.read_text()

    @app.get("/api/info")
    def info():
        return JSONResponse(service.info)

    @app.get("/api/sample.png")
    def sample(seed: int = 0, psi: float = 1.0, cls: str | None = Query(None, alias="class")):
        return Response(service.sample(seed, psi, cls), media_type="image/png")

    @app.get("/api/interpolate.gif")
    def interpolate(a: int = 0, b: int = 1, psi: float = 1.0, steps: int = 16,
                    cls: str | None = Query(None, alias="class")):
        return Response(service.interpolate(a, b, psi, cls, steps), media_type="image/gif")

    @app.get("/api/mix.png")
    def mix(rows: str = "1,2,3", cols: str = "4,5,6,7", layers: str = "0-3", psi: float = 1.0,
            cls: str | None = Query(None, alias="class")):
        return Response(service.mix(_ints(rows), _ints(cols), layers, psi, cls), media_type="image/png")

    @app.post("/api/convert.png")
    async def convert(request: Request, direction: str = "a2b"):
        from starlette.concurrency import run_in_threadpool

        body = await request.body()
        return Response(await run_in_threadpool(service.convert, body, direction), media_type="image/png")

    return app


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise GankitError(f"{text!r}: expected comma-separated integers") from None


def serve(loaded: LoadedModel, title: str, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Run the page until interrupted (Ctrl-C)."""
    try:
        import uvicorn
    except ImportError:
        raise GankitError("gankit serve needs its extras: pip install 'gankit[serve]' (fastapi, uvicorn)") from None
    app = create_app(loaded, title)
    print(f"[gankit] serving {title} at http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
