"""Temporal wiring shared by the worker, the CLI and the tests: client, converter, indexes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.contrib.pydantic import (
    PydanticJSONPlainPayloadConverter,
    PydanticPayloadConverter,
    pydantic_data_converter,
)
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.service import RPCError, RPCStatusCode, TLSConfig

from mentorship.commands import Command
from mentorship.stored import STORED
from worker.codec import codec_from
from worker.settings import Settings
from workflows import search_attributes as sa

MAX_PROBLEMS = 5
MAX_PROBLEM_CHARS = 200


class LenientJSONPayloadConverter(PydanticJSONPlainPayloadConverter):
    """Commands strict, everything else read as stored data.

    A command is input from a person and guards it: an unknown field is a typo to refuse.
    Everything else that crosses Temporal (the carried state of a continue-as-new, activity
    results, a status answer) may have been written by an older or newer build, so unknown
    fields are ignored and business checks skipped (`mentorship.stored`).
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        if not _is_stored(type_hint):
            return super().from_payload(payload, type_hint)
        assert type_hint is not None
        return self._type_adapter(type_hint).validate_json(
            payload.data, extra="ignore", context=STORED
        )


def _is_stored(type_hint: type | None) -> bool:
    return (
        isinstance(type_hint, type)
        and issubclass(type_hint, BaseModel)
        and not issubclass(type_hint, Command)
    )


class ConcisePayloadConverter(PydanticPayloadConverter):
    """Pydantic payloads, with refusals of malformed input kept short.

    Pydantic lists every bad field, so a dict with thousands of unknown keys would come back
    as a refusal twenty times its size: past Temporal's payload limit, and an echo of the
    input. A few problems, each cut short, say enough to fix the call.
    """

    def __init__(self) -> None:
        CompositePayloadConverter.__init__(
            self,
            *(
                LenientJSONPayloadConverter() if isinstance(c, JSONPlainPayloadConverter) else c
                for c in DefaultPayloadConverter.default_encoding_payload_converters
            ),
        )

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        try:
            return super().from_payloads(payloads, type_hints)
        except ValidationError as err:
            raise ValueError(concise(err)) from None


def concise(err: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg'][:MAX_PROBLEM_CHARS]}"
        for e in err.errors(include_url=False, include_input=False)[:MAX_PROBLEMS]
    ]
    more = err.error_count() - len(problems)
    return f"invalid {err.title}: " + "; ".join(problems) + (f"; and {more} more" if more else "")


PLAIN = dataclasses.replace(
    pydantic_data_converter, payload_converter_class=ConcisePayloadConverter
)


def data_converter(settings: Settings | None = None) -> DataConverter:
    """Pydantic payloads, encrypted when codec keys are configured.

    With encryption on, failure messages and stack traces are sealed too: a rejection can
    quote what a participant wrote, and the server must not see that either.
    """
    codec = codec_from(settings) if settings is not None else None
    if codec is None:
        return PLAIN
    return dataclasses.replace(
        PLAIN,
        payload_codec=codec,
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )


async def connect(settings: Settings) -> Client:
    tls: TLSConfig | bool = False
    # A CA alone means server TLS signed by a private CA; a certificate and key add mTLS.
    if settings.tls_ca or (settings.tls_cert and settings.tls_key):
        tls = TLSConfig(
            client_cert=settings.tls_cert.read_bytes() if settings.tls_cert else None,
            client_private_key=settings.tls_key.read_bytes() if settings.tls_key else None,
            server_root_ca_cert=settings.tls_ca.read_bytes() if settings.tls_ca else None,
        )
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=data_converter(settings),
        tls=tls,
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the attributes the workflow upserts, skipping those already there."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes) | set(existing.system_attributes)
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        known = set()  # the time-skipping test server only knows how to add
    missing = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in sa.ALL
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
