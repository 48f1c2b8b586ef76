"""`modelfn deploy --target azure --dry-run`: the ARM template for the examples, checked by
arm_check.py against the Azure SDK's models of each resource's API version (the strongest checker
this machine has, see that file), its least-privilege role on the model's container, and the az
commands it prints; bad options give typed errors and write nothing."""
import copy
import json
import shlex
import subprocess

import pytest

from arm_check import check
from conftest import CLI, EXAMPLES

READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"


def deploy(tmp_path, *args):
    out = tmp_path / "azure"
    p = subprocess.run([str(CLI), "deploy", "--target", "azure", "--dry-run", "--json", "--out", str(out),
                        "--resource-group", "modelfn-rg", "--location", "westeurope", *args],
                       capture_output=True, text=True, timeout=60)
    return p, out


def resources(t, type_):
    return [r for r in t["resources"] if r["type"] == type_]


def settings(t):
    site = resources(t, "Microsoft.Web/sites")[0]
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


EXAMPLE_MODELS = [m for m in ("digits", "sentiment", "breast_cancer") if (EXAMPLES / m / "manifest.json").exists()]


@pytest.mark.parametrize("example", EXAMPLE_MODELS)
def test_store_model_template_passes_the_checker_with_a_container_scoped_reader(tmp_path, example):
    uri = f"https://mymodels.blob.core.windows.net/models/prod/{example}@1.0.0"
    p, out = deploy(tmp_path, "--model", uri, "--min-instances", "2", "--max-instances", "40",
                    "--package", "function-app.zip")
    assert p.returncode == 0, p.stderr
    t = json.loads((out / "azuredeploy.json").read_text())
    assert check(t) == []
    plan = resources(t, "Microsoft.Web/serverfarms")[0]
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"} and plan["properties"]["reserved"] is True
    site = resources(t, "Microsoft.Web/sites")[0]
    assert site["name"] == "[variables('app')]" and t["variables"]["app"] == example.replace("_", "-") + "-fn"
    fc = site["properties"]["functionAppConfig"]
    assert fc["runtime"]["name"] == "custom"
    assert fc["scaleAndConcurrency"]["maximumInstanceCount"] == 40
    assert fc["scaleAndConcurrency"]["alwaysReady"] == [{"name": "http", "instanceCount": 2}]
    assert fc["deployment"]["storage"]["authentication"]["type"] == "UserAssignedIdentity"
    assert site["identity"]["type"] == "UserAssigned"
    s = settings(t)
    assert s["MODELFN_MODEL"] == uri and s["AZURE_STORAGE_ACCOUNT"] == "mymodels"
    assert s["AzureWebJobsStorage__credential"] == "managedidentity"
    # Blob Data Reader on the model's container, and on nothing else.
    readers = [r for r in resources(t, "Microsoft.Authorization/roleAssignments")
               if READER in r["properties"]["roleDefinitionId"]]
    assert len(readers) == 1
    assert readers[0]["scope"] == ("[format('Microsoft.Storage/storageAccounts/{0}/blobServices/default/"
                                   "containers/{1}', variables('modelAccount'), variables('modelContainer'))]")
    assert (t["variables"]["modelAccount"], t["variables"]["modelContainer"]) == ("mymodels", "models")
    storage = resources(t, "Microsoft.Storage/storageAccounts")[0]
    assert storage["properties"]["allowSharedKeyAccess"] is False
    report = json.loads(p.stdout)
    cmds = report["commands"]
    assert cmds[0] == "az group create --name 'modelfn-rg' --location 'westeurope'"
    assert cmds[1].startswith("az deployment group create --resource-group 'modelfn-rg'")
    assert f"--template-file '{out}/azuredeploy.json'" in cmds[1]
    assert cmds[2].startswith("az functionapp deployment source config-zip") and "--src 'function-app.zip'" in cmds[2]
    for c in cmds:
        shlex.split(c)
    assert (out / "commands.sh").read_text().count("az ") == len(cmds)


def test_packaged_model_has_no_reader_role_and_no_always_ready(tmp_path):
    p, out = deploy(tmp_path, "--model", str(EXAMPLES / "digits"))
    assert p.returncode == 0, p.stderr
    t = json.loads((out / "azuredeploy.json").read_text())
    assert check(t) == []
    assert not any(READER in r["properties"]["roleDefinitionId"]
                   for r in resources(t, "Microsoft.Authorization/roleAssignments"))
    fc = resources(t, "Microsoft.Web/sites")[0]["properties"]["functionAppConfig"]
    assert "alwaysReady" not in fc["scaleAndConcurrency"]
    assert "MODELFN_MODEL" not in settings(t)
    assert len(json.loads(p.stdout)["commands"]) == 2  # no --package: no zip deploy


def test_az_uri_takes_the_account_from_model_account(tmp_path):
    p, out = deploy(tmp_path, "--model", "az://models/prod/digits", "--model-account", "mymodels")
    assert p.returncode == 0, p.stderr
    t = json.loads((out / "azuredeploy.json").read_text())
    assert check(t) == []
    assert settings(t)["AZURE_STORAGE_ACCOUNT"] == "mymodels"


@pytest.mark.parametrize("mutate,want", [
    (lambda t: resources(t, "Microsoft.Web/sites")[0]["properties"].update(bogusSetting=True),
     "bogusSetting: not a property of SiteProperties"),
    (lambda t: resources(t, "Microsoft.Web/sites")[0]["properties"]["functionAppConfig"]["scaleAndConcurrency"]
     .update(instanceMemoryMB="2048"), "instanceMemoryMB: want int"),
    (lambda t: resources(t, "Microsoft.Web/sites")[0]["properties"].update(state="Running"), "read-only"),
    (lambda t: resources(t, "Microsoft.Web/serverfarms")[0].update(apiVersion="2016-09-01"), "apiVersion 2016-09-01"),
    (lambda t: resources(t, "Microsoft.Authorization/roleAssignments")[0]["properties"].update(principalID="x"),
     "principalID: not a property"),
    (lambda t: resources(t, "Microsoft.ManagedIdentity/userAssignedIdentities")[0].pop("location"),
     "required location missing"),
    (lambda t: resources(t, "Microsoft.Web/sites")[0].update(location="[parameters('where')]"),
     "parameters('where') is not defined"),
    (lambda t: resources(t, "Microsoft.Web/sites")[0]["dependsOn"].append(
        "[resourceId('Microsoft.Web/certificates', 'x')]"), "names no resource"),
    (lambda t: resources(t, "Microsoft.Storage/storageAccounts")[0].update(name="[variables('x']"), "unbalanced"),
])
def test_the_checker_finds_what_azure_would_refuse(tmp_path, mutate, want):
    """The checker is not a rubber stamp: each change is one Azure would refuse or ignore."""
    p, out = deploy(tmp_path, "--model", "https://mymodels.blob.core.windows.net/models/digits")
    assert p.returncode == 0, p.stderr
    t = json.loads((out / "azuredeploy.json").read_text())
    bad = copy.deepcopy(t)
    mutate(bad)
    problems = check(bad)
    assert any(want in x for x in problems), problems


@pytest.mark.parametrize("args,why", [
    (["--model", "s3://b/models/digits"], "Azure Blob store"),
    (["--model", "az://models/digits"], "--model-account is required"),
    (["--model", str(EXAMPLES / "digits"), "--storage-account", "Has_Caps"], "--storage-account"),
    (["--model", str(EXAMPLES / "digits"), "--min-instances", "5", "--max-instances", "2"], "--min-instances"),
    (["--model", str(EXAMPLES / "digits"), "--max-instances", "5000"], "--max-instances"),
    (["--model", str(EXAMPLES / "digits"), "--memory", "1024"], "--memory"),
    (["--model", str(EXAMPLES / "digits"), "--min-instances", "two"], "whole numbers"),
])
def test_bad_options_are_refused_with_typed_errors(tmp_path, args, why):
    p, out = deploy(tmp_path, *args)
    assert p.returncode != 0 and why in p.stderr, p.stderr
    assert not (out / "azuredeploy.json").exists()


def test_missing_resource_group_is_a_typed_error(tmp_path):
    out = tmp_path / "azure"
    p = subprocess.run([str(CLI), "deploy", "--target", "azure", "--dry-run", "--out", str(out),
                        "--model", str(EXAMPLES / "digits")], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--resource-group is required" in p.stderr, p.stderr
    assert not (out / "azuredeploy.json").exists()
