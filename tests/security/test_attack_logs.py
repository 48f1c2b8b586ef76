"""A pushed model chooses its node names, and ONNX Runtime quotes them when a kernel fails: a
request that makes a kernel fail must not let those names forge lines in the function's log.
Replayed against the real modelfn-fn, with the model written byte by byte (no onnx package)."""
import json
import struct
import subprocess

import requests

from conftest import CLI

INJECTED = 'r\n{"level":"info","event":"access","forged":true}\n\x1b[31m'


def varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vint(num, v):
    return varint(num << 3) + varint(v)


def value_info(name, dims):
    shape = b"".join(field(1, vint(1, d) if isinstance(d, int) else field(2, d)) for d in dims)
    tensor_type = vint(1, 1) + field(2, shape)  # FLOAT
    return field(1, name) + field(2, field(1, tensor_type))


def reshape_model(node_name):
    """x FP32 [N, D] -> Reshape to [-1, 4]: fails when N*D is not a multiple of 4."""
    node = field(1, "x") + field(1, "shape") + field(2, "y") + field(3, node_name) + field(
        4, "Reshape")
    shape = vint(1, 2) + vint(2, 7) + field(8, "shape") + field(9, struct.pack("<2q", -1, 4))
    graph = (field(1, node) + field(2, "g") + field(5, shape) + field(11, value_info("x", ["N", "D"]))
             + field(12, value_info("y", ["M", 4])))
    return vint(1, 8) + field(7, graph) + field(8, field(1, "") + vint(2, 17))


def test_onnx_runtime_messages_are_json_lines_whatever_the_model_names(tmp_path,
                                                                        start_function):
    (tmp_path / "model.onnx").write_bytes(reshape_model(INJECTED))
    subprocess.run([str(CLI), "manifest", str(tmp_path / "model.onnx"), "--name", "m",
                    "--version", "1"], check=True, capture_output=True)
    fn = start_function(tmp_path)
    r = requests.post(fn.url + "/v1/infer", json={"inputs": [[1.0, 2.0, 3.0]]}, timeout=30)
    assert r.status_code == 500 and r.json()["code"] == "model_error", r.text
    fn.terminate()
    stderr = fn.proc.stderr.read().decode("utf-8")
    lines = [l for l in stderr.splitlines() if l.strip()]
    # Before the fix ONNX Runtime's own sink wrote coloured text here, the model's node name raw:
    # its newline started a line that parsed as a log object of the model's making.
    assert lines, "ONNX Runtime logged nothing for a failing kernel"
    for line in lines:
        obj = json.loads(line)
        assert obj.get("forged") is None, line
        assert obj["event"] == "onnxruntime", line
    assert any(INJECTED in json.loads(l)["msg"] for l in lines)
