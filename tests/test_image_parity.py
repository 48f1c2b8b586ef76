"""Parity of image preparation with Pillow + numpy doing the same steps.

modelfn-image-prep decodes an image and prepares it as a pipeline "image" input declares; here
Pillow decodes the same bytes, converts to RGB, resizes with the same filter, and numpy scales,
normalises, reorders channels and lays out the result.

Tolerance: none beyond float rounding. Like Pillow, modelfn resizes 8-bit images with fixed-point
weights (22 fraction bits), rounding each of the two passes (horizontal, then vertical) to 8 bits,
so the samples are the same bytes before scale, mean and std; and the JPEG decoders (libjpeg-turbo
in both, slow-integer IDCT, fancy upsampling) agree on these images. The assertion allows 1e-6 for
the float conversion only.
"""
import io
import json
import struct
import subprocess
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import BUILD

TOOL = BUILD / "modelfn-image-prep"

FILTERS = {"bilinear": 2, "bicubic": 3, "nearest": 0}  # Pillow's Resampling values


def source_image(w, h, seed):
    rng = np.random.default_rng(seed)
    # Smooth gradients plus noise: both edges and flat areas.
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) % 256], axis=-1)
    noise = rng.integers(-40, 40, size=(h, w, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def encode(arr, fmt):
    buf = io.BytesIO()
    im = Image.fromarray(arr)
    if fmt == "PNG":
        im.save(buf, "PNG")
    elif fmt == "JPEG":
        im.save(buf, "JPEG", quality=92)
    elif fmt == "WEBP":
        im.save(buf, "WEBP", lossless=True)
    elif fmt == "PNG-LA":
        im.convert("LA").save(buf, "PNG")
    elif fmt == "PNG-P":
        im.convert("P").save(buf, "PNG")
    return buf.getvalue()


def reference(data, spec):
    im = Image.open(io.BytesIO(data)).convert("RGB")
    h, w = spec["size"]
    if im.size != (w, h):
        im = im.resize((w, h), FILTERS[spec.get("resize", "bilinear")])
    a = np.asarray(im).astype(np.float64) * spec.get("scale", 1 / 255)
    a = (a - np.array(spec.get("mean", [0, 0, 0]))) / np.array(spec.get("std", [1, 1, 1]))
    if spec.get("color", "RGB") == "BGR":
        a = a[..., ::-1]
    if spec.get("layout", "NCHW") == "NCHW":
        a = a.transpose(2, 0, 1)
    return a.astype(np.float32).ravel()


def prepared(tmp_path, data, spec):
    path = tmp_path / "img"
    path.write_bytes(data)
    out = subprocess.run([str(TOOL), json.dumps(spec), str(path)], capture_output=True, text=True,
                         check=True).stdout
    return np.array([float(v) for v in out.split()], dtype=np.float32)


CASES = [
    # (format, source w, h, spec)
    ("PNG", 97, 61, {"size": [32, 48]}),
    ("PNG", 97, 61, {"size": [32, 48], "resize": "bicubic", "layout": "NHWC", "color": "BGR"}),
    ("PNG", 40, 30, {"size": [75, 101], "resize": "bilinear"}),  # enlarging
    ("PNG", 40, 30, {"size": [75, 101], "resize": "bicubic"}),
    ("PNG", 97, 61, {"size": [20, 13], "resize": "nearest"}),
    ("WEBP", 64, 64, {"size": [224, 224], "mean": [0.485, 0.456, 0.406],
                      "std": [0.229, 0.224, 0.225]}),
    ("JPEG", 120, 90, {"size": [56, 56], "mean": [0.485, 0.456, 0.406],
                       "std": [0.229, 0.224, 0.225]}),
    ("PNG-LA", 33, 17, {"size": [16, 16]}),
    ("PNG-P", 33, 17, {"size": [16, 16], "scale": 1.0}),
    ("PNG", 50, 50, {"size": [50, 50]}),  # no resize
    # A photo-sized picture to a classifier's input: strong shrinking, one axis at a time too.
    ("JPEG", 640, 480, {"size": [224, 224], "mean": [0.485, 0.456, 0.406],
                        "std": [0.229, 0.224, 0.225]}),
    ("PNG", 641, 479, {"size": [224, 224], "resize": "bicubic"}),
    ("WEBP", 333, 500, {"size": [500, 97]}),
    ("PNG", 300, 7, {"size": [31, 300], "resize": "bicubic"}),
    ("PNG", 1, 1, {"size": [3, 5]}),
]


@pytest.mark.parametrize("fmt,w,h,spec", CASES)
def test_matches_pillow_and_numpy(tmp_path, fmt, w, h, spec):
    spec = {"name": "x", "source": "image", **spec}
    data = encode(source_image(w, h, seed=w * h), fmt)
    got = prepared(tmp_path, data, spec)
    want = reference(data, spec)
    assert got.shape == want.shape
    level = spec.get("scale", 1 / 255) / min(spec.get("std", [1, 1, 1]))
    diff = np.abs(got - want)
    assert diff.max() <= 1e-6, (f"max {diff.max() / level:.3f} levels apart, "
                                f"{np.mean(diff > 1e-6):.2%} of the samples differ")


def bomb_png():
    """A PNG whose IHDR declares 100000 x 100000 (CRC fixed up) over one pixel of data."""
    data = bytearray(encode(source_image(1, 1, 0), "PNG"))
    data[16:24] = struct.pack(">II", 100000, 100000)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def truncated(fmt):
    data = encode(source_image(40, 40, 1), fmt)
    return data[: len(data) // 2]


@pytest.mark.parametrize("data,reason", [
    (b"GIF89a\x01\x00\x01\x00\x00\x00", "image_unsupported"),
    (b"not an image at all", "image_unsupported"),
    (bomb_png(), "image_too_large"),
    (truncated("PNG"), "image_invalid"),
    (truncated("JPEG"), "image_invalid"),
    (truncated("WEBP"), "image_invalid"),
])
def test_refusals_are_typed(tmp_path, data, reason):
    path = tmp_path / "bad"
    path.write_bytes(data)
    r = subprocess.run([str(TOOL), json.dumps({"name": "x", "source": "image", "size": [4, 4]}),
                        str(path)], capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith(reason + ":")
