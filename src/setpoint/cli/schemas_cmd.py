"""``setpoint schemas export DIR``: JSON Schema for every topic, for producers in any language."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import orjson


def register(sub: Any) -> None:
    p = sub.add_parser("schemas", help="export the JSON Schema of every topic payload")
    s = p.add_subparsers(dest="schemas_command", required=True)
    e = s.add_parser("export", help="write one <topic>.schema.json per topic into DIR")
    e.add_argument("dir", type=Path)
    e.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    from setpoint.streams.topics import TOPICS, json_schema_for

    out: Path = args.dir
    out.mkdir(parents=True, exist_ok=True)
    for spec in TOPICS:
        path = out / f"{spec.name}.schema.json"
        path.write_bytes(orjson.dumps(json_schema_for(spec), option=orjson.OPT_INDENT_2))
        print(path)
    return 0
