"""``connector emulator {traede|xero|unleashed}``: serve an emulated API on 127.0.0.1.

Each command prints the environment to paste into another shell (base URL and the emulator's
own made-up credentials) and serves until Ctrl-C.
"""

import click


@click.group()
def emulator() -> None:
    """Serve an emulated source API on 127.0.0.1 (tests, demo, benchmark)."""


@emulator.command("traede")
@click.option("--port", default=8765, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--invoices", default=1000, show_default=True)
@click.option("--credit-notes", default=200, show_default=True)
@click.option("--accounting-entries", default=2000, show_default=True)
@click.option("--faults", default="", help="Fault plan, e.g. 'invoices.export:429@p=0.1'.")
@click.option("--unpaged", is_flag=True, help="Ignore page/limit and return everything.")
@click.option(
    "--order",
    type=click.Choice(["id", "desc", "shuffled"]),
    default="id",
    show_default=True,
    help="Order of export listings: by id, newest first, or shuffled (stable for the seed).",
)
@click.option("--token", default="emulator-token", show_default=True)
@click.option("--app-key", default="emulator-app-key", show_default=True)
@click.option(
    "--mark-in-flight-limit",
    type=click.IntRange(1, None),
    help="Answer 429 (with Retry-After) to mark calls beyond this many in flight.",
)
@click.option(
    "--mark-retry-after-ms",
    default=1000,
    show_default=True,
    type=click.IntRange(0, None),
    help="Retry-After of that 429, in milliseconds.",
)
def emulator_traede(
    port: int,
    seed: int,
    invoices: int,
    credit_notes: int,
    accounting_entries: int,
    faults: str,
    unpaged: bool,
    order: str,
    token: str,
    app_key: str,
    mark_in_flight_limit: int | None,
    mark_retry_after_ms: int,
) -> None:
    """The TRAEDE Export API emulator."""
    from connector.emulator.faults import FaultPlan
    from connector.emulator.server import serve_forever
    from connector.emulator.traede import create_traede_app
    from connector.emulator.traede_config import TraedeConfig

    try:
        plan = FaultPlan.parse(faults) if faults else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--faults") from None
    app, _ = create_traede_app(
        seed=seed,
        invoices=invoices,
        credit_notes=credit_notes,
        accounting_entries=accounting_entries,
        token=token,
        app_key=app_key,
        faults=plan,
        paged=not unpaged,
        order=order,
        config=TraedeConfig(
            mark_in_flight_limit=mark_in_flight_limit, mark_retry_after_ms=mark_retry_after_ms
        ),
    )
    click.echo(f"TRAEDE emulator on http://127.0.0.1:{port} (admin API under /_emulator/)")
    click.echo(f"  export TRAEDE_BASE_URL=http://127.0.0.1:{port} TRAEDE_SYSTEM_ID=demo-erp")
    # The emulator's own made-up credentials, not secrets: printed so they can be copied.
    click.echo(f"  export TRAEDE_API_TOKEN={token} TRAEDE_APP_KEY={app_key}")
    serve_forever(app, "127.0.0.1", port)


@emulator.command("xero")
@click.option("--port", default=8766, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--count", default=500, show_default=True, help="Credit notes per tenant.")
@click.option("--tenants", default="tenant-a", show_default=True, help="Comma-separated.")
@click.option("--client-id", default="emulator-client", show_default=True)
@click.option("--client-secret", default="emulator-secret", show_default=True)
@click.option(
    "--edit-mid-crawl",
    default=0,
    show_default=True,
    help="Before each page, edit this many notes already served (they move to the end).",
)
def emulator_xero(
    port: int,
    seed: int,
    count: int,
    tenants: str,
    client_id: str,
    client_secret: str,
    edit_mid_crawl: int,
) -> None:
    """The Xero Accounting API emulator (credit notes, OAuth2 client credentials)."""
    from connector.emulator.server import serve_forever
    from connector.emulator.xero import create_xero_app

    app, _ = create_xero_app(
        seed=seed,
        tenants=tuple(t.strip() for t in tenants.split(",") if t.strip()),
        count=count,
        client_id=client_id,
        client_secret=client_secret,
        edit_mid_crawl=edit_mid_crawl,
    )
    base = f"http://127.0.0.1:{port}"
    click.echo(f"Xero emulator on {base}")
    click.echo(f"  export XERO_BASE_URL={base}/api.xro/2.0 XERO_TOKEN_URL={base}/connect/token")
    # The emulator's own made-up credentials, not secrets: printed so they can be copied.
    click.echo(f"  export XERO_CLIENT_ID={client_id} XERO_CLIENT_SECRET={client_secret}")
    click.echo(f"  export XERO_TENANT_IDS={','.join(t.strip() for t in tenants.split(','))}")
    serve_forever(app, "127.0.0.1", port)


@emulator.command("unleashed")
@click.option("--port", default=8767, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--count", default=500, show_default=True)
@click.option("--api-id", default="emulator-id", show_default=True)
@click.option("--api-key", default="emulator-key", show_default=True)
@click.option(
    "--edit-mid-crawl",
    default=0,
    show_default=True,
    help="Before each page, edit this many notes already served (they move to page 1).",
)
@click.option(
    "--delete-mid-crawl",
    default=0,
    show_default=True,
    help="Delete one note already served before each page until this many are gone.",
)
def emulator_unleashed(
    port: int,
    seed: int,
    count: int,
    api_id: str,
    api_key: str,
    edit_mid_crawl: int,
    delete_mid_crawl: int,
) -> None:
    """The Unleashed API emulator (credit notes, HMAC-signed requests)."""
    from connector.emulator.server import serve_forever
    from connector.emulator.unleashed import create_unleashed_app

    app, _ = create_unleashed_app(
        seed=seed,
        count=count,
        api_id=api_id,
        api_key=api_key,
        edit_mid_crawl=edit_mid_crawl,
        delete_mid_crawl=delete_mid_crawl,
    )
    click.echo(f"Unleashed emulator on http://127.0.0.1:{port}")
    click.echo(f"  export UNLEASHED_BASE_URL=http://127.0.0.1:{port}")
    # The emulator's own made-up credentials, not secrets: printed so they can be copied.
    click.echo(f"  export UNLEASHED_API_ID={api_id} UNLEASHED_API_KEY={api_key}")
    serve_forever(app, "127.0.0.1", port)
