"""The local fleet's log shipper: tails every replica's JSON log file and turns its lines into
``LogEvent``s (every warning and error; one info line in ``info_every``) and its sampled span
lines into ``TraceSpan``s, bounded per service per poll so a failing service cannot flood Kafka.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from setpoint.clock import to_datetime
from setpoint.schemas import Event, LogEvent, LogLevel, TraceSpan

_LEVELS = {lv.value for lv in LogLevel}


@dataclass
class LogShipper:
    """Reads ``logs/*.log`` under ``root`` from where it last stopped.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "logs").mkdir()
    >>> line = {"ts": 1.0, "level": "error", "message": "boom", "error_class": "exception",
    ...         "replica": "api-3"}
    >>> _ = (root / "logs" / "api-3.log").write_text(json.dumps(line) + "\\n")
    >>> [(e.service, e.instance, e.error_class) for e in LogShipper(root).poll()]
    [('api', 'api-3', 'exception')]
    """

    root: Path
    info_every: int = 10
    max_per_service: int = 60
    _offsets: dict[Path, int] = field(default_factory=dict)
    _infos: int = 0

    def poll(self) -> list[Event]:
        out: list[Event] = []
        per_service: dict[str, int] = {}
        for path in sorted((self.root / "logs").glob("*.log")):
            service = path.stem.rsplit("-", 1)[0]
            for line in self._new_lines(path):
                ev = self._event(service, line)
                if ev is None or per_service.get(service, 0) >= self.max_per_service:
                    continue
                per_service[service] = per_service.get(service, 0) + 1
                out.append(ev)
        return out

    def _new_lines(self, path: Path) -> list[dict[str, Any]]:
        start = self._offsets.get(path, 0)
        try:
            with path.open("rb") as f:
                f.seek(start)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
        self._offsets[path] = start + end
        lines = []
        for raw in data[:end].splitlines():
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                lines.append(obj)
        return lines

    def _event(self, service: str, line: dict[str, Any]) -> Event | None:
        level = str(line.get("level", "info"))
        ts = to_datetime(float(line.get("ts", 0.0)))
        if "callee" in line:
            return TraceSpan(
                trace_id=uuid.uuid4().hex[:16],
                span_id=uuid.uuid4().hex[:16],
                caller=service,
                callee=str(line["callee"]),
                ts=ts,
                duration_ms=max(0.0, float(line.get("ms", 0.0))),
                error=bool(line.get("failed")),
                operation=f"{line['callee']}/item",
            )
        if level not in _LEVELS or level == "debug":
            return None
        if level == "info":
            self._infos += 1
            if self._infos % self.info_every:
                return None
        return LogEvent(
            service=service,
            ts=ts,
            level=LogLevel(level),
            message=str(line.get("message", ""))[:16000],
            error_class=line.get("error_class"),
            instance=str(line.get("replica", "")),
        )
