"""Cloud Logging's entries:list for the fake Vertex AI API: the lines its local jobs printed, labelled as
Vertex AI labels a training job's lines (resource.type ml_job, job_id, task_name, trial_id for a tuning
trial). Requests are parsed into google-cloud-logging's own ListLogEntriesRequest (unknown fields are
errors); the filter may use the clauses `./submit.sh logs` sends, and any other clause is refused.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from datetime import datetime, timezone

from google.cloud.logging_v2 import types
from google.protobuf import json_format

CLAUSE = re.compile(r'(resource\.type|resource\.labels\.\w+|labels\."[^"]+"|timestamp)\s*(=|>=)\s*"([^"]*)"')


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class FakeLogging:
    def __init__(self) -> None:
        self.entries: list[dict] = []  # LogEntry JSON, in the order written
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, project: str, job_id: str, task: str, line: str, trial_id: str | None = None) -> None:
        """One line a replica printed, as Vertex AI's logging agent stores it."""
        entry = {
            "logName": f"projects/{project}/logs/{task}",
            "resource": {"type": "ml_job", "labels": {"project_id": project, "job_id": job_id, "task_name": task}},
            "timestamp": _stamp(datetime.now(timezone.utc)),
            "severity": "ERROR" if line.startswith("error:") else "INFO",
            "jsonPayload": {"message": line},
        }
        if trial_id:
            entry["labels"] = {"ml.googleapis.com/trial_id": trial_id}
        with self._lock:
            entry["insertId"] = f"{next(self._ids):012d}"
            self.entries.append(entry)

    @staticmethod
    def _matches(entry: dict, clauses: list[tuple[str, str, str]]) -> bool:
        for key, _, value in clauses:  # list_entries checked the operators
            if key == "timestamp":
                found = entry["timestamp"]  # same fixed-width format: string order is time order
                if not found >= _stamp(datetime.fromisoformat(value.replace("Z", "+00:00"))):
                    return False
                continue
            if key == "resource.type":
                found = entry["resource"]["type"]
            elif key.startswith("resource.labels."):
                found = entry["resource"]["labels"].get(key.rsplit(".", 1)[1])
            else:
                found = entry.get("labels", {}).get(key[len('labels."') : -1])
            if found != value:
                return False
        return True

    def list_entries(self, raw: str) -> tuple[int, str]:
        """POST /v2/entries:list: (HTTP status, JSON answer)."""
        try:
            request = types.ListLogEntriesRequest.from_json(raw, ignore_unknown_fields=False)
        except json_format.ParseError as e:
            return 400, json.dumps({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": str(e)}})
        parts = [p.strip() for p in request.filter.split(" AND ")] if request.filter else []
        clauses = [CLAUSE.fullmatch(p) for p in parts]
        known = [c is not None and (c.group(1) == "timestamp") == (c.group(2) == ">=") for c in clauses]
        if not all(known):  # timestamp>= and field=value only: a clause this fake cannot evaluate is refused
            bad = parts[known.index(False)]
            return 400, json.dumps({"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": f"filter: {bad}"}})
        projects = {name.split("/")[1] for name in request.resource_names}
        with self._lock:
            found = [
                e
                for e in self.entries
                if e["resource"]["labels"]["project_id"] in projects and self._matches(e, [c.groups() for c in clauses])
            ]
        found.sort(key=lambda e: (e["timestamp"], e["insertId"]), reverse=request.order_by == "timestamp desc")
        start = int(request.page_token or 0)
        size = request.page_size or 50
        answer = {"entries": found[start : start + size]}
        if start + size < len(found):
            answer["nextPageToken"] = str(start + size)
        return 200, json.dumps(answer)
