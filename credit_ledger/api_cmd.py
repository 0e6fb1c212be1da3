"""``credit-ledger api serve``: run the HTTP API (uvicorn). Mount with ``app.add_typer(api_cmd.app, name="api")``."""

from __future__ import annotations

import typer

from credit_ledger.common import ReportErrors

app = typer.Typer(
    help="Serve the merchant, auditor and regulator API.", no_args_is_help=True, add_completion=False, cls=ReportErrors
)


@app.command("serve")
def serve(
    host: str = typer.Option(
        "127.0.0.1", help="Interface to bind (0.0.0.0 exposes it to the network; then give --domain)."
    ),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    domain: str = typer.Option(
        None,
        help=(
            "EIP-4361 domain (host[:port]) sign-in messages must name: the name clients reach the API by"
            " (default: $CREDIT_LEDGER_API_DOMAIN, else HOST:PORT)."
        ),
    ),
    uri: str = typer.Option(
        None,
        help="Origin sign-in messages' URI must be on (default: $CREDIT_LEDGER_API_URI, else http://DOMAIN).",
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes (they share sign-in nonces through the store; about one per core)."
    ),
) -> None:
    """Serve the API. Docs at http://HOST:PORT/docs.

    The sign-in domain and URI are configuration, never a request's Host: given,
    or derived from the address bound. Slow clients are cut off (api.serving).
    """
    import os

    from api.deps import ApiConfig
    from api.serving import bound_domain, serve, server_config
    from ledger.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
        given = "--domain" if domain else "CREDIT_LEDGER_API_DOMAIN" if settings.api_domain else "--host/--port"
        config = ApiConfig(
            domain=domain or settings.api_domain or bound_domain(host, port), uri=uri or settings.api_uri or ""
        )
    except ValueError as exc:  # ConfigError is one; so is bound_domain's refusal of a wildcard address
        hint = "" if isinstance(exc, ConfigError) else "; pass --domain, the host[:port] clients use"
        typer.echo(f"configuration error: {exc}{hint}", err=True)
        raise typer.Exit(2) from None
    # Every worker builds its own app from the environment (ApiConfig.from_env()).
    os.environ["CREDIT_LEDGER_API_DOMAIN"] = config.domain
    os.environ["CREDIT_LEDGER_API_URI"] = config.uri
    plural = "es" if workers > 1 else ""
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    typer.echo(
        f"credit-ledger API on http://{listen}/docs ({workers} process{plural};"
        f" chain {settings.rpc_url}, store {settings.database_url_for_display})"
    )
    typer.echo(f"sign-in: domain {config.domain}, URI {config.uri} (from {given}; never from a request's Host)")
    typer.echo(f"slow clients: {config.limits.describe()}")
    serve(
        server_config(
            "api.app:create_app",
            factory=True,
            host=host,
            port=port,
            limits=config.limits,
            log_level=log_level,
            workers=workers,
        )
    )


DEV_CHAIN_IDS = (31337, 1337)


@app.command("login")
def login(
    url: str = typer.Option("http://127.0.0.1:8000", help="The API's base URL."),
    demo_merchant: int = typer.Option(None, min=1, max=5, help="Sign in as demo merchant 1-5 (development keys)."),
    role: str = typer.Option(
        None, help="Sign in as a staff role's development account: auditor, regulator, admin, ..."
    ),
) -> None:
    """Print a Bearer token, signing in with a DEVELOPMENT key (demo only; refused on other chains).

    Example: ``TOKEN=$(credit-ledger api login --demo-merchant 1)`` then
    ``curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/merchant/history``.
    """
    import httpx

    from api.client import sign_in
    from ledger.accounts import FIRST_DEV_MERCHANT_INDEX, RoleAccounts, dev_account
    from ledger.roles import Role

    if (demo_merchant is None) == (role is None):
        typer.echo("give exactly one of --demo-merchant N or --role NAME", err=True)
        raise typer.Exit(2)
    if demo_merchant is not None:
        account = dev_account(FIRST_DEV_MERCHANT_INDEX + demo_merchant - 1)
    else:
        by_key = {r.key: r for r in Role}
        if role not in by_key:
            typer.echo(f"unknown role {role!r}; one of {', '.join(sorted(by_key))}", err=True)
            raise typer.Exit(2)
        account = RoleAccounts.development()[by_key[role]]
    try:
        with httpx.Client(base_url=url, timeout=30) as client:
            chain_id = client.get("/auth/nonce").json().get("chainId")
            if chain_id not in DEV_CHAIN_IDS:
                typer.echo(f"the API's chain is {chain_id}: development keys are only for local chains", err=True)
                raise typer.Exit(2)
            reply = sign_in(client, account)
    except httpx.HTTPError as exc:  # a refused sign-in is a SignInError, which the CLI reports
        typer.echo(f"sign-in failed: cannot reach the API at {url} ({type(exc).__name__})", err=True)
        raise typer.Exit(1) from None
    typer.echo(reply["token"])
