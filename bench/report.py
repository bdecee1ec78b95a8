"""The one results table: each figure per server, ratios against the best peer and nginx."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

PEERS = ("pypiserver", "devpi")
COLUMNS = ("pypiserver", "devpi", "pypidraft", "nginx")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    kind: str  # rps | latency | seconds | ms | bytes | count | ratio
    better: str = "higher"  # or "lower"
    # target(ratio to best peer, ratio to nginx, pypidraft value, values) -> (text, ok or None)
    target: Callable[[float | None, float | None, float | None, dict], tuple[str, bool | None]] | None = None


def _vs_peer(limit: float, op: str) -> Callable:
    def check(peer_ratio, _nginx_ratio, _ours, _values):
        if peer_ratio is None:
            return f"{op} {limit:g}x best peer", None
        ok = peer_ratio >= limit if op == "≥" else (peer_ratio < limit if op == "<" else peer_ratio <= limit)
        return f"{op} {limit:g}x best peer", ok

    return check


def _uv_target(_peer_ratio, nginx_ratio, ours, values):
    devpi = values.get("devpi")
    if ours is None or devpi is None or nginx_ratio is None:
        return "≤ devpi, ≤ 1.25x nginx", None
    return "≤ devpi, ≤ 1.25x nginx", ours <= devpi and nginx_ratio <= 1.25


def _absolute(limit: float, text: str) -> Callable:
    def check(_peer_ratio, _nginx_ratio, ours, _values):
        return text, None if ours is None else ours < limit

    return check


def _equal_queries(_p, _n, _ours, values):
    many, few = values.get("pypidraft"), values.get("pypidraft_few")
    return "same for 5 files", None if many is None or few is None else many == few


ROWS = [
    Row("project_html_rps", "GET /simple/benchproj/ (600 files) HTML, req/s", "rps", "higher", _vs_peer(40, "≥")),
    Row("project_html_p50", "  … HTML p50", "latency", "lower"),
    Row("project_html_p99", "  … HTML p99", "latency", "lower", _vs_peer(0.1, "<")),
    Row("project_json_rps", "GET /simple/benchproj/ JSON (PEP 691), req/s", "rps", "higher", _vs_peer(40, "≥")),
    Row("project_json_p50", "  … JSON p50", "latency", "lower"),
    Row("project_json_p99", "  … JSON p99", "latency", "lower", _vs_peer(0.1, "<")),
    Row("project_html_bytes", "  page size (HTML)", "bytes", "lower"),
    Row("root10_rps", "GET /simple/ (10 projects), req/s", "rps", "higher"),
    Row("root10_p50", "  … p50", "latency", "lower"),
    Row("root10_p99", "  … p99", "latency", "lower"),
    Row("root10_seq", "  … one client (wrk -c1) p50", "latency", "lower"),
    Row("root10k_rps", "GET /simple/ (10,000 projects), req/s", "rps", "higher"),
    Row("root10k_p50", "  … p50", "latency", "lower"),
    Row("root10k_p99", "  … p99", "latency", "lower"),
    Row("root10k_seq", "  … one client (wrk -c1) p50", "latency", "lower"),
    Row("root_scale_seq", "  10,000 ÷ 10 projects, one client p50", "ratio", "lower", _absolute(2.0001, "≤ 2x")),
    Row("root_scale_load", "  10,000 ÷ 10 projects, p50 under load", "ratio", "lower", _absolute(2.0001, "≤ 2x")),
    Row("upload_600", "twine upload, 600 files (one call)", "seconds", "lower", _vs_peer(1.0, "≤")),
    Row("upload_50", "twine upload, one 50 MiB wheel (median of 3)", "seconds", "lower", _vs_peer(1.5, "≤")),
    Row("upload_50_growth", "  server RSS growth during a 50 MiB upload (max)", "bytes", "lower"),
    Row("uv_install", "uv pip install benchproj (fresh venv, no cache; median)", "seconds", "lower", _uv_target),
    Row("peak_rss", "server peak RSS (process tree) before the 1 GiB test", "bytes", "lower"),
    Row("peak_rss_backing", "  + PostgreSQL and SeaweedFS", "bytes", "lower"),
    Row("upload_1g", "twine upload, one 1 GiB wheel", "seconds", "lower"),
    Row("upload_1g_growth", "  server RSS growth during it", "bytes", "lower", _absolute(64 * MiB, "< 64 MiB")),
    Row(
        "publish_ms",
        "publish a 500-file draft (services.publish_release; median)",
        "ms",
        "lower",
        _absolute(50, "< 50 ms"),
    ),
    Row("publish_api_ms", "publish a 500-file draft via POST /api/v1/… (median)", "ms", "lower"),
    Row("publish_queries", "  SQL queries to publish 500 files (5 files)", "count", "lower", _equal_queries),
]


def fmt(value: float | None, kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "rps":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    if kind == "latency":
        ms = value * 1000
        return f"{ms:.0f} ms" if ms >= 100 else (f"{ms:.1f} ms" if ms >= 1 else f"{ms:.2f} ms")
    if kind == "seconds":
        return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"
    if kind == "ms":
        return f"{value:.1f} ms"
    if kind == "bytes":
        return f"{value / MiB:.1f} MiB" if value >= MiB else f"{value / 1024:.0f} KiB"
    if kind == "ratio":
        return f"{value:.2f}x"
    return f"{value:g}"


def ratio_text(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10:
        return f"{value:,.0f}x"
    if value >= 1:
        return f"{value:.2f}x"
    return f"{value:.3f}x" if value >= 0.01 else f"{value:.4f}x"


def build_table(values: dict[str, dict[str, float | None]]) -> tuple[str, list[dict]]:
    header = [
        "metric",
        "pypiserver",
        "devpi",
        "pypidraft",
        "nginx static",
        "pypidraft ÷ best peer",
        "pypidraft ÷ nginx",
        "target",
        "met",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    checks = []
    for row in ROWS:
        data = values.get(row.key, {})
        if not data:
            continue
        ours = data.get("pypidraft")
        peers = [data[p] for p in PEERS if data.get(p) is not None]
        best = (max(peers) if row.better == "higher" else min(peers)) if peers else None
        peer_ratio = ours / best if ours is not None and best else None
        nginx = data.get("nginx")
        nginx_ratio = ours / nginx if ours is not None and nginx else None
        target_text, ok = row.target(peer_ratio, nginx_ratio, ours, data) if row.target else ("", None)
        label = row.label
        if row.key == "publish_queries" and data.get("pypidraft_few") is not None:
            cells = ["", "", f"{ours:g} ({data['pypidraft_few']:g})", ""]
        else:
            cells = [fmt(data.get(c), row.kind) if c in data else "" for c in COLUMNS]
        met = "" if ok is None else ("yes" if ok else "**NO**")
        lines.append(
            "| " + " | ".join([label, *cells, ratio_text(peer_ratio), ratio_text(nginx_ratio), target_text, met]) + " |"
        )
        if row.target:
            checks.append(
                {
                    "metric": row.key,
                    "target": target_text,
                    "ok": ok,
                    "peer_ratio": peer_ratio,
                    "nginx_ratio": nginx_ratio,
                }
            )
    return "\n".join(lines), checks
