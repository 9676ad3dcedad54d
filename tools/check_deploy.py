"""Check the deployment files offline: Dockerfile lint and sources, every kustomize overlay rendered and validated
against the Kubernetes schemas, and every environment variable the manifests set is one the services read.

    python -m tools.check_deploy
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from pydantic import BaseModel
from pydantic_settings import BaseSettings

from gateway.config import GatewaySettings
from services.credentials.config import CredentialsSettings
from services.registry.config import RegistrySettings
from services.runs.config import RunsSettings

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
KUBERNETES_VERSION = "1.32"
SETTINGS: dict[str, type[BaseSettings]] = {
    "services.registry": RegistrySettings,
    "services.runs": RunsSettings,
    "services.credentials": CredentialsSettings,
    "gateway": GatewaySettings,
}
# What production cannot run without, per module (one of each tuple must be set).
REQUIRED: dict[str, list[tuple[str, ...]]] = {
    "services.registry": [("DATABASE__URL",), ("AUTH__PRINCIPAL_KEYS_FILE", "AUTH__PRINCIPAL_KEYS")],
    "services.runs": [("DATABASE__URL",), ("AUTH__PRINCIPAL_KEYS_FILE", "AUTH__PRINCIPAL_KEYS")],
    "services.credentials": [
        ("DATABASE__URL",),
        ("AUTH__PRINCIPAL_KEYS_FILE", "AUTH__PRINCIPAL_KEYS"),
        ("VAULT__KEYS_FILE", "VAULT__KEYS"),
    ],
    "gateway": [
        ("DATABASE__URL",),
        ("AUTH__PRINCIPAL_KEYS_FILE", "AUTH__PRINCIPAL_KEYS"),
        ("JWT__HS256_SECRET_FILE", "JWT__HS256_SECRET", "JWT__JWKS_FILE", "JWT__JWKS_URL"),
        ("API_KEYS__PEPPERS_FILE", "API_KEYS__PEPPERS"),
        ("JWT__ISSUER",),
        ("JWT__AUDIENCE",),
    ],
}


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    return {prefix + name for name in _paths(settings)}


def _paths(model: type[BaseModel]) -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub in _paths(annotation):
                yield f"{name.upper()}__{sub}"
        else:
            yield name.upper()


def render(overlay: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise SystemExit("kubectl is needed to render the kustomize overlays (apt-get install kubectl)")
    output = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise SystemExit(f"kustomize failed for {overlay.name}: {output.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(output.stdout) if doc]


def check_overlay(overlay: Path) -> list[str]:
    problems: list[str] = []
    documents = render(overlay)
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in documents if d["kind"] == "ConfigMap"}
    for document in documents:
        where = f"{overlay.name}: {document['kind']}/{document['metadata']['name']}"
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{where}: {exc.message}")
        if document["kind"] in ("Deployment", "Job"):
            problems += [f"{where}: {p}" for p in check_workload(document, config_maps)]
    return problems


def check_workload(document: dict[str, Any], config_maps: dict[str, dict[str, str]]) -> list[str]:
    problems = []
    pod = document["spec"]["template"]["spec"]
    for container in pod["containers"]:
        args = container.get("args", [])
        module = args[0] if args else ""
        if module == "cli.main":  # `cli.main migrate --service NAME`: the settings of that service
            module = args[-1] if args[-1] == "gateway" else "services." + args[-1]
        settings = SETTINGS.get(module)
        if settings is None:
            problems.append(f"container {container['name']} runs unknown module {args!r}")
            continue
        known = env_names(settings)
        prefix = str(settings.model_config.get("env_prefix", ""))
        names = {e["name"] for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef", {}).get("name")
            if ref not in config_maps:
                problems.append(f"envFrom names ConfigMap {ref!r}, which the overlay does not define")
                continue
            names |= set(config_maps[ref])
        problems += [f"sets {n}, which {settings.__name__} does not read" for n in sorted(names - known)]
        if document["kind"] == "Deployment":
            for alternatives in REQUIRED[module]:
                if not any(prefix + a in names for a in alternatives):
                    problems.append(f"does not set {' or '.join(prefix + a for a in alternatives)}")
            problems += check_hardening(container)
    return problems


def check_hardening(container: dict[str, Any]) -> list[str]:
    problems = []
    security = container.get("securityContext", {})
    if not security.get("runAsNonRoot") or not security.get("readOnlyRootFilesystem"):
        problems.append("must run as non-root with a read-only root filesystem")
    if "ALL" not in security.get("capabilities", {}).get("drop", []):
        problems.append("must drop all capabilities")
    if not all(k in container.get("resources", {}) for k in ("requests", "limits")):
        problems.append("needs resource requests and limits")
    if not all(p in container for p in ("readinessProbe", "livenessProbe")):
        problems.append("needs readiness and liveness probes")
    return problems


def check_dockerfile() -> list[str]:
    problems = []
    dockerfile = ROOT / "Dockerfile"
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            problems += [
                f"Dockerfile copies {src}, which does not exist" for src in parts[1:-1] if not (ROOT / src).exists()
            ]
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problems.append(f"hadolint: {result.stdout.strip() or result.stderr.strip()}")
    return problems


def main() -> int:
    problems = check_dockerfile()
    overlays = sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").exists())
    for overlay in overlays:
        problems += check_overlay(overlay)
    if problems:
        print("deployment check failed:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print(f"deployment files are valid (Dockerfile, overlays: {', '.join(o.name for o in overlays)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
