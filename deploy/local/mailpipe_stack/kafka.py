"""Apache Kafka 4.1 in KRaft mode, one node, jars fetched from Maven Central with mvn."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from pathlib import Path

from .base import (
    REPO,
    Layout,
    Ports,
    apt_install,
    log,
    make_tls_pair,
    pid_alive,
    run,
    spawn,
    stop_pid,
    tls_pair,
    wait_until,
)

KAFKA_VERSION = "4.1.1"
# The SASL_SSL listener's one user (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512), for the tests of the
# production settings (TLS + SASL); the plaintext listener serves everything else.
SASL_USER, SASL_PASSWORD = "mailpipe", "local-stack-kafka-pw"
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
        self.sasl_port = ports.get("kafka_sasl_ssl", up)
        self.cert, self.key = tls_pair(lay)
        self.keystore = self.dir / "keystore.pem"

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def env(self) -> dict[str, str]:
        return {"MAILPIPE_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{self.port}",
                "MAILPIPE_STACK_KAFKA_SASL_SSL_BOOTSTRAP": f"localhost:{self.sasl_port}",
                "MAILPIPE_STACK_KAFKA_SASL_USERNAME": SASL_USER,
                "MAILPIPE_STACK_KAFKA_SASL_PASSWORD": SASL_PASSWORD}

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
        # Kafka's PEM keystore: the PKCS#8 key and its certificate in one file
        make_tls_pair(self.cert, self.key)
        self.keystore.write_text(self.key.read_text() + self.cert.read_text())
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
        marker = self.dir / "scram-users"
        if not marker.exists():  # SCRAM credentials live in the cluster metadata: added once
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):  # one per request, the broker insists
                run(["java", "-cp", f"{self.lib}/*", "kafka.admin.ConfigCommand", "--bootstrap-server",
                     f"127.0.0.1:{self.port}", "--alter", "--entity-type", "users", "--entity-name", SASL_USER,
                     "--add-config", f"{mechanism}=[password={SASL_PASSWORD}]"])
            marker.write_text(SASL_USER + "\n")

    def stop(self) -> None:
        stop_pid(self.pid_file, "kafka", timeout=40)

    def _properties(self) -> str:
        p, c, s = self.port, self.controller_port, self.sasl_port
        return "\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{c}",
            f"listeners=PLAINTEXT://127.0.0.1:{p},CONTROLLER://127.0.0.1:{c},SASL_SSL://127.0.0.1:{s}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{p},SASL_SSL://localhost:{s}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            # Production-like: TLS with the stack's certificate (localhost, 127.0.0.1), SASL PLAIN and SCRAM.
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.keystore}",
            "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule "
            f'required user_{SASL_USER}="{SASL_PASSWORD}";',
            "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config="
            "org.apache.kafka.common.security.scram.ScramLoginModule required;",
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
