"""The OpenAPI schema: generated with zero warnings, valid for openapi-spec-validator, and good
enough for openapi-python-client to generate a client whose every module imports and which runs the
AOVPN flow against a live server (tests/api/client_smoke.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from openapi_spec_validator import validate

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
IMPORT_ALL = """
import importlib, pkgutil, fulcrum_client
names = [m.name for m in pkgutil.walk_packages(fulcrum_client.__path__, "fulcrum_client.")]
for name in names:
    importlib.import_module(name)
print(len(names))
"""


@pytest.fixture(scope="module")
def schema_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))  # raises on a warning
    return path


def test_the_schema_is_valid_openapi_with_a_tag_per_resource_and_errors_documented(schema_file):
    schema = yaml.safe_load(schema_file.read_text())
    validate(schema)
    operations = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    tags = {tag for op in operations for tag in op.get("tags", [])}
    assert {"virtual-services", "real-servers", "floating-ips", "cluster", "config", "apply"} <= tags
    assert all(len(op["tags"]) == 1 for op in operations)
    patch = schema["paths"]["/api/v1/real-servers/{id}/"]["patch"]
    assert {"200", "400", "401", "403", "404", "409", "412"} <= set(patch["responses"])
    assert patch["requestBody"]["content"].keys() == {"application/json"}  # JSON only
    assert "ImportOrPreview" in schema["components"]["schemas"]
    checklist = schema["paths"]["/api/v1/virtual-services/{id}/checklist/"]["get"]["responses"]["200"]
    assert checklist["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Checklist"}


def test_every_api_endpoint_is_in_the_schema(schema_file):
    """An endpoint whose serializer spectacular cannot guess used to drop out of the schema (and the docs)."""
    from drf_spectacular.generators import EndpointEnumerator

    schema = yaml.safe_load(schema_file.read_text())
    documented = {(path, method.upper()) for path, item in schema["paths"].items() for method in item}
    served = {(path.replace("{pk}", "{id}"), method) for path, _, method, _ in EndpointEnumerator().get_api_endpoints()}
    assert len(served) > 100
    assert served - documented == {("/api/schema/", "GET"), ("/api/docs/", "GET")}  # the schema itself, its page


def test_a_generated_client_imports_and_runs_the_aovpn_flow(schema_file, live_url, make_user, tmp_path):
    from accounts.models import ApiToken

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(tmp_path)}
    subprocess.run([BIN / "openapi-python-client", "generate", "--path", schema_file, "--meta", "none",
                    "--output-path", tmp_path / "fulcrum_client"], check=True, env=env, timeout=300,
                   capture_output=True)
    imported = subprocess.run([sys.executable, "-c", IMPORT_ALL], env=env, capture_output=True, text=True,
                              timeout=300, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr[-2000:]
    assert int(imported.stdout) > 100
    _, token = ApiToken.issue(make_user("automation", "admin"), "smoke")
    smoke = subprocess.run([sys.executable, HERE / "client_smoke.py", live_url, token], env=env,
                           capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert smoke.returncode == 0, (smoke.stdout[-2000:], smoke.stderr[-3000:])
    assert "ok" in smoke.stdout
