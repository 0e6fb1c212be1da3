"""``credit-ledger api serve``: run the HTTP API (uvicorn). Mount with ``app.add_typer(api_cmd.app, name="api")``."""

from __future__ import annotations

import typer

app = typer.Typer(help="Serve the merchant, auditor and regulator API.", no_args_is_help=True, add_completion=False)


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind (0.0.0.0 exposes it to the network)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    domain: str = typer.Option(
        None, help="EIP-4361 domain sign-in messages must name (default: $CREDIT_LEDGER_API_DOMAIN or the request's Host)."
    ),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Serve the API (one process: sign-in nonces are kept in memory). Docs at http://HOST:PORT/docs."""
    import uvicorn

    from api.app import create_app
    from api.deps import ApiConfig
    from ledger.config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None
    config = ApiConfig.from_env()
    if domain:
        config = ApiConfig(domain=domain)
    typer.echo(f"credit-ledger API on http://{host}:{port}/docs (chain {settings.rpc_url}, store {settings.database_url})")
    uvicorn.run(create_app(settings, config), host=host, port=port, log_level=log_level, workers=1)
