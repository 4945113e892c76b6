"""Lays out offline schemas for kubeconform, which reports every error of a manifest (the Python
validator stops at the first per object):

- ``<out>/k8s/``: kubernetes-validate's strict Kubernetes schemas of one version, with ``$id``
  dropped and ``$ref``s pointing at the local ``_definitions.json`` (as shipped they point at
  kubernetes.io, and kubeconform offline hangs, then finds no schema);
- ``<out>/crds/<group>/<kind>_<version>.json``: the CRDs' schemas, closed as in
  ``validate_manifests.closed``.

    kubeconform_schemas.py --kube-version 1.37 --crds DIR [--crds DIR...] OUT

Use with ``kubeconform -strict -schema-location 'OUT/k8s/{{.ResourceKind}}{{.KindSuffix}}.json'
-schema-location 'OUT/crds/{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'``. Runs in
~/.cache/mailpipe/venv-deploy (it reads kubernetes-validate's package data).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from validate_manifests import KUBE_VERSION, load_crds  # noqa: E402

REF = re.compile(r"^/api/_definitions\.json")


def localized(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: (REF.sub("_definitions.json", v) if k == "$ref" and isinstance(v, str) else localized(v))
                for k, v in schema.items() if k != "$id"}
    if isinstance(schema, list):
        return [localized(v) for v in schema]
    return schema


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", default=KUBE_VERSION)
    parser.add_argument("--crds", type=Path, action="append", default=[])
    parser.add_argument("out", type=Path)
    args = parser.parse_args(argv)
    shipped = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = shipped / f"v{args.kube_version}.0-local-strict"
    if not source.is_dir():
        raise SystemExit(f"kubernetes-validate has no schemas for {args.kube_version}")
    if args.out.exists():
        shutil.rmtree(args.out)
    k8s = args.out / "k8s"
    k8s.mkdir(parents=True)
    for path in source.glob("*.json"):
        (k8s / path.name).write_text(json.dumps(localized(json.loads(path.read_text()))))
    for (api_version, kind), schema in load_crds(args.crds).items():
        group, version = api_version.split("/")
        target = args.out / "crds" / group / f"{kind.lower()}_{version}.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(schema))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
