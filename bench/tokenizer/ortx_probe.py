"""For bench/tokenizer/run.sh: whether ONNX Runtime Extensions (the PyPI wheel) can tokenise with
a BERT tokenizer.json through its tokenizer API, and whether its library loads outside Python.
Usage: ortx_probe.py OUT_DIR LIBRARY_PATH"""
import ctypes
import json
import os
import shutil
import sys

out, lib = sys.argv[1], sys.argv[2]
result = {}
try:
    ctypes.CDLL(lib, mode=os.RTLD_LAZY)  # inside Python: libpython's symbols are there
    result["loads_in_python"] = True
except OSError as e:
    result["loads_in_python"] = str(e)
from onnxruntime_extensions import pp_api  # noqa: E402

d = f"{out}/ortx_tok"
os.makedirs(d, exist_ok=True)
shutil.copy(f"{out}/tokenizer_8000.json", f"{d}/tokenizer.json")
for cls in ("BertTokenizer", "BertTokenizerFast", "HfBertTokenizer"):
    with open(f"{d}/tokenizer_config.json", "w") as c:
        json.dump({"tokenizer_class": cls, "do_lower_case": True, "model_max_length": 128}, c)
    try:
        pp_api.Tokenizer(d)
        result[cls] = "ok"
    except Exception as e:  # the package reports unsupported classes as RuntimeError
        result[cls] = str(e).strip().splitlines()[-1]
print(json.dumps(result))
