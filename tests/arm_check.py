"""A checker for the ARM templates `modelfn deploy --target azure` writes, from Microsoft's own
resource definitions: the Azure SDK for Python's model classes (azure-mgmt-web, -storage, -msi,
-authorization), which are generated from the Azure REST API specifications of one API version
each.

No ARM or Bicep validator is served to this machine (the Bicep CLI and PSRule come from NuGet,
arm-ttk from PowerShell Gallery; `az deployment group validate` needs a subscription). The SDK
models carry the same facts as those specifications: for every resource the template names, the
template's apiVersion must be the version of the SDK model it is checked against, and its body
(the ARM envelope keys type/apiVersion/name/scope/dependsOn aside) is walked against the model
strictly: every key must be a property of that API version, writable on create (not read-only),
of the property's JSON type (objects, arrays, strings, integers, booleans), and the required
properties the msrest-style models (msi, authorization) mark present. A string "[...]" is an ARM
expression and matches any type; expressions are checked for balanced quotes and parentheses, and
their variables(), parameters() and resourceId()/dependsOn references must resolve within the
template.

`check(template) -> list[str]` returns the problems found (empty when clean)."""
import enum
import json
import re
import sys
import typing

from azure.mgmt.authorization.v2022_04_01 import models as authorization
from azure.mgmt.msi.v2024_11_30 import models as msi
from azure.mgmt.storage import models as storage
from azure.mgmt.web import models as web

SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
ENVELOPE = {"type", "apiVersion", "name", "scope", "dependsOn", "condition", "comments", "copy"}

# type -> (apiVersion of the SDK models, model class, module for msrest-style models or None)
RESOURCES = {
    "Microsoft.Web/sites": ("2025-05-01", web.Site, None),
    "Microsoft.Web/serverfarms": ("2025-05-01", web.AppServicePlan, None),
    "Microsoft.Storage/storageAccounts": ("2026-09-01", storage.StorageAccountCreateParameters, None),
    "Microsoft.Storage/storageAccounts/blobServices/containers": ("2026-09-01", storage.BlobContainer, None),
    "Microsoft.ManagedIdentity/userAssignedIdentities": ("2024-11-30", msi.Identity, msi),
    "Microsoft.Authorization/roleAssignments": ("2022-04-01", authorization.RoleAssignmentCreateParameters,
                                                authorization),
}


def _api_version_of(module_name):
    mod = sys.modules[module_name.split(".models")[0] + "._configuration"]
    return re.search(r'kwargs\.pop\("api_version", "([0-9-]+[a-z-]*)"\)', open(mod.__file__).read()).group(1)


def _is_expr(v):
    return isinstance(v, str) and v.startswith("[") and v.endswith("]") and not v.startswith("[[")


def _json_type_ok(v, py):
    if _is_expr(v):
        return True
    if py is str:
        return isinstance(v, str)
    if py is bool:
        return isinstance(v, bool)
    if py is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if py is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    return True  # datetime and the like: not written here


# --- TypeSpec-generated models (azure-mgmt-web, azure-mgmt-storage) ---------------------------

def _fields(cls):
    cls()  # computes cls._attr_to_rest_field
    mod = sys.modules[cls.__module__]
    models = sys.modules[cls.__module__.rsplit(".", 1)[0]]
    hints = typing.get_type_hints(cls, globalns=mod.__dict__, localns={"_models": models})
    return {f._rest_name: (f, hints.get(attr)) for attr, f in cls._attr_to_rest_field.items()}


def _walk_type(v, hint, path, out):
    origin = typing.get_origin(hint)
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if origin is typing.Union:
        # Optional[X]; Union[str, SomeEnum] (an extensible enum: any string)
        if any(isinstance(a, type) and issubclass(a, enum.Enum) for a in args) and str in args:
            if not _json_type_ok(v, str):
                out.append(f"{path}: want a string, got {type(v).__name__}")
            return
        if len(args) == 1:
            return _walk_type(v, args[0], path, out)
        return
    if origin in (list, typing.List):
        if _is_expr(v):
            return
        if not isinstance(v, list):
            return out.append(f"{path}: want an array, got {type(v).__name__}")
        for i, item in enumerate(v):
            _walk_type(item, args[0], f"{path}[{i}]", out)
        return
    if origin in (dict, typing.Dict):
        if _is_expr(v):
            return
        if not isinstance(v, dict):
            return out.append(f"{path}: want an object, got {type(v).__name__}")
        for k, item in v.items():
            _walk_type(item, typing.get_args(hint)[1], f"{path}.{k}", out)
        return
    if isinstance(hint, type) and hasattr(hint, "_attr_to_rest_field") or (
            isinstance(hint, type) and hint.__module__.endswith("._models")):
        return _walk_model(v, hint, path, out)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not _is_expr(v) and v not in [e.value for e in hint]:
            out.append(f"{path}: {v!r} is not one of {[e.value for e in hint]}")
        return
    if isinstance(hint, type) and not _json_type_ok(v, hint):
        out.append(f"{path}: want {hint.__name__}, got {type(v).__name__} {v!r}")


def _walk_model(obj, cls, path, out):
    if _is_expr(obj):
        return
    if not isinstance(obj, dict):
        return out.append(f"{path}: want an object ({cls.__name__}), got {type(obj).__name__}")
    fields = _fields(cls)
    for key, v in obj.items():
        if key not in fields:
            out.append(f"{path}.{key}: not a property of {cls.__name__} in this API version")
            continue
        f, hint = fields[key]
        if "create" not in (f._visibility or ["create"]):
            out.append(f"{path}.{key}: read-only in {cls.__name__}")
            continue
        _walk_type(v, hint, f"{path}.{key}", out)


# --- msrest-generated models (azure-mgmt-msi, azure-mgmt-authorization) ------------------------

_MSREST_PRIMITIVES = {"str": str, "int": int, "bool": bool, "float": float, "long": int}


def _msrest_tree(cls):
    tree = {}
    for attr, spec in cls._attribute_map.items():
        parts = re.split(r"(?<!\\)\.", spec["key"])
        node = tree
        for p in parts[:-1]:
            node = node.setdefault(p.replace("\\.", "."), {})
        node[parts[-1].replace("\\.", ".")] = (attr, spec["type"])
    return tree


def _walk_msrest(obj, tree, cls, module, path, out, top=True):
    if _is_expr(obj):
        return
    if not isinstance(obj, dict):
        return out.append(f"{path}: want an object, got {type(obj).__name__}")
    validation = getattr(cls, "_validation", {})
    for key, v in obj.items():
        if key not in tree:
            out.append(f"{path}.{key}: not a property of {cls.__name__} in this API version")
            continue
        node = tree[key]
        if isinstance(node, dict):
            _walk_msrest(v, node, cls, module, f"{path}.{key}", out, top=False)
            continue
        attr, typ = node
        if validation.get(attr, {}).get("readonly"):
            out.append(f"{path}.{key}: read-only in {cls.__name__}")
        elif typ in _MSREST_PRIMITIVES:
            if not _json_type_ok(v, _MSREST_PRIMITIVES[typ]):
                out.append(f"{path}.{key}: want {typ}, got {type(v).__name__} {v!r}")
        elif typ.startswith("{") and not (_is_expr(v) or isinstance(v, dict)):
            out.append(f"{path}.{key}: want an object, got {type(v).__name__}")
        elif typ.startswith("[") and not (_is_expr(v) or isinstance(v, list)):
            out.append(f"{path}.{key}: want an array, got {type(v).__name__}")
        elif hasattr(module, typ):
            sub = getattr(module, typ)
            _walk_msrest(v, _msrest_tree(sub), sub, module, f"{path}.{key}", out)
    for attr, rule in validation.items():
        if rule.get("required"):
            node, parts = obj, re.split(r"(?<!\\)\.", cls._attribute_map[attr]["key"])
            for p in parts:
                node = node.get(p) if isinstance(node, dict) else None
            if node is None and top:
                out.append(f"{path}: required {cls._attribute_map[attr]['key']} missing")


# --- ARM expressions ------------------------------------------------------------------------

def _expr_problems(s, template, path):
    out = []
    body = s[1:-1]
    depth, quoted = 0, False
    for ch in body:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                break
    if quoted or depth != 0:
        out.append(f"{path}: unbalanced expression {s}")
    for name in re.findall(r"variables\('([^']+)'\)", body):
        if name not in template.get("variables", {}):
            out.append(f"{path}: variables('{name}') is not defined")
    for name in re.findall(r"parameters\('([^']+)'\)", body):
        if name not in template.get("parameters", {}):
            out.append(f"{path}: parameters('{name}') is not defined")
    return out


def _call(expr):
    """The function name and top-level arguments of a call expression."""
    m = re.match(r"\s*(\w+)\(", expr)
    if not m or not expr.rstrip().endswith(")"):
        return "", []
    args, depth, quoted, cur = [], 0, False, ""
    for ch in expr[m.end():expr.rstrip().rfind(")")]:
        if ch == "'":
            quoted = not quoted
        if not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth -= 1
        if not quoted and depth == 0 and ch == ",":
            args.append(cur.strip())
            cur = ""
        else:
            cur += ch
    args.append(cur.strip())
    return m.group(1), args


def _strings(v, path):
    if isinstance(v, str):
        yield path, v
    elif isinstance(v, dict):
        for k, x in v.items():
            yield from _strings(k, f"{path}.<key {k}>")
            yield from _strings(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from _strings(x, f"{path}[{i}]")


def check(template):
    out = []
    if template.get("$schema") != SCHEMA:
        out.append(f"$schema is not {SCHEMA}")
    if not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", template.get("contentVersion", "")):
        out.append("contentVersion is not N.N.N.N")
    for k in template:
        if k not in {"$schema", "contentVersion", "parameters", "variables", "resources", "outputs",
                     "functions", "metadata", "apiProfile"}:
            out.append(f"{k}: not a template section")
    types_present = {r.get("type") for r in template.get("resources", [])}
    for i, r in enumerate(template.get("resources", [])):
        path = f"resources[{i}]({r.get('type')})"
        for k in ("type", "apiVersion", "name"):
            if not isinstance(r.get(k), str) or not r[k]:
                out.append(f"{path}: {k} missing")
        spec = RESOURCES.get(r.get("type"))
        if spec is None:
            out.append(f"{path}: no model to check this resource type against")
            continue
        api, cls, module = spec
        if api != _api_version_of(cls.__module__) and module is None:
            out.append(f"{path}: checker table says {api}, the SDK models are {_api_version_of(cls.__module__)}")
        if r.get("apiVersion") != api:
            out.append(f"{path}: apiVersion {r.get('apiVersion')} is not {api}, the version checked")
        body = {k: v for k, v in r.items() if k not in ENVELOPE}
        if module is None:
            _walk_model(body, cls, path, out)
        else:
            _walk_msrest(body, _msrest_tree(cls), cls, module, path, out)
        for d in r.get("dependsOn", []):
            # resourceId('TYPE', ...) or extensionResourceId(SCOPE-ID, 'TYPE', ...)
            fn, args = _call(d[1:-1]) if _is_expr(d) else ("", [])
            i = {"resourceId": 0, "extensionResourceId": 1}.get(fn)
            want = args[i].strip("'") if i is not None and len(args) > i else None
            if want not in types_present:
                out.append(f"{path}: dependsOn {d} names no resource of this template")
    for path, s in _strings(template, "$"):
        if _is_expr(s):
            out.extend(_expr_problems(s, template, path))
    return out


if __name__ == "__main__":
    problems = check(json.load(open(sys.argv[1])))
    print("\n".join(problems) or "clean")
    sys.exit(1 if problems else 0)
