"""Builds the FastAPI app once: settings -> service context -> routes, pages, handlers.

On start-up it records the policy set in force (audited with its SHA-256) and
starts the periodic tree-head signer; on shutdown it stops the signer.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from app import __version__
from app.api import API_PREFIX
from app.api.middleware import RequestContextMiddleware
from app.api.openapi import install_openapi
from app.api.problems import install_problem_handlers
from app.api.routes import audit as audit_routes
from app.api.routes import budgets as budget_routes
from app.api.routes import governance, identity, optout, submissions
from app.api.routes import linkage as linkage_routes
from app.api.routes import queries as query_routes
from app.api.routes import releases as release_routes
from app.audit.witness_config import WitnessConfigError
from app.auth.actor import Actor
from app.auth.oidc import IdentityConfigError, load_issuers
from app.config import InsecureConfiguration, Settings
from app.jobs import run_in_background
from app.logs import configure_logging
from app.mesh import poller as mesh_poller
from app.services import audit, audit_witnesses, linkage, policy
from app.services.context import ServiceContext
from app.services.release.data import warm_latest
from app.services.setup import check_ready
from app.web import WEB_DIR
from app.web import routes as web_routes

__all__ = ["API_ROUTERS", "app_from_environment", "create_app"]

log = logging.getLogger("hsclink.app")
#: Every API router (each carries its own /api/v1 prefix) and its OpenAPI tag.
API_ROUTERS = [
    (identity.router, "identity"),
    (audit_routes.router, "audit"),
    (governance.router, "governance"),
    (submissions.router, "submissions"),
    (optout.router, "opt-out"),
    (linkage_routes.router, "linkage"),
    (budget_routes.router, "budgets"),
    (query_routes.router, "queries"),
    (release_routes.router, "releases"),
    (release_routes.public_router, "public-register"),
]


INTERPRETER_SWITCH_SECONDS = 0.0002
"""How long a thread waiting for the interpreter lock waits before asking for it (the
default is 5 ms). An upload's batches are pseudonymised in native code that holds the
lock, and its database writer thread needs the lock back after every round trip: at
5 ms a wait it fell behind (``benchmarks/ingest.py``, end to end on PostgreSQL)."""


def create_app(settings: Settings, *, ctx: ServiceContext | None = None) -> FastAPI:
    settings.check_safe_for_environment()
    try:  # checked at start: a bad entry stops the service, not each cosigning round
        audit_witnesses.configured_witnesses(settings)
    except (OSError, WitnessConfigError) as error:
        raise InsecureConfiguration(f"HSCLINK_AUDIT_WITNESSES: {error}") from None
    mesh_poller.check_poller_settings(settings)
    try:  # likewise a bad identity file: at start, not at the first person's sign-in
        load_issuers(settings.identity_file)
    except (OSError, ValueError, IdentityConfigError) as error:
        raise InsecureConfiguration(f"HSCLINK_IDENTITY_FILE: {error}") from None
    ctx = ctx or ServiceContext.build(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sys.setswitchinterval(INTERPRETER_SWITCH_SECONDS)
        check_ready(ctx)
        policy.record_policy_load(ctx, actor=Actor.service())
        linkage.recover_interrupted_runs(ctx)
        if settings.release_warm_cache:
            run_in_background("release-cache-warm", lambda: warm_latest(ctx))
        log.info("policy in force", extra={"policy_sha256": ctx.policy.sha256})
        # The app's own objects (modules, routes, the ORM's metadata...) live as long as
        # the process: out of the cyclic collector's sight, its full collections scan only
        # what requests made. Each full collection during an upload cost 35-40 ms of a
        # pseudonymiser's time, twice per 100,000 rows (benchmarks/ingest.py, core pass).
        # Given back to the collector when the app stops (a test process starts many).
        gc.freeze()
        signer = None
        if settings.audit_sign_interval_seconds > 0:
            signer = asyncio.create_task(
                _sign_periodically(ctx, settings.audit_sign_interval_seconds)
            )
        mesh = None
        if settings.mesh_poll_seconds > 0:
            # The upload streams' limiter (``app.api.streaming`` takes it from app.state),
            # made here so that the poller's messages stream within the same budget.
            limiter = anyio.CapacityLimiter(settings.ingest_max_concurrent_uploads)
            app.state.upload_limiter = limiter
            mesh = asyncio.create_task(
                mesh_poller.poll_periodically(ctx, settings.mesh_poll_seconds, limiter=limiter)
            )
        try:
            yield
        finally:
            if mesh is not None:
                mesh.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await mesh
            if signer is not None:
                signer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await signer
            await asyncio.to_thread(_sign_quietly, ctx)
            await asyncio.to_thread(_cosign_quietly, ctx)
            gc.unfreeze()

    app = FastAPI(
        title="hsclink",
        version=__version__,
        summary="Privacy-preserving linkage of NHS and adult social care data",
        lifespan=lifespan,
        # Swagger UI loads scripts from a CDN, which the CSP (rightly) forbids: schema only.
        docs_url=None,
        openapi_url=f"{API_PREFIX}/openapi.json",
        redoc_url=None,
    )
    app.state.ctx = ctx
    install_problem_handlers(app, html_errors=web_routes.render_error)
    install_openapi(app)
    app.add_exception_handler(web_routes.LoginRequired, web_routes.login_required)

    @app.get("/health", tags=["health"], summary="Liveness: answers without authentication")
    def health() -> dict[str, str]:
        """Answers 200 while the process serves requests (no database or key is touched)."""
        return {"status": "ok", "version": __version__}

    for router, tag in API_ROUTERS:
        app.include_router(router, tags=[tag])
    app.include_router(web_routes.router, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static")
    app.add_middleware(RequestContextMiddleware, hsts=settings.cookie_secure)
    return app


def _sign_quietly(ctx: ServiceContext) -> None:
    try:
        size = audit.sign_head_if_grown(ctx)
    except Exception as error:
        log.error("tree head signing failed", extra={"error_type": type(error).__name__})
        return
    if size is not None:
        log.info("signed audit tree head", extra={"tree_size": size})


def _cosign_quietly(ctx: ServiceContext) -> None:
    """Ask the witnesses to cosign the latest checkpoint (every interval, grown or not)."""
    try:
        outcomes = audit_witnesses.cosign_latest(ctx)
    except Exception as error:
        log.error("audit cosigning failed", extra={"error_type": type(error).__name__})
        return
    for outcome in outcomes:
        level = logging.INFO if outcome.cosigned else logging.WARNING
        log.log(
            level,
            "audit checkpoint cosigning",
            extra={
                "witness": outcome.witness,
                "tree_size": outcome.tree_size,
                "detail": outcome.detail,
            },
        )


async def _sign_periodically(ctx: ServiceContext, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await asyncio.to_thread(_sign_quietly, ctx)
        await asyncio.to_thread(_cosign_quietly, ctx)


def app_from_environment() -> FastAPI:
    """Entry point for ``uvicorn --factory app.bootstrap:app_from_environment``."""
    from app.config import load_settings

    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
