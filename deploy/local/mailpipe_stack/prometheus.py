"""Prometheus from Debian's package, scraping whatever mailpipe services run, with the alert rules loaded.

Targets come from file_sd JSON files in ``<state>/prometheus/targets/`` that whoever starts
services writes (``make demo`` and tests, through ``mailpipe.devtools.processes.write_scrape_targets``):
Prometheus re-reads them on change, so it follows the services without a restart. The rules are
``deploy/observability/rules/*.yaml`` from the checkout.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from .base import REPO, Layout, Ports, need_binary, pid_alive, spawn, stop_pid, wait_until

BINARY = "/usr/bin/prometheus"
RULES = REPO / "deploy" / "observability" / "rules"
SCRAPE_INTERVAL = "2s"  # local stack: queries and tests see fresh samples quickly


class Prometheus:
    name = "prometheus"

    def __init__(self, lay: Layout, ports: Ports) -> None:
        self.lay = lay
        self.dir = lay.state / "prometheus"
        self.targets = self.dir / "targets"
        self.config = self.dir / "prometheus.yml"
        self.pid_file = self.dir / "prometheus.pid"
        self.log_file = lay.logs / "prometheus.log"
        self.port = ports.get("prometheus", self.running())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def env(self) -> dict[str, str]:
        return {"MAILPIPE_STACK_PROMETHEUS_URL": self.url, "MAILPIPE_STACK_PROMETHEUS_TARGETS": str(self.targets)}

    def install(self) -> None:
        need_binary(BINARY, "prometheus")

    def start(self) -> None:
        self.targets.mkdir(parents=True, exist_ok=True)
        self.config.write_text(json.dumps(config(self.targets, RULES), indent=2))  # JSON is YAML
        spawn([BINARY, f"--config.file={self.config}", f"--storage.tsdb.path={self.dir / 'data'}",
               f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=2d",
               "--web.enable-lifecycle"],
              self.log_file, self.pid_file)

    def wait_ready(self) -> None:
        def check() -> None:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                if response.status != 200:
                    raise RuntimeError(f"/-/ready answered {response.status}")

        wait_until(check, "Prometheus", 60, self.log_file)

    def stop(self) -> None:
        stop_pid(self.pid_file, "prometheus")


def config(targets: Path, rules: Path) -> dict[str, object]:
    """The scrape configuration: every ``*.json`` file_sd file in ``targets``, every rule file."""
    return {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules / "*.yaml")],
        "scrape_configs": [{
            "job_name": "mailpipe",
            "file_sd_configs": [{"files": [str(targets / "*.json")], "refresh_interval": "5s"}],
        }],
    }

