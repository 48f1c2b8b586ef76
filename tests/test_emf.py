"""CloudWatch metrics of the Lambda face: one Embedded Metric Format document per invocation on
stdout (where CloudWatch Logs extracts them), checked against the EMF specification's rules
(docs.aws.amazon.com, "Specification: Embedded metric format"), written here as a JSON Schema
plus the references the schema cannot express."""
import json

import jsonschema

from conftest import EXAMPLES
from up_harness import config, fn_config, push

INFER = json.loads((EXAMPLES / "digits" / "requests" / "infer.json").read_text())

# The units CloudWatch accepts (MetricDatum.Unit).
UNITS = ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
         "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
         "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
         "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
         "Gigabits/Second", "Terabits/Second", "Count/Second", "None"]

# The document structure of the specification: a root object with an "_aws" metadata object
# (Timestamp, a non-negative integer of epoch milliseconds; CloudWatchMetrics, an array of metric
# directives), each directive with a Namespace (1-1024 characters), Dimensions (an array of
# dimension sets, each of at most 30 member names) and Metrics (at most 100 definitions, a Name
# of 1-1024 characters, an optional Unit from the list and StorageResolution 1 or 60).
EMF_SCHEMA = {
    "type": "object",
    "required": ["_aws"],
    "properties": {
        "_aws": {
            "type": "object",
            "required": ["Timestamp", "CloudWatchMetrics"],
            "properties": {
                "Timestamp": {"type": "integer", "minimum": 0},
                "CloudWatchMetrics": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["Namespace", "Dimensions", "Metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "Namespace": {"type": "string", "minLength": 1, "maxLength": 1024},
                            "Dimensions": {
                                "type": "array",
                                "items": {"type": "array", "maxItems": 30,
                                          "items": {"type": "string", "minLength": 1,
                                                    "maxLength": 250}},
                            },
                            "Metrics": {
                                "type": "array", "maxItems": 100,
                                "items": {
                                    "type": "object", "required": ["Name"],
                                    "additionalProperties": False,
                                    "properties": {
                                        "Name": {"type": "string", "minLength": 1,
                                                 "maxLength": 1024},
                                        "Unit": {"enum": UNITS},
                                        "StorageResolution": {"enum": [1, 60]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_emf(doc):
    jsonschema.validate(doc, EMF_SCHEMA)
    for d in doc["_aws"]["CloudWatchMetrics"]:
        for dims in d["Dimensions"]:
            for name in dims:  # a dimension references a string member of the root
                assert isinstance(doc.get(name), str), (name, doc)
        for m in d["Metrics"]:  # a metric references a number (or up to 100 numbers)
            v = doc.get(m["Name"])
            assert isinstance(v, (int, float)) and not isinstance(v, bool) or (
                isinstance(v, list) and 0 < len(v) <= 100), (m, doc)
    assert len(json.dumps(doc)) < 1 << 20  # a log event's limit


def emf_lines(u, function):
    log = u.dir / ".modelfn" / "logs" / f"{function}.log"
    return [json.loads(x) for x in log.read_text().splitlines()
            if x.startswith("{") and '"_aws"' in x]


def test_each_lambda_invocation_writes_one_valid_emf_document(up, tmp_path):
    store = tmp_path / "models"
    push(store, EXAMPLES / "digits", "digits", "1.0.0")
    u = up(config(store, [fn_config("digits", mode="lambda", start="exec")]))
    assert u.post("/v1/models/digits/infer", INFER).status_code == 200  # cold
    assert u.post("/v1/models/digits/infer", INFER).status_code == 200  # warm
    bad = u.post("/v1/models/digits/infer", {"inputs": [[1.0, 2.0]]})
    assert bad.status_code == 400
    u.wait_until(lambda: len(emf_lines(u, "digits")) == 3)
    cold, warm, failed = emf_lines(u, "digits")
    for doc in (cold, warm, failed):
        check_emf(doc)
        assert doc["FunctionName"] == "digits" and doc["Invocations"] == 1
        assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "modelfn"
    names = lambda d: {m["Name"] for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert cold["ColdStart"] == 1 and warm["ColdStart"] == 0
    assert {"InitDuration", "SessionDuration"} <= names(cold) and "InitDuration" not in names(warm)
    assert cold["InitDuration"] > 0 and cold["SessionDuration"] > 0
    assert warm["BatchSize"] == len(INFER["inputs"]) and warm["RunDuration"] > 0
    assert warm["Errors"] == 0 and warm["ClientErrors"] == 0
    # Errors by code: a second directive with the code as a dimension.
    assert failed["ClientErrors"] == 1 and failed["ErrorCode"] == "shape_mismatch"
    by_code = failed["_aws"]["CloudWatchMetrics"][1]
    assert by_code["Dimensions"] == [["FunctionName", "ErrorCode"]] and failed["ErrorsByCode"] == 1


def test_the_schema_check_refuses_what_cloudwatch_would(tmp_path):
    good = {"_aws": {"Timestamp": 1, "CloudWatchMetrics": [
        {"Namespace": "n", "Dimensions": [["F"]], "Metrics": [{"Name": "M", "Unit": "Count"}]}]},
        "F": "f", "M": 1}
    check_emf(good)
    import copy
    for breaks in (lambda d: d.pop("_aws"),
                   lambda d: d["_aws"].pop("Timestamp"),
                   lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Parsecs"),
                   lambda d: d.update(M="one"),
                   lambda d: d.pop("F"),
                   lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Namespace="")):
        bad = copy.deepcopy(good)
        breaks(bad)
        try:
            check_emf(bad)
        except (AssertionError, jsonschema.ValidationError):
            continue
        raise AssertionError(f"accepted {bad}")
