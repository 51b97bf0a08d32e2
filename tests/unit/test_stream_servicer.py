"""SignalServicer._submit_message in process, over a real ledger: what a stream response holds
and what the server keeps once it is encoded (the encoded-signal memo must not grow)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from omen._proto import service_pb2
from omen.adapters.proto_codec import signal_to_proto
from omen.bootstrap import build_app
from omen.config import Settings
from omen.entrypoints.grpc.servicers import _decode_stream_request, signal_servicer
from tests.support import event_message


def _request(tag: str, count: int, view: int) -> bytes:
    return service_pb2.ProcessStreamRequest(
        events=[
            service_pb2.StreamEvent(
                correlation_id=f"{tag}-{i}",
                event=event_message(event_id=f"{tag}-{i}", market_id=f"{tag}-m-{i}"),
            )
            for i in range(count)
        ],
        view=view,
    ).SerializeToString()


def test_each_view_answers_from_the_memo_and_leaves_it_empty(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = Settings(data_dir=tmp_path, metrics_port=0)
        app = build_app(settings)
        try:
            servicer = signal_servicer(app)
            for tag, view in (
                ("basic", service_pb2.RESULT_VIEW_BASIC),
                ("full", service_pb2.RESULT_VIEW_FULL),
            ):
                request = _request(tag, 3, view)
                decoded = _decode_stream_request(request, 1_764_000_000_000_000_000, 1 << 20)
                response, batch, _ = servicer._submit_message(
                    decoded, "", view == service_pb2.RESULT_VIEW_FULL
                )
                assert batch is not None
                await batch.durable()
                assert len(app.signal_wire) == 0, tag  # every encoding was taken or dropped
                results = service_pb2.ProcessStreamResponse.FromString(response).results
                assert [r.outcome for r in results] == [service_pb2.OUTCOME_EMITTED] * 3
                for result in results:
                    signal = app.repository.get(result.signal_id)
                    assert signal is not None
                    stored = signal_to_proto(signal)
                    if view == service_pb2.RESULT_VIEW_BASIC:
                        assert not result.HasField("signal")
                    else:
                        assert result.signal == stored
                    assert (stored.ledger_partition, stored.ledger_sequence) == (
                        result.ledger_position.partition,
                        result.ledger_position.sequence,
                    )
        finally:
            app.ledger.close()

    asyncio.run(scenario())
