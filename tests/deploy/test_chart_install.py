"""Tier 2 of the chart's tests: a real kube-apiserver and etcd (deploy/k8s/build.sh, pinned by
deploy/k8s/go.mod; cold build ~11 min) started on 127.0.0.1, the CRDs installed, then the real Helm
installs deploy/helm/mailpipe into a namespace that enforces Pod Security "restricted" and upgrades
it with changed values. Every object must be accepted and then be there.

No controller-manager or kubelet runs, so no Pod ever starts and no Job ever finishes. Hence:
- no ``--wait``: Deployments would never become ready;
- hooks DO run: Helm creates each pre-install/pre-upgrade Job and waits for it, and the test plays
  the Job controller's last step, marking each Job it sees Complete (after recording it and checking
  its Pod against the namespace's admission). ``--no-hooks`` would leave the hook Jobs, their
  Secret and ServiceAccount unsent to the server, and a short ``--timeout`` would fail the release
  at the first Job before any of its objects were created;
- Pod Security is enforced on Pods only (workloads just get warnings), so each pod template is
  also sent as a Pod with ``--dry-run=server``: the server's admission (Pod Security, service
  account, priority class) decides, and nothing is stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm" / "mailpipe"
CI_VALUES = REPO / "deploy" / "helm" / "ci"
MATRIX = sorted([*CI_VALUES.glob("*.yaml"), *(CHART / "ci").glob("*.yaml")])  # as tier 1's
CACHE = Path(os.environ.get("MAILPIPE_CACHE", Path.home() / ".cache" / "mailpipe"))
HELM = CACHE / "bin" / "helm"
CRD_DIRS = [CACHE / "crds", REPO / "deploy" / "tools" / "schemas"]  # listed after the build: empty when cold
NAMESPACE = "mail"
RELEASE = "mp"

sys.path.insert(0, str(REPO / "deploy" / "k8s"))
from cluster import KUBECTL, ControlPlane  # noqa: E402

# The first test's setup builds kube-apiserver, kubectl and etcd when the cache is cold (~12 min here).
pytestmark = [pytest.mark.deploy, pytest.mark.timeout(2400)]


def run(argv: list[str], stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def kubeconfig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A control plane with the CRDs, the namespace (enforce and warn: restricted) and the
    PriorityClass everything.yaml names (a cluster-wide object the platform owns, not the chart)."""
    for script, args in ((REPO / "deploy" / "k8s" / "build.sh", []),
                         (REPO / "deploy" / "tools" / "build-tools.sh", ["helm", "crds"])):
        done = run(["bash", str(script), *args], timeout=2400)
        assert done.returncode == 0, f"{script} failed:\n{done.stderr[-4000:]}"
    with ControlPlane(tmp_path_factory.mktemp("k8s")) as cp:
        crds = [a for d in CRD_DIRS for crd in sorted(d.glob("*.yaml")) for a in ("-f", str(crd))]
        # ServiceMonitor, PrometheusRule, ScaledObject, TriggerAuthentication and KafkaTopic
        assert len(crds) == 2 * 5, crds
        kubectl(cp.kubeconfig, "apply", "--server-side", *crds)
        kubectl(cp.kubeconfig, "wait", "--for", "condition=Established", "--timeout", "60s", "crd", "--all")
        kubectl(cp.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump_all([
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted"}}},
            {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
             "metadata": {"name": "mail-pipeline"}, "value": 1000}]))
        yield cp.kubeconfig


def kubectl(config: Path, *args: str, stdin: str | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """kubectl with warnings as errors (a Pod Security warning fails the call, as a refusal does)."""
    done = run([str(KUBECTL), "--kubeconfig", str(config), "--warnings-as-errors", *args], stdin=stdin)
    if ok:
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
    return done


def docs_of(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def pod_of(name: str, template: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "spec": template["spec"],
            "metadata": {"name": f"{name}-admission", "namespace": NAMESPACE,
                         "labels": template.get("metadata", {}).get("labels", {})}}


def admit_pod(config: Path, name: str, template: dict[str, Any]) -> None:
    """The server's full Pod admission, enforcing restricted, on a pod template; nothing is stored."""
    kubectl(config, "create", "--dry-run=server", "-n", NAMESPACE, "-f", "-",
            stdin=json.dumps(pod_of(name, template)))


class HookJobs(threading.Thread):
    """Stands in for the Job controller while Helm waits on hook Jobs: each Job that appears is
    recorded (in the order the server got them, with whether the hook Secret was there), its Pod is
    put through admission (the hook ServiceAccount exists only now), and its status is set Complete,
    the way the controller would once its Pod succeeded."""

    def __init__(self, config: Path, hook_secret: str | None = None) -> None:
        super().__init__(daemon=True)
        self.config = config
        self.hook_secret = hook_secret
        self.seen: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []  # Jobs as they appeared; Helm waits for each before the next
        self.together: list[list[str]] = []  # Jobs that appeared while another was still unfinished
        self.secret_missing: list[str] = []  # Jobs that appeared without the hook Secret
        self.errors: list[str] = []
        self.handled: set[str] = set()  # uids: an upgrade's hook Job has the install's name
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            listed = kubectl(self.config, "get", "jobs", "-n", NAMESPACE, "-o", "json", ok=False)
            jobs = json.loads(listed.stdout or '{"items": []}')["items"]
            new = [j for j in jobs if j["metadata"]["uid"] not in self.handled]
            if len(new) > 1:
                self.together.append(sorted(j["metadata"]["name"] for j in new))
            for job in sorted(new, key=lambda j: j["metadata"]["creationTimestamp"]):
                name, uid = job["metadata"]["name"], job["metadata"]["uid"]
                self.handled.add(uid)
                self.seen[name] = job
                self.order.append(name)
                if self.hook_secret and kubectl(self.config, "get", "secret", self.hook_secret, "-n", NAMESPACE,
                                                ok=False).returncode != 0:
                    self.secret_missing.append(name)
                try:
                    admit_pod(self.config, name, job["spec"]["template"])
                except AssertionError as error:
                    self.errors.append(str(error))
                    self.finish(name, failed=True)  # Helm then fails now, not at its timeout
                else:
                    self.finish(name, failed=False)
            time.sleep(0.3)

    def finish(self, name: str, failed: bool) -> None:
        try:
            self.set_status(name, failed)
        except AssertionError as error:  # reported by the test; the thread keeps serving Helm
            self.errors.append(str(error))

    def set_status(self, name: str, failed: bool) -> None:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if failed:  # the terminal condition must follow its "target" condition, as the controller writes them
            reason = {"status": "True", "reason": "BackoffLimitExceeded", "lastTransitionTime": now,
                      "message": "Pod refused by admission"}
            status = {"startTime": now, "failed": 1, "active": 0, "ready": 0,
                      "conditions": [{"type": "FailureTarget", **reason}, {"type": "Failed", **reason}]}
        else:
            reason = {"status": "True", "reason": "CompletionsReached", "lastTransitionTime": now,
                      "message": "Reached expected number of succeeded pods"}
            status = {"startTime": now, "completionTime": now, "succeeded": 1, "active": 0, "ready": 0,
                      "conditions": [{"type": "SuccessCriteriaMet", **reason}, {"type": "Complete", **reason}]}
        kubectl(self.config, "patch", "job", name, "-n", NAMESPACE, "--subresource", "status",
                "--type", "merge", "-p", json.dumps({"status": status}))


def helm_release(config: Path, verb: str, values: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """helm install|upgrade with hooks (jobs completed by HookJobs); returns the release's objects by
    kind/name and the hook Jobs the server received, in the order it received them. Each Job came
    alone (Helm waited for the one before), found the hook Secret of the chart-made credentials
    there, and every hook object is gone afterwards (hook-delete-policy hook-succeeded)."""
    hook_objects = [d for d in render_docs(values) if "helm.sh/hook" in d["metadata"].get("annotations", {})]
    hook_secret = next((d["metadata"]["name"] for d in hook_objects if d["kind"] == "Secret"), None)
    hooks = HookJobs(config, hook_secret)
    hooks.start()
    try:
        done = run([str(HELM), verb, RELEASE, str(CHART), "--kubeconfig", str(config), "-n", NAMESPACE,
                    "-f", str(values), "--timeout", "5m"], timeout=600)
    finally:
        hooks.done.set()
        hooks.join()
    assert not hooks.errors, "\n".join(hooks.errors)
    assert done.returncode == 0, done.stdout + done.stderr
    assert hooks.together == [], "Helm created a hook Job before the one before it finished"
    assert hooks.secret_missing == [], "a hook Job ran without its Secret"
    assert_gone(config, {f"{d['kind']}/{d['metadata']['name']}" for d in hook_objects})
    assert "PodSecurity" not in done.stderr, done.stderr
    manifest = run([str(HELM), "get", "manifest", RELEASE, "--kubeconfig", str(config), "-n", NAMESPACE])
    assert manifest.returncode == 0, manifest.stderr
    objects = {f"{d['kind']}/{d['metadata']['name']}": d for d in docs_of(manifest.stdout)}
    return objects, hooks.order


def assert_on_server(config: Path, objects: dict[str, dict[str, Any]]) -> None:
    """Every object of the release is stored, and each pod template passes Pod admission."""
    path = config.parent / "release.yaml"
    path.write_text(yaml.safe_dump_all(list(objects.values())))
    got = json.loads(kubectl(config, "get", "-n", NAMESPACE, "-f", str(path), "-o", "json").stdout)
    stored = {f"{d['kind']}/{d['metadata']['name']}" for d in got.get("items", [got])}
    assert stored == set(objects)
    for obj in objects.values():
        if obj["kind"] == "Deployment":
            admit_pod(config, obj["metadata"]["name"], obj["spec"]["template"])


def render_docs(values: Path) -> list[dict[str, Any]]:
    done = run([str(HELM), "template", RELEASE, str(CHART), "-n", NAMESPACE, "-f", str(values)])
    assert done.returncode == 0, done.stderr
    return docs_of(done.stdout)


def expected_hook_jobs(values: Path) -> list[str]:
    """The hook Jobs in the order Helm must run them: by hook weight, then name."""
    jobs = [d["metadata"] for d in render_docs(values)
            if d["kind"] == "Job" and "helm.sh/hook" in d["metadata"].get("annotations", {})]
    return [m["name"] for m in sorted(jobs, key=lambda m: (int(m["annotations"]["helm.sh/hook-weight"]), m["name"]))]


def test_install_then_upgrade_with_changed_values(kubeconfig: Path) -> None:
    """defaults.yaml (chart-made Secret, topic hook) installed, then everything.yaml (KEDA,
    ServiceMonitor, PrometheusRule, NetworkPolicy, SASL, other image), then strimzi.yaml (KafkaTopics,
    existing Secret): all accepted and stored; objects the new values drop are gone; the server
    reports the version Helm's checks rely on."""
    version = json.loads(kubectl(kubeconfig, "version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"] == "v1.37.2"

    first = CI_VALUES / "defaults.yaml"
    installed, install_jobs = helm_release(kubeconfig, "install", first)
    # the schema exists before any topic is made (and before the topics Job could need it)
    assert install_jobs == expected_hook_jobs(first) == ["mp-mailpipe-hooks-migrate", "mp-mailpipe-hooks-topics"]
    assert_on_server(kubeconfig, installed)

    second = CI_VALUES / "everything.yaml"
    upgraded, upgrade_jobs = helm_release(kubeconfig, "upgrade", second)
    assert upgrade_jobs == expected_hook_jobs(second) != []
    kinds = {o["kind"] for o in upgraded.values()}
    assert {"ScaledObject", "ServiceMonitor", "PrometheusRule", "NetworkPolicy"} <= kinds
    assert_on_server(kubeconfig, upgraded)
    image = upgraded["Deployment/mp-mailpipe-parser"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("registry.example.com/mailpipe@sha256:")
    assert_gone(kubeconfig, set(installed) - set(upgraded))

    third = CI_VALUES / "strimzi.yaml"  # topics as KafkaTopic objects: the topic hook Job goes
    strimzi, strimzi_jobs = helm_release(kubeconfig, "upgrade", third)
    assert strimzi_jobs == expected_hook_jobs(third) == ["mp-mailpipe-hooks-migrate"]
    assert any(o["kind"] == "KafkaTopic" for o in strimzi.values())
    assert_on_server(kubeconfig, strimzi)
    assert_gone(kubeconfig, set(upgraded) - set(strimzi))
    print(f"\naccepted: install {len(installed)} objects + hook jobs {install_jobs}; "
          f"upgrade {len(upgraded)} objects + hook jobs {upgrade_jobs}; "
          f"upgrade {len(strimzi)} objects + hook jobs {strimzi_jobs}")


def assert_gone(config: Path, keys: set[str]) -> None:
    """Objects an upgrade's values no longer render were deleted by Helm."""
    for key in keys:
        kind, name = key.split("/")
        gone = kubectl(config, "get", "-n", NAMESPACE, kind, name, ok=False)
        assert "NotFound" in gone.stderr, key


@pytest.mark.parametrize("values", MATRIX, ids=lambda p: p.stem)
def test_every_matrix_render_passes_server_dry_run(kubeconfig: Path, values: Path) -> None:
    """The whole render (hooks included) through the server's validation, strict field decoding,
    CRD schemas and admission, without warnings; nothing is stored."""
    done = run([str(HELM), "template", "dry", str(CHART), "-n", NAMESPACE, "-f", str(values)])
    assert done.returncode == 0, done.stderr
    kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-n", NAMESPACE, "-f", "-",
            stdin=done.stdout)


def test_the_server_refuses_what_the_chart_must_not_do(kubeconfig: Path) -> None:
    """The checks are not vacuous: a misspelt field, a field a CRD does not have, and a privileged
    pod template are each refused by this server in this namespace."""
    done = run([str(HELM), "template", "dry", str(CHART), "-n", NAMESPACE, "-f", str(CI_VALUES / "everything.yaml")])
    docs = docs_of(done.stdout)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    monitor = next(d for d in docs if d["kind"] == "ServiceMonitor")
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    crd_typo = {**monitor, "spec": {**monitor["spec"], "endpoint": []}}
    for doc, word in ((typo, "replica"), (crd_typo, "endpoint")):
        refused = kubectl(kubeconfig, "apply", "--dry-run=server", "--validate=strict", "-n", NAMESPACE,
                          "-f", "-", stdin=json.dumps(doc), ok=False)
        assert refused.returncode != 0 and word in refused.stderr, refused.stderr
    # the same pod template, under a ServiceAccount of its own, admitted as rendered, refused once privileged
    kubectl(kubeconfig, "create", "serviceaccount", "admission-probe", "-n", NAMESPACE)
    template = json.loads(json.dumps(deployment["spec"]["template"]))
    template["spec"]["serviceAccountName"] = "admission-probe"
    admit_pod(kubeconfig, "rendered", template)
    template["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = kubectl(kubeconfig, "create", "--dry-run=server", "-n", NAMESPACE, "-f", "-",
                      stdin=json.dumps(pod_of("privileged", template)), ok=False)
    assert refused.returncode != 0 and "restricted" in refused.stderr, refused.stderr
