"""Validates rendered Kubernetes manifests strictly, offline: built-in kinds against the Kubernetes
OpenAPI schemas shipped by ``kubernetes-validate`` (unknown fields are errors), custom resources
against the ``openAPIV3Schema`` of their CRD files, closed wherever the CRD does not say it keeps
unknown fields (as the API server's strict field validation does). An object of a kind with no
schema is an error too: nothing rendered goes unchecked.

    validate_manifests.py --kube-version 1.37 --crds DIR [--crds DIR...] FILE...

Prints one JSON object: ``{"kubeVersion", "objects": {kind: count}, "errors": [{"file", "kind", "name",
"error"}]}``;
exits 1 when there is any error. Needs ``kubernetes-validate`` (and its ``jsonschema``), which
``deploy/tools/build-tools.sh venv`` installs into ~/.cache/mailpipe/venv-deploy.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

# The newest Kubernetes whose schemas the pinned kubernetes-validate ships (1.37 for 1.37.0): the
# minor the tier-2 API server runs (deploy/k8s/go.mod), so both tiers judge by the same release.
KUBE_VERSION = ".".join(kubernetes_validate.utils.latest_version().split(".")[:2])


def closed(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its properties
    and neither keeps unknown fields nor says what extra properties may be."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


def load_crds(dirs: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> closed schema, from every CRD in ``dirs``."""
    schemas = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.yaml")):
            for crd in yaml.safe_load_all(path.read_text()):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    schema = closed(version["schema"]["openAPIV3Schema"])
                    # metadata is the API server's ObjectMeta: CRDs leave it open
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def validate(doc: dict[str, Any], kube_version: str, crds: dict[tuple[str, str], dict[str, Any]]) -> str | None:
    """The first error in ``doc``, or None."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in crds:
        meta = doc.get("metadata") or {}
        if not meta.get("name"):
            return "metadata.name is missing"
        errors = sorted(jsonschema.Draft7Validator(crds[key]).iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            return "; ".join(f"{'.'.join(str(p) for p in e.path) or '<root>'}: {e.message}" for e in errors)
        return None
    try:
        kubernetes_validate.validate(doc, kube_version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return f"no schema for {key[0]} {key[1]} (neither Kubernetes {kube_version} nor a CRD given)"
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        return f"{path or '<root>'}: {exc.message}"
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", default=KUBE_VERSION)
    parser.add_argument("--crds", type=Path, action="append", default=[])
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args(argv)
    crds = load_crds(args.crds)
    counts: Counter[str] = Counter()
    errors = []
    for path in args.files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc:
                continue
            counts[doc.get("kind", "?")] += 1
            error = validate(doc, args.kube_version, crds)
            if error:
                errors.append({"file": path.name, "kind": doc.get("kind"),
                               "name": (doc.get("metadata") or {}).get("name"), "error": error})
    print(json.dumps({"kubeVersion": args.kube_version, "objects": dict(sorted(counts.items())),
                      "errors": errors}, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
