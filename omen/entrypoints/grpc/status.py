"""Map OMEN errors to gRPC statuses with google.rpc rich details. The only place this happens."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from omen.domain.validation import FieldViolation

# Keep the status message short enough for grpc-message; the details carry every violation.
_MAX_LISTED = 3


def invalid_argument(violations: Sequence[FieldViolation], what: str = "request") -> grpc.Status:
    """INVALID_ARGUMENT carrying a google.rpc.BadRequest with one field violation per problem."""
    listed = "; ".join(f"{v.field} {v.description}" for v in violations[:_MAX_LISTED])
    more = len(violations) - _MAX_LISTED
    message = f"invalid {what}: {listed}" + (f"; and {more} more" if more > 0 else "")
    bad_request = error_details_pb2.BadRequest(
        field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
            for v in violations
        ]
    )
    detail = any_pb2.Any()
    detail.Pack(bad_request)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    )


def resource_exhausted(message: str, retry_after_s: float) -> grpc.Status:
    """RESOURCE_EXHAUSTED carrying a google.rpc.RetryInfo: try again after `retry_after_s`."""
    retry = error_details_pb2.RetryInfo()
    retry.retry_delay.FromNanoseconds(int(retry_after_s * 1e9))
    detail = any_pb2.Any()
    detail.Pack(retry)
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[detail])
    )


def unimplemented_message(rpc: str, missing: str) -> str:
    return f"{rpc} is not implemented by this server yet: {missing}"
