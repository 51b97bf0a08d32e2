"""`omen ledger ...` as a subprocess on a real ledger: output, exit codes, the lock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from omen.adapters.ledger.records import decode_signal
from tests.ledger_data import DAY1, DAY2, Written, build, contents, signal_id
from tests.support import ROOT, wait_until

TIMEOUT = 60


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("OMEN_")}
    for name in ("OMEN_REQUIRE_NATIVE", "OMEN_NO_EXTENSIONS"):
        if name in os.environ:
            out[name] = os.environ[name]
    out["PYTHONPATH"] = str(ROOT)
    return out


def omen(data: Path, *args: str, archive: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "omen.entrypoints.cli",
        "ledger",
        args[0],
        "--data-dir",
        str(data),
    ]
    if archive is not None:
        command += ["--archive-dir", str(archive)]
    return subprocess.run(
        command + list(args[1:]),
        env=env(),
        cwd=data.parent,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def data(tmp_path: Path) -> tuple[Path, list[Written]]:
    written = build(tmp_path / "data" / "ledger")
    return tmp_path / "data", written


def of(written: list[Written], partition: str) -> list[Written]:
    return [w for w in written if w.partition == partition]


def test_ls_lists_partitions_as_a_table_and_as_json(data):
    root, written = data
    human = omen(root, "ls")
    assert human.returncode == 0, human.stderr
    lines = human.stdout.splitlines()
    assert lines[0].split() == ["PARTITION", "STATE", "RECORDS", "SEQUENCES", "SIZE", "SEGMENTS"]
    assert lines[1].split()[:4] == [
        DAY1,
        "open",
        str(len(of(written, DAY1))),
        f"1..{len(of(written, DAY1))}",
    ]
    assert lines[2].split()[:3] == [DAY2, "open", str(len(of(written, DAY2)))]

    listed = json.loads(omen(root, "ls", "--json").stdout)
    assert [
        (p["name"], p["record_count"], p["sealed"], p["archived"]) for p in listed["partitions"]
    ] == [
        (DAY1, len(of(written, DAY1)), False, False),
        (DAY2, len(of(written, DAY2)), False, False),
    ]
    assert listed["partitions"][0]["segments"][0] == "signals-000001.wal"


def test_verify_exits_0_when_clean_and_1_naming_file_and_offset_on_damage(data):
    root, written = data
    clean = omen(root, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert [line.split()[:3] for line in clean.stdout.splitlines()[1:3]] == [
        [DAY1, "ok", str(len(of(written, DAY1)))],
        [DAY2, "ok", str(len(of(written, DAY2)))],
    ]
    segment = root / "ledger" / DAY1 / "signals-000002.wal"
    raw = bytearray(segment.read_bytes())
    raw[64 + 20] ^= 0x01  # inside the segment's first record (73 bytes or more)
    segment.write_bytes(bytes(raw))

    damaged = omen(root, "verify")
    assert damaged.returncode == 1
    assert f"problem: {segment}: corrupt record" in damaged.stdout
    assert "at offset 64" in damaged.stdout
    report = json.loads(omen(root, "verify", "--json", DAY1).stdout)
    assert report["ok"] is False and report["partitions"][0]["problems"][0].startswith(str(segment))
    assert omen(root, "verify", DAY2).returncode == 0


def test_cat_prints_every_record_as_a_json_line_from_a_sequence_on(data):
    root, written = data
    result = omen(root, "cat", DAY1)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    expected = of(written, DAY1)
    assert [(x["position"]["sequence"], x["lsn"]) for x in lines] == [
        (n, w.lsn) for n, w in enumerate(expected, 1)
    ]
    first = lines[0]
    assert first["type"] == "SIGNAL"
    assert first["signal"]["signal_id"] == first["signal_id"] == signal_id(0)
    assert first["signal"]["title"].startswith("Will shipping through the Red Sea")
    assert first["signal_id"] == decode_signal(expected[0].body).signal_id
    observation = lines[4]
    assert observation["type"] == "OBSERVATION" and "signal" not in observation
    assert observation["market_key"] == "polymarket:m-4"

    tail = omen(root, "cat", DAY1, "--from-sequence", "38")
    assert [json.loads(line)["position"]["sequence"] for line in tail.stdout.splitlines()] == [
        38,
        39,
        40,
    ]


def test_seal_compress_archive_end_to_end(data, tmp_path):
    root, written = data
    archive = tmp_path / "archive"
    sealed = omen(root, "seal", DAY1, "--json")
    assert sealed.returncode == 0, sealed.stderr
    (info,) = json.loads(sealed.stdout)["sealed"]
    assert info["record_count"] == len(of(written, DAY1)) and len(info["fingerprint"]) == 64

    compressed = omen(root, "compress", DAY1)
    assert compressed.returncode == 0, compressed.stderr
    assert compressed.stdout.startswith(f"compressed {DAY1}: ")
    assert omen(root, "ls").stdout.splitlines()[1].split()[:3] == [DAY1, "sealed", "zstd"]
    assert omen(root, "verify", DAY1).returncode == 0

    refused = omen(root, "compress", DAY2)
    assert refused.returncode == 1 and "not sealed" in refused.stderr
    assert refused.stderr.startswith("omen: ")

    archived = omen(root, "archive", DAY1, archive=archive)
    assert archived.returncode == 0, archived.stderr
    assert os.listdir(root / "ledger" / DAY1) == ["ARCHIVED"]  # the tombstone
    assert (archive / DAY1 / "MANIFEST.json").exists()
    for with_archive in (archive, None):  # listed once, from the tombstone, either way
        listed = json.loads(omen(root, "ls", "--json", archive=with_archive).stdout)["partitions"]
        assert [
            (p["name"], p["archived"], p["sealed"], p["compressed"], p["record_count"])
            for p in listed
        ] == [
            (DAY1, True, True, True, len(of(written, DAY1))),
            (DAY2, False, False, False, len(of(written, DAY2))),
        ]
        assert listed[0]["path"] == str(archive / DAY1)
    table = omen(root, "ls", archive=archive).stdout.splitlines()
    assert len(table) == 3 and table[1].split()[:4] == [
        DAY1,
        "archived",
        "zstd",
        str(len(of(written, DAY1))),
    ]
    assert len(omen(root, "cat", DAY1).stdout.splitlines()) == len(of(written, DAY1))
    assert len(omen(root, "cat", DAY1, archive=archive).stdout.splitlines()) == len(
        of(written, DAY1)
    )
    assert omen(root, "verify", DAY1, archive=archive).returncode == 0
    every = omen(root, "verify", "--json")  # the archived partition once: its copy verified
    assert every.returncode == 0, every.stdout
    assert [
        (p["partition"], p["ok"], p["records_verified"])
        for p in json.loads(every.stdout)["partitions"]
    ] == [(DAY1, True, len(of(written, DAY1))), (DAY2, True, len(of(written, DAY2)))]
    again = omen(root, "archive", DAY1, archive=archive)
    assert again.returncode == 0 and again.stdout.startswith(f"archived {DAY1}: ")
    assert contents(root / "ledger") == sorted(written, key=lambda w: w.lsn)
    assert contents(root / "ledger", archive) == sorted(written, key=lambda w: w.lsn)

    # The copy moved away: ls still lists the partition; cat and verify say where it was.
    archive.rename(tmp_path / "moved")
    listed = json.loads(omen(root, "ls", "--json").stdout)["partitions"]
    assert [(p["name"], p["archived"]) for p in listed] == [(DAY1, True), (DAY2, False)]
    missing = omen(root, "cat", DAY1)
    assert missing.returncode == 1 and str(archive / DAY1) in missing.stderr
    unverified = omen(root, "verify", DAY1)
    assert unverified.returncode == 1 and str(archive / DAY1) in unverified.stdout


def test_repair_salvages_a_damaged_ledger_end_to_end(data):
    root, written = data
    segment = root / "ledger" / DAY1 / "signals-000003.wal"
    raw = bytearray(segment.read_bytes())
    raw[64 + 60] ^= 0x04
    segment.write_bytes(bytes(raw))
    assert omen(root, "ls").returncode == 1  # recovery refuses the damaged ledger
    assert omen(root, "verify").returncode == 1

    repaired = omen(root, "repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    (day1,) = [p for p in json.loads(repaired.stdout)["partitions"] if p["partition"] == DAY1]
    assert day1["broken_files"][-1] == "signals-000003.wal"
    assert (root / "ledger" / DAY1 / "signals-000003.wal.broken").exists()

    assert omen(root, "verify").returncode == 0
    lines = omen(root, "cat", DAY1).stdout.splitlines()
    assert len(lines) == day1["records_kept"] > 0
    assert [json.loads(line)["lsn"] for line in lines] == [w.lsn for w in of(written, DAY1)][
        : len(lines)
    ]


def test_commands_that_write_refuse_while_another_process_holds_the_ledger(data, tmp_path):
    root, written = data
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from omen.adapters.ledger.ledger import Ledger, LedgerOptions; "
            "ledger = Ledger.open(sys.argv[1], LedgerOptions(seal_grace_s=None)); "
            "sys.stdin.read(); ledger.close()",
            str(root / "ledger"),
        ],
        env=env(),
        stdin=subprocess.PIPE,
        text=True,
    )
    try:
        lock = root / "ledger" / "LOCK"
        wait_until(
            lambda: lock.exists() and lock.read_text().strip() == str(holder.pid),
            TIMEOUT,
            "the holder to take the lock",
        )
        seal = omen(root, "seal", DAY1)
        assert seal.returncode == 1
        assert seal.stderr.startswith("omen: ") and "LedgerService.SealPartition" in seal.stderr
        assert f"pid {holder.pid}" in seal.stderr
        for args in (("compress", DAY1), ("archive", DAY1), ("repair",)):
            refused = omen(
                root, *args, archive=tmp_path / "archive" if args[0] == "archive" else None
            )
            assert refused.returncode == 1 and "in use by another writer" in refused.stderr, args
        # Read-only commands work alongside the writer.
        assert omen(root, "ls").returncode == 0
        assert omen(root, "verify").returncode == 0
        assert len(omen(root, "cat", DAY2).stdout.splitlines()) == len(of(written, DAY2))
    finally:
        holder.communicate("", timeout=TIMEOUT)
    assert holder.returncode == 0
    assert omen(root, "seal", DAY1).returncode == 0  # and once it is gone, sealing works


def test_usage_errors_exit_2_and_other_errors_exit_1(data):
    root, _ = data
    bad_name = omen(root, "cat", "yesterday")
    assert bad_name.returncode == 2 and "not a partition name" in bad_name.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "omen.entrypoints.cli", "ledger", "frobnicate"],
        env=env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert missing.returncode == 2
    unknown = omen(root, "cat", "2020-01-01")
    assert unknown.returncode == 1 and unknown.stderr.startswith("omen: no partition")
    nowhere = omen(root.parent / "nothing-here", "ls")
    assert nowhere.returncode == 0 and "no partitions" in nowhere.stdout
    no_archive = omen(root, "archive", DAY1)
    assert no_archive.returncode == 2 and "--archive-dir" in no_archive.stderr
