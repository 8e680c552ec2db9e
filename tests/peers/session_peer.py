"""Upstream Session peer for interop tests (runs under .venv-kernel, stdlib + jupyter_client).

Reads one JSON request per line from stdin, writes one JSON reply per line. Bytes travel as
{"$b": base64}, datetimes as {"$dt": isoformat}. Sessions are kept by "sid" so replay
protection can be exercised across requests.
"""

import base64
import json
import sys
from datetime import datetime

from jupyter_client.session import Session

sessions = {}


def dec(o):
    if isinstance(o, dict):
        if set(o) == {"$b"}:
            return base64.b64decode(o["$b"])
        if set(o) == {"$dt"}:
            return datetime.fromisoformat(o["$dt"])
        return {k: dec(v) for k, v in o.items()}
    if isinstance(o, list):
        return [dec(v) for v in o]
    return o


def enc(o):
    if isinstance(o, (bytes, memoryview)):
        return {"$b": base64.b64encode(bytes(o)).decode()}
    if isinstance(o, datetime):
        return {"$dt": o.isoformat()}
    if isinstance(o, dict):
        return {k: enc(v) for k, v in o.items() if k != "tracker"}
    if isinstance(o, (list, tuple)):
        return [enc(v) for v in o]
    return o


def session(req):
    sid = req["sid"]
    if sid not in sessions:
        sessions[sid] = Session(
            key=dec(req["key"]),
            signature_scheme=req.get("scheme", "hmac-sha256"),
            packer=req.get("packer", "json"),
        )
    return sessions[sid]


for line in sys.stdin:
    req = dec(json.loads(line))
    s = session(req)
    try:
        if req["op"] == "serialize":
            msg = s.msg(
                req["msg_type"],
                req["content"],
                parent=req.get("parent"),
                header=req.get("header"),
                metadata=req.get("metadata"),
            )
            out = {"frames": s.serialize(msg, req.get("ident"))}
        else:
            idents, rest = s.feed_identities(req["frames"])
            out = {"idents": idents, "msg": s.deserialize(rest)}
    except Exception as e:
        out = {"error": type(e).__name__, "text": str(e)}
    print(json.dumps(enc(out)), flush=True)
