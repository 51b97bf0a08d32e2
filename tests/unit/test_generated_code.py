"""Generated code in omen/_proto matches proto/, and the check notices when it does not."""

from __future__ import annotations

import shutil
from pathlib import Path

import grpc_tools

from build_tools import protogen
from omen._proto import PROTO_SOURCES_SHA256, service_pb2


def test_the_generated_code_is_fresh():
    assert protogen.stale_files() == [], "omen/_proto is stale: run `make proto`"
    assert protogen.sources_digest() == PROTO_SOURCES_SHA256


def test_an_edited_proto_makes_the_check_fail(tmp_path):
    shutil.copytree(protogen.ROOT / "proto", tmp_path / "proto")
    shutil.copytree(protogen.ROOT / "omen" / "_proto", tmp_path / "omen" / "_proto")
    assert protogen.stale_files(tmp_path) == []
    signal_proto = tmp_path / "proto" / "omen" / "v1" / "signal.proto"
    signal_proto.write_text(
        signal_proto.read_text().replace(
            "uint64 ledger_sequence = 27;", "uint64 ledger_sequence = 27;\n  string extra = 28;"
        )
    )
    assert set(protogen.stale_files(tmp_path)) >= {"__init__.py", "signal_pb2.py", "signal_pb2.pyi"}


def test_the_contract_keeps_the_names_clients_rely_on():
    services = service_pb2.DESCRIPTOR.services_by_name
    assert set(services["SignalService"].methods_by_name) == {
        "Process",
        "ProcessStream",
        "GetSignal",
        "ListSignals",
        "WatchSignals",
        "PullSource",
    }
    assert set(services["ReconcileService"].methods_by_name) == {"Reconcile", "ReconcileStream"}
    assert set(services["LedgerService"].methods_by_name) == {
        "ListPartitions",
        "SealPartition",
        "VerifyPartition",
        "ReadPartition",
    }
    assert service_pb2.DESCRIPTOR.package == "omen.v1"
    response_fields = service_pb2.ProcessResponse.DESCRIPTOR.fields_by_name
    assert {
        "outcome",
        "signal",
        "validation_results",
        "reason",
        "duplicate_of",
        "ledger_position",
    } <= set(response_fields)
    assert [v.name for v in service_pb2.Outcome.DESCRIPTOR.values] == [
        "OUTCOME_UNSPECIFIED",
        "OUTCOME_EMITTED",
        "OUTCOME_DUPLICATE",
        "OUTCOME_REJECTED",
        "OUTCOME_INVALID",
    ]


def _descriptor_set_with_comments(tmp_path):
    from google.protobuf import descriptor_pb2
    from grpc_tools import protoc

    out = tmp_path / "omen.desc"
    files = [str(p.relative_to(protogen.ROOT / "proto")) for p in protogen.proto_files()]
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{protogen.ROOT / 'proto'}",
            f"-I{well_known}",
            f"--descriptor_set_out={out}",
            "--include_source_info",
            *files,
        ]
    )
    assert code == 0
    return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def test_every_rpc_message_field_and_enum_value_of_the_contract_is_commented(tmp_path):
    uncommented = []
    for file in _descriptor_set_with_comments(tmp_path).file:
        comments = {
            tuple(loc.path): (loc.leading_comments + loc.trailing_comments).strip()
            for loc in file.source_code_info.location
        }

        def check(path: tuple[int, ...], name: str, comments=comments, file_name=file.name) -> None:
            if not comments.get(path):
                uncommented.append(f"{file_name}: {name}")

        for s_i, service in enumerate(file.service):
            check((6, s_i), service.name)
            for m_i, method in enumerate(service.method):
                check((6, s_i, 2, m_i), f"{service.name}.{method.name}")
        for m_i, message in enumerate(file.message_type):
            check((4, m_i), message.name)
            for f_i, field in enumerate(message.field):
                check((4, m_i, 2, f_i), f"{message.name}.{field.name}")
        for e_i, enum in enumerate(file.enum_type):
            check((5, e_i), enum.name)
            for v_i, value in enumerate(enum.value):
                if not value.name.endswith("_UNSPECIFIED"):
                    check((5, e_i, 2, v_i), f"{enum.name}.{value.name}")
    assert uncommented == [], "\n".join(uncommented)
