"""dlt as a peer: its ``rest_api`` source over the same export pages into the same Postgres.

Run as its own process (``python -m bench.peers.dlt_peer``) so its memory is its own. A
page-number paginator from 0 (``limit=60``, until an empty page), the connector's query
(system_id, booked documents only, ``includes[]=lines``), ``merge`` on ``id``; ``lines``
becomes dlt's nested child table. Load only: dlt has no way to acknowledge exports.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

RESOURCES = {
    # resource: (path, has lines, has drafts)
    "invoices": ("invoices", True, True),
    "credit_notes": ("credit-notes", True, True),
    "accounting_entries": ("accounting-entries", False, False),
}
DATASET = "traede_dlt"


def quiet_dlt(workdir: Path) -> None:
    """Keep dlt's state, logs and telemetry inside ``workdir`` and quiet (set before import)."""
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_DATA_DIR", str(workdir / "data"))
    os.environ.setdefault("DLT_PROJECT_DIR", str(workdir))


def source_config(base_url: str, token: str, app_key: str, system_id: str) -> dict[str, Any]:
    from dlt.sources.helpers.rest_client.paginators import PageNumberPaginator

    resources = []
    for name, (path, lines, drafts) in RESOURCES.items():
        params: dict[str, Any] = {"system_id": system_id, "limit": 60}
        if drafts:
            params["include_non_booked"] = 0
        if lines:
            params["includes[]"] = "lines"
        resources.append(
            {
                "name": name,
                "endpoint": {
                    "path": f"v10/{path}/export",
                    "params": params,
                    "data_selector": name,
                    "paginator": PageNumberPaginator(
                        base_page=0,
                        page_param="page",
                        total_path=None,
                        stop_after_empty_page=True,
                    ),
                },
            }
        )
    return {
        "client": {
            "base_url": base_url.rstrip("/") + "/",
            "headers": {"Authorization": f"Bearer {token}", "X-Traede-App-Key": app_key},
        },
        "resource_defaults": {"primary_key": "id", "write_disposition": "merge"},
        "resources": resources,
    }


def credentials(url: str) -> str:
    """dlt's credentials from a ``postgresql://`` URL.

    dlt insists on a host and a password; for a Unix socket (``?host=/socket/dir``) the netloc
    gets a placeholder ``localhost`` and libpq lets the ``host`` query parameter override it.
    """
    from sqlalchemy.engine import make_url

    u = make_url(url).set(drivername="postgresql")
    if not u.host:
        u = u.set(host="localhost")
    if not u.username:
        u = u.set(username="postgres")
    if not u.password:  # dlt also insists on a password; trust/peer authentication ignores it
        u = u.set(password="unused")
    return u.render_as_string(hide_password=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers.dlt_peer")
    p.add_argument("--base-url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--app-key", required=True)
    p.add_argument("--system-id", required=True)
    p.add_argument("--credentials", required=True, help="postgresql:// URL of the database")
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    quiet_dlt(workdir)

    import dlt
    from dlt.sources.rest_api import rest_api_source

    started = time.perf_counter()
    source = rest_api_source(source_config(a.base_url, a.token, a.app_key, a.system_id))
    pipeline = dlt.pipeline(
        pipeline_name="bench_traede",
        pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.postgres(credentials=credentials(a.credentials)),
        dataset_name=DATASET,
    )
    stages: dict[str, float] = {}
    t = time.perf_counter()
    pipeline.extract(source)
    stages["extract_s"] = time.perf_counter() - t
    t = time.perf_counter()
    pipeline.normalize()
    stages["normalize_s"] = time.perf_counter() - t
    t = time.perf_counter()
    info = pipeline.load()
    stages["load_s"] = time.perf_counter() - t
    result = {
        "seconds": time.perf_counter() - started,
        **stages,
        "dataset": DATASET,
        "has_failed_jobs": bool(info.has_failed_jobs),
    }
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
