"""What the fake Vertex AI API's serving calls share: error answers in the API's format, messages parsed
into and written from the SDK's own types, list answers and their filters, and long-running
operations that finish in a thread."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from urllib.parse import parse_qs

from google.longrunning import operations_pb2
from google.protobuf import empty_pb2, json_format, timestamp_pb2

LOCATION = r"projects/[^/]+/locations/[^/]+"
INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION = 3, 5, 9  # google.rpc.Code
HTTP = {INVALID_ARGUMENT: (400, "INVALID_ARGUMENT"), NOT_FOUND: (404, "NOT_FOUND"),
        FAILED_PRECONDITION: (400, "FAILED_PRECONDITION")}  # fmt: skip


class Refused(Exception):
    """An error answer: (code, message), as google.rpc.Status has them."""


def error_answer(code: int, message: str) -> tuple[int, str]:
    """(HTTP status, JSON body) of an error, as the REST API answers one."""
    status, name = HTTP[code]
    return status, json.dumps({"error": {"code": status, "status": name, "message": message}})


def now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def to_json(message) -> str:
    return json_format.MessageToJson(type(message).pb(message))


def list_filter(query: str) -> Callable[[object], bool]:
    """What a list request's filter keeps: clauses `display_name="NAME"` and `labels.KEY="VALUE"`, joined by
    AND (Vertex AI's list filter syntax); no filter keeps all; any other clause is INVALID_ARGUMENT."""
    (expression,) = parse_qs(query).get("filter", [""])
    tests = []
    for clause in filter(None, (c.strip() for c in expression.split(" AND "))):
        match = re.fullmatch(r'(display_name|labels\.[a-z][a-z0-9_-]*)="([^"]*)"', clause)
        if not match:
            raise Refused(INVALID_ARGUMENT, f"unsupported filter {expression!r}")
        field, value = match.groups()
        if field == "display_name":
            tests.append(lambda r, value=value: r.display_name == value)
        else:
            key = field.removeprefix("labels.")
            tests.append(lambda r, key=key, value=value: r.labels.get(key) == value)
    return lambda resource: all(test(resource) for test in tests)


def list_answer(key: str, items) -> str:
    """A list method's JSON answer: {key: [items]}."""
    return "{" + f'"{key}": [' + ", ".join(to_json(i) for i in items) + "]}"


def parse(message_type, raw: str):
    """The request body as the SDK's message type; an unknown field is INVALID_ARGUMENT."""
    try:
        return message_type.from_json(raw or "{}", ignore_unknown_fields=False)
    except json_format.ParseError as e:
        raise Refused(INVALID_ARGUMENT, f"bad {message_type.__name__}: {e}") from None


class Operations:
    """Long-running operations: started with the work to do, polled until done, as Vertex AI's are."""

    def __init__(self, ids: Iterator[int]) -> None:
        self._ids = ids
        self._operations: dict[str, operations_pb2.Operation] = {}
        self._lock = threading.Lock()

    def start(self, parent: str, metadata, work: Callable[[], object]) -> str:
        """Run `work` (it returns the response message, or raises Refused) in a thread; answer at once with
        the pending operation, its metadata of the method's own type."""
        location = re.match(LOCATION, parent).group(0)
        operation = operations_pb2.Operation(name=f"{location}/operations/{next(self._ids)}")
        operation.metadata.Pack(type(metadata).pb(metadata))
        with self._lock:
            self._operations[operation.name] = operation
            answer = json_format.MessageToJson(operation)

        def run() -> None:
            time.sleep(0.2)  # long enough that the SDK polls at least once
            try:
                response = work()
                packed = response if isinstance(response, empty_pb2.Empty) else type(response).pb(response)
                with self._lock:
                    operation.response.Pack(packed)
            except Refused as e:
                with self._lock:
                    operation.error.code, operation.error.message = e.args
            with self._lock:
                operation.done = True

        threading.Thread(target=run, daemon=True).start()
        return answer

    def get(self, name: str) -> str:
        with self._lock:
            if name not in self._operations:
                raise Refused(NOT_FOUND, f"operation {name} not found")
            return json_format.MessageToJson(self._operations[name])
