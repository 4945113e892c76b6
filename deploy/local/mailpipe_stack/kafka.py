"""Apache Kafka 4.1 in KRaft mode, one node, jars fetched from Maven Central with mvn."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path

from .base import REPO, Layout, Ports, apt_install, log, pid_alive, run, spawn, stop_pid, wait_until

KAFKA_VERSION = "4.1.1"
# The largest record mailpipe sends: claim-checked raw mail stays under 512 KiB, dead letters carry
# the original plus headers; 8 MiB leaves room without letting a runaway producer through.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


class Kafka:
    name = "kafka"

    def __init__(self, lay: Layout, ports: Ports) -> None:
        self.lay = lay
        self.dir = lay.state / "kafka"
        self.lib = lay.cache / f"kafka-{KAFKA_VERSION}" / "lib"
        self.pid_file = self.dir / "kafka.pid"
        self.log_file = lay.logs / "kafka.log"
        up = self.running()
        self.port = ports.get("kafka", up)
        self.controller_port = ports.get("kafka_controller", up)

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def env(self) -> dict[str, str]:
        return {"MAILPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{self.port}"}

    def install(self) -> None:
        if self.lib.exists() and any(self.lib.glob("kafka_2.13-*.jar")):
            return
        if not _which("mvn"):
            apt_install("maven")
        log(f"fetching Kafka {KAFKA_VERSION} jars from Maven Central into {self.lib}")
        tmp = self.lib.with_name("lib.partial")
        subprocess.run(
            ["mvn", "-q", "-B", "-f", str(REPO / "deploy/local/kafka/pom.xml"),
             "dependency:copy-dependencies", f"-DoutputDirectory={tmp}"],
            check=True,
        )
        tmp.rename(self.lib)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        props = self.dir / "server.properties"
        props.write_text(self._properties())
        (self.dir / "log4j2.properties").write_text(LOG4J2.format(log=self.log_file))
        java = ["java", "-cp", f"{self.lib}/*", f"-Dlog4j2.configurationFile={self.dir / 'log4j2.properties'}"]
        if not (self.dir / "data" / "meta.properties").exists():
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            run([*java, "-Xmx512m", "kafka.tools.StorageTool", "format", "-t", cluster_id,
                 "-c", str(props), "--ignore-formatted"])
        spawn(
            [*java, "-Xms512m", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
             "-Djava.awt.headless=true", "kafka.Kafka", str(props)],
            self.lay.logs / "kafka.out", self.pid_file,
        )

    def wait_ready(self) -> None:
        def check() -> None:
            from kafka import KafkaAdminClient

            admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{self.port}", request_timeout_ms=3000)
            try:
                admin.list_topics()
            finally:
                admin.close()

        wait_until(check, "Kafka", 120, self.lay.logs / "kafka.out")

    def stop(self) -> None:
        stop_pid(self.pid_file, "kafka", timeout=40)

    def _properties(self) -> str:
        p, c = self.port, self.controller_port
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{c}",
            f"listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{p}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.dir / 'data'}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=3",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            f"message.max.bytes={MAX_MESSAGE_BYTES}",
            f"replica.fetch.max.bytes={MAX_MESSAGE_BYTES}",
            "log.retention.hours=168",
            "log.segment.bytes=67108864",
            "",
        ])


def _which(name: str) -> bool:
    return any((Path(d) / name).exists() for d in os.environ.get("PATH", "").split(os.pathsep))
