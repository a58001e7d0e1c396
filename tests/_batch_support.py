"""Batch input for the `--stdin` tests: valid lines of every kind, bad lines of every kind, and
the bytes the sequential reference (`Answerer`, one request model per line) writes for them."""

from __future__ import annotations

import json
from itertools import product

from deconnexion.cli.batch import Answerer
from deconnexion.core.message import Audience, Kind, SenderRole


def reference_bytes(command: str, data: bytes) -> bytes:
    """What the sequential reference writes for `data`: one answer per line, in order."""
    answer = Answerer(command)
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    out = [answer(line)[0] for line in lines]
    out.append("")
    return "\n".join(out).encode("utf-8", "backslashreplace") if lines else b""


def line(**fields: object) -> str:
    return json.dumps(fields)


BASE = {"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents"}
WHERE = [
    {"zone": "C"},
    {"zone": "b"},
    {"uai": "0750001A"},
    {"uai": "9740001A"},
    {"departement": "971"},
    {"academie": "Lyon"},
    {"zone": "Corse"},
]
CREATED = [
    "2025-11-14T21:00:00+01:00",
    "2025-11-14T10:00:00+01:00",
    "2025-11-17T03:30:00Z",
    " 2025-12-24T18:00:00+01:00 ",
    "2026-02-14T12:00:00.5+01:00",
    "2025-07-14T09:00:00-04:00",
    "20251114T210000+0100",
]


def valid_lines() -> list[str]:
    out = []
    for (kind, audience), where, created in product(
        product([k.value for k in Kind], [a.value for a in Audience]), WHERE, CREATED
    ):
        out.append(line(created=created, kind=kind, audience=audience, **where))
    for role, justification in product(
        [r.value for r in SenderRole], [None, "alerte météo", "  intrusion  "]
    ):
        out.append(
            line(
                created="2025-11-14T22:00:00+01:00",
                kind="message",
                audience="parents",
                urgent=True,
                sender_role=role,
                justification=justification,
                zone="C",
            )
        )
    out.append(
        line(
            created="2025-11-14T16:00:00+01:00",
            kind="grade",
            audience="parents",
            publish_to_students_at="2025-11-15T09:00:00+01:00",
            zone="C",
        )
    )
    out.append(line(kind="message", audience="parents", urgent=False, zone="C", created=CREATED[0]))
    # the templates of `urgent: 1` and `urgent: 0` in bad_lines (1 == True in a dict key)
    out += [line(**BASE, zone="C", urgent=True), line(**BASE, zone="C", urgent=False)]
    out.append(
        line(created=CREATED[0], kind="message", audience="parents", zone=None, uai="0750001A")
    )
    return out


def bad_lines() -> list[bytes]:
    texts = [
        "not json",
        "[1, 2]",
        '"a string"',
        "null",
        "{",
        line(**BASE),  # no establishment
        line(**BASE, zone="D"),
        line(**BASE, zone="C", uai="0750001A"),
        line(**BASE, zone="C", colour="blue"),
        line(**{**BASE, "kind": "grades"}, zone="C"),
        line(**{**BASE, "audience": None}, zone="C"),
        line(created=BASE["created"], audience="parents", zone="C"),
        line(created=BASE["created"], kind="message", zone="C"),
        line(**BASE, zone=75),
        line(**BASE, zone=["C"]),
        line(**BASE, zone={"name": "C"}),
        line(**{**BASE, "created": "2025-11-14T21:00:00"}, zone="C"),
        line(**{**BASE, "created": "yesterday"}, zone="C"),
        line(**{**BASE, "created": 1763150400}, zone="C"),
        line(**{**BASE, "created": None}, zone="C"),
        line(**{**BASE, "created": "2031-11-14T21:00:00+01:00"}, zone="C"),
        line(**{**BASE, "created": "1990-11-14T21:00:00+01:00"}, zone="C"),
        line(**BASE, zone="C", urgent="yes"),
        line(**BASE, zone="C", urgent=1),
        line(**BASE, zone="C", urgent=0),
        line(**BASE, zone="C", urgent=1.0),
        line(**BASE, zone="C", urgent=None),
        line(**BASE, zone="C", sender_role="principal"),
        line(**BASE, zone="C", urgent=True, sender_role="chef_etablissement", justification="."),
        line(**BASE, zone="C", urgent=True, sender_role="chef_etablissement", justification=""),
        line(**BASE, zone="C", justification="\u200b\u200b\u200b"),
        line(**BASE, zone="C", justification=5),
        line(**{**BASE, "kind": "grade"}, zone="C", publish_to_students_at="2025-11-15T09:00:00"),
        line(**{**BASE, "kind": "grade"}, zone="C", publish_to_students_at="soon"),
        line(**{**BASE, "kind": "grade"}, zone="C", publish_to_students_at=3),
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "grade", "kind": "message", '
        '"audience": "parents", "zone": "C"}',
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents", '
        '"zone": "C", "zone": "D"}',
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents", '
        '"zone": "\\ud800"}',
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents", '
        '"zone": NaN}',
        '{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "parents", '
        '"zone": "C"} trailing',
        line(**BASE, zone="C") + "\r",
        "   ",
        "",
        "\t" + line(**BASE, zone="C"),
    ]
    raw = [t.encode() for t in texts]
    raw += [
        b'{"created": "2025-11-14T21:00:00+01:00", "kind": "message", "audience": "\xff"}',
        b'{"zone": "C\xc3"}',
        b"\xef\xbb\xbf" + line(**BASE, zone="C").encode(),
        line(**BASE, zone="C").encode("utf-16"),
        line(**BASE, zone="C", justification="x" * 2_000_000).encode(),
        line(**BASE, zone="C" * 500_000).encode(),
        b"[" * 100_000,
    ]
    return raw


def mixed_input(valid_first: bool) -> bytes:
    """Every valid and bad line, interleaved, then all again. A template is judged on its first
    line: the valid one (then a bad line of an equal template must not pass) or the bad one
    (then a valid line must still be answered)."""
    valid = [v.encode() for v in valid_lines()]
    bad = bad_lines()
    lines: list[bytes] = list(valid) if valid_first else []
    for i, b in enumerate(bad):
        lines += [valid[i % len(valid)], b, valid[(7 * i) % len(valid)]]
    lines += valid + bad + valid[::-1]
    return b"\n".join(lines) + b"\n"
