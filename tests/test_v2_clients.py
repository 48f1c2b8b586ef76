"""Unmodified third-party Open Inference Protocol clients against modelfn-fn: tritonclient[http]
(binary tensor data by default, JSON on request) and KServe's V2 REST client."""
import asyncio
import json

import numpy as np
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from conftest import EXAMPLES, MODELS

DTYPES = {
    "bool": ("BOOL", np.bool_), "uint8": ("UINT8", np.uint8), "uint16": ("UINT16", np.uint16),
    "uint32": ("UINT32", np.uint32), "uint64": ("UINT64", np.uint64), "int8": ("INT8", np.int8),
    "int16": ("INT16", np.int16), "int32": ("INT32", np.int32), "int64": ("INT64", np.int64),
    "fp16": ("FP16", np.float16), "fp32": ("FP32", np.float32), "fp64": ("FP64", np.float64),
    "bytes": ("BYTES", np.object_),
}


def sample(name, np_type):
    if name == "bool":
        return np.array([True, False, True])
    if name == "bytes":
        return np.array([b"alpha", b"", "\u00e9t\u00e9".encode()], dtype=np.object_)
    info = np.iinfo(np_type) if np.issubdtype(np_type, np.integer) else None
    if info is not None:
        return np.array([info.min, 0, info.max], dtype=np_type)
    return np.array([-1.5, 0.0, 3.25e2], dtype=np_type)


@pytest.fixture(scope="module")
def dtypes_fn():
    from conftest import Function
    f = Function(MODELS / "dtypes")
    yield f
    f.terminate()


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_every_datatype(dtypes_fn, binary):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{dtypes_fn.port}")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("dtypes")
    meta = client.get_model_metadata("dtypes")
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {k: v[0] for k, v in DTYPES.items()}
    inputs, outputs, arrays = [], [], {}
    for name, (dt, np_type) in DTYPES.items():
        arr = sample(name, np_type)
        arrays[name] = arr
        inp = httpclient.InferInput(name, list(arr.shape), dt)
        inp.set_data_from_numpy(arr, binary_data=binary)
        inputs.append(inp)
        outputs.append(httpclient.InferRequestedOutput(name + "_out", binary_data=binary))
    result = client.infer("dtypes", inputs, outputs=outputs, request_id="rq-7")
    assert result.get_response()["id"] == "rq-7"
    for name, arr in arrays.items():
        got = result.as_numpy(name + "_out")
        assert got is not None, name
        if name == "bytes":
            # JSON carries BYTES as text; binary data as raw bytes.
            assert [x.encode() if isinstance(x, str) else bytes(x) for x in got.tolist()] == arr.tolist()
        else:
            np.testing.assert_array_equal(got, arr, err_msg=name)
            assert got.dtype == arr.dtype, name


def test_tritonclient_digits_matches_onnxruntime(digits):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{digits.port}")
    body = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())
    x = np.array(body["inputs"], np.float32)
    inp = httpclient.InferInput("pixels", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)  # binary by default
    result = client.infer("digits", [inp], model_version="1.0.0")
    sess = ort.InferenceSession(str(EXAMPLES / "digits" / "model.onnx"))
    label, proba = sess.run(["label", "probabilities"], {"pixels": x})
    np.testing.assert_array_equal(result.as_numpy("label"), label)
    np.testing.assert_allclose(result.as_numpy("probabilities"), proba, rtol=1e-6, atol=1e-7)


def test_tritonclient_sees_protocol_errors(digits):
    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{digits.port}")
    inp = httpclient.InferInput("pixels", [1, 63], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 63), np.float32))
    with pytest.raises(InferenceServerException) as e:
        client.infer("digits", [inp])
    assert "expects shape [N,64]" in str(e.value)
    with pytest.raises(InferenceServerException):
        client.infer("nosuchmodel", [inp])
    assert not client.is_model_ready("digits", model_version="9")
    assert client.is_server_live()


def test_kserve_rest_client(cancer):
    from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig

    body = json.loads((EXAMPLES / "breast_cancer" / "requests" / "infer.json").read_text())
    x = np.array(body["inputs"], np.float32)
    expected = json.loads((EXAMPLES / "breast_cancer" / "expected.json").read_text())

    async def run():
        client = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
        try:
            base = cancer.url
            assert await client.is_server_live(base)
            assert await client.is_server_ready(base)
            assert await client.is_model_ready(base, "breast-cancer")
            inp = InferInput(name="features", shape=list(x.shape), datatype="FP32")
            inp.set_data_from_numpy(x, binary_data=False)
            resp = await client.infer(base, InferRequest(model_name="breast-cancer",
                                                         infer_inputs=[inp], request_id="k1"),
                                      model_name="breast-cancer")
            return {o.name: o.as_numpy() for o in resp.outputs}
        finally:
            await client.close()

    out = asyncio.run(run())
    assert out["label"].tolist() == expected["label"]
    np.testing.assert_allclose(out["probabilities"], np.array(expected["probabilities"]), rtol=1e-6, atol=1e-7)
