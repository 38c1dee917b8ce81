"""``hsclink``: one command for the host operator. ``--json`` wherever the output is data.

The CLI acts with the service's own configuration and database access, so it is
the host operator (audited as ``cli:<os user>``), not a policy-checked API user.
Every command that changes state is audited like an API call.

Start-up is kept short (``hsclink --help`` in well under a second): this module and the
command modules it registers import only Typer, the standard library and light
``app`` modules; each command imports the services it calls inside its body.
``tests/unit/test_cli_imports.py`` pins that the data and DP libraries stay out.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from app.auth.actor import Actor
from app.auth.roles import ROLES
from app.cli import custody as custody_cli
from app.cli.budget import budget_app, project_app
from app.cli.catalogue import dimensions
from app.cli.common import OPERATOR_ORG, JsonFlag, _context, _fail, _print
from app.cli.link import link_app
from app.cli.mesh import mesh_app
from app.cli.query import query
from app.cli.sso import user_approve
from app.cli.witness import witness_app
from app.errors import InvalidRequest

__all__ = ["app", "main"]

app = typer.Typer(
    name="hsclink",
    help="Privacy-preserving linkage of NHS and adult social care data.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
user_app = typer.Typer(help="User accounts.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations (NHS trusts, councils).", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
policy_app = typer.Typer(help="The authorisation policy in force.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
key_app = typer.Typer(help="The key store (never prints key material).", no_args_is_help=True)
for sub, name in (
    (db_app, "db"),
    (user_app, "user"),
    (org_app, "org"),
    (token_app, "token"),
    (policy_app, "policy"),
    (audit_app, "audit"),
    (key_app, "key"),
):
    app.add_typer(sub, name=name)


@app.command()
def init(
    demo: Annotated[
        bool, typer.Option(help="Also create demo users, printing their secrets once.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create what is missing: schema, master key, audit signing key, operator organisation."""
    from app.services import setup

    cli = Actor.cli()
    # The store, its -wal/-shm files and the keys: its owner's only (as main() sets for
    # every command; set here too for callers that enter the command directly).
    umask = os.umask(PRIVATE_UMASK)
    try:
        with _context() as ctx:
            report = setup.initialise(ctx, actor=cli)
            setup.ensure_operator_organisation(ctx, actor=cli, code=OPERATOR_ORG)
            demo_users = setup.seed_demo(ctx, actor=cli) if demo else []
            demo_data = setup.seed_demo_data(ctx) if demo_users else None
            setup.tighten_data_dir(ctx.settings.data_dir)
    finally:
        os.umask(umask)
    data = {
        "data_dir": str(ctx.settings.data_dir),
        "created_master_key": report.created_master_key,
        "created_keys": report.created_keys,
        "audit_public_key_file": str(ctx.settings.audit_public_key_path),
        "demo_users": [asdict(u) for u in demo_users],
        "demo_submissions": demo_data.submissions if demo_data else [],
        "demo_linkage_snapshot": demo_data.linkage_snapshot if demo_data else None,
    }

    def human() -> None:
        typer.echo(f"hsclink store ready in {data['data_dir']}")
        if report.created_master_key and ctx.settings.key_custody == "hsm":
            token = ctx.settings.hsm_token_label
            typer.echo(f"  created the key-encryption key in HSM token {token}")
        elif report.created_master_key:
            typer.echo(
                f"  created master key {ctx.settings.master_key_path} (keep it secret, back it up)"
            )
        for purpose in report.created_keys:
            pinned = f"; public key pinned in {data['audit_public_key_file']}"
            typer.echo(f"  created {purpose} key{pinned if purpose == 'audit-signing' else ''}")
        if demo_users:
            typer.echo(
                "\nDemo users (shown once; passwords for the web pages, tokens for the API):"
            )
            for u in demo_users:
                typer.echo(
                    f"  {u.role:<11} {u.username:<15} password {u.password}  token {u.token}"
                )
            if demo_data:
                typer.echo("\nSynthetic extracts submitted (and deleted from disk):")
                for schema, status, rows in demo_data.submissions:
                    typer.echo(f"  {schema:<13} {status} ({rows:,} rows)")
                if demo_data.linkage_snapshot is not None:
                    typer.echo(f"  linked: snapshot {demo_data.linkage_snapshot}")
        elif demo:
            typer.echo("  users exist already; no demo users created (existing data kept)")

    _print(data, as_json, human)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate chain (PEM); serve HTTPS.")
    ] = None,
    keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
) -> None:
    """Serve the web pages and the API (HTTPS with --certfile/--keyfile)."""
    import uvicorn

    from app.bootstrap import create_app
    from app.config import InsecureConfiguration, load_settings
    from app.keys.master import MasterKeyMissing
    from app.logs import configure_logging
    from app.policy.engine import PolicyError
    from app.services import setup
    from app.services.setup import NotInitialised

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        application = create_app(settings)
        setup.check_ready(application.state.ctx)
    except (PolicyError, InsecureConfiguration, NotInitialised, MasterKeyMissing) as error:
        _fail(error)
    certfile = certfile or settings.tls_cert_file
    keyfile = keyfile or settings.tls_key_file
    if (certfile is None) != (keyfile is None):
        _fail(InvalidRequest("give both a TLS certificate and its key, or neither"))
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        ssl_certfile=str(certfile) if certfile else None,
        ssl_keyfile=str(keyfile) if keyfile else None,
        access_log=False,
        log_config=None,
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
    )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (the only way the schema is made)."""
    from app.services import setup

    with _context() as ctx:
        before, after = setup.migrate(ctx, actor=Actor.cli())
    typer.echo(
        f"database schema upgraded from {before or 'empty'} to {after}"
        if before != after
        else f"database schema is up to date ({after})"
    )


@user_app.command("add")
def user_add(
    name: str,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}.")],
    org: Annotated[str, typer.Option(help="Organisation code (ODS or ONS).")] = OPERATOR_ORG,
    password: Annotated[
        bool, typer.Option("--password", help="Prompt for a web sign-in password.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a user and print their API token once."""
    from app.services import identity

    secret = (
        typer.prompt("Password", hide_input=True, confirmation_prompt=True) if password else None
    )
    with _context() as ctx:
        cli = Actor.cli()
        user = identity.create_user(
            ctx, actor=cli, username=name, role=role, organisation=org, password=secret
        )
        token = identity.issue_token(ctx, actor=cli, username=user.username, label="initial")
    _print(
        {
            "username": user.username,
            "role": user.role,
            "organisation": user.organisation,
            "token": token.token,
            "expires_at": token.expires_at,
        },
        as_json,
        lambda: typer.echo(
            f"created {user.role} {user.username} ({user.organisation})\n"
            f"API token (shown once, expires {token.expires_at:%Y-%m-%d}): {token.token}"
        ),
    )


@user_app.command("list")
def user_list(as_json: JsonFlag = False) -> None:
    """List users."""
    from app.services import identity

    with _context() as ctx:
        users = identity.list_users(ctx, actor=Actor.cli())

    def human() -> None:
        for u in users:
            state = "pending" if u.pending else "active" if u.active else "disabled"
            typer.echo(f"{u.username:<24} {u.role:<11} {u.organisation:<10} {state}")

    _print([asdict(u) for u in users], as_json, human)


@user_app.command("disable")
def user_disable(name: str) -> None:
    """Disable a user: their tokens are revoked and their sessions end."""
    from app.services import identity

    with _context() as ctx:
        identity.disable_user(ctx, actor=Actor.cli(), username=name)
    typer.echo(f"disabled {name}")


user_app.command("approve")(user_approve)


@user_app.command("password")
def user_password(name: str) -> None:
    """Set a user's web sign-in password (prompted, never echoed)."""
    from app.services import identity

    secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _context() as ctx:
        identity.set_password(ctx, actor=Actor.cli(), username=name, password=secret)
    typer.echo(f"password set for {name}")


@org_app.command("add")
def org_add(
    code: str,
    name: Annotated[str, typer.Option(help="Full name.")],
    kind: Annotated[str, typer.Option(help="trust, council or operator.")],
) -> None:
    """Register an organisation by its ODS (trust) or ONS (council) code."""
    from app.services import identity

    with _context() as ctx:
        identity.create_organisation(ctx, actor=Actor.cli(), code=code, name=name, kind=kind)
    typer.echo(f"registered {code}")


@org_app.command("list")
def org_list(as_json: JsonFlag = False) -> None:
    """List organisations."""
    from app.services import identity

    with _context() as ctx:
        orgs = identity.list_organisations(ctx, actor=Actor.cli())

    def human() -> None:
        for o in orgs:
            typer.echo(f"{o['code']:<10} {o['kind']:<9} {o['name']}")

    _print(orgs, as_json, human)


@token_app.command("issue")
def token_issue(
    name: str,
    label: Annotated[str, typer.Option(help="What the token is for.")] = "api",
    days: Annotated[
        int | None, typer.Option(help="Lifetime in days (default from settings).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue an API token for a user (printed once)."""
    from app.services import identity

    with _context() as ctx:
        token = identity.issue_token(ctx, actor=Actor.cli(), username=name, label=label, days=days)
    _print(
        {"id": token.id, "user": token.user, "token": token.token, "expires_at": token.expires_at},
        as_json,
        lambda: typer.echo(f"token {token.id} for {token.user} (shown once): {token.token}"),
    )


@token_app.command("list")
def token_list(as_json: JsonFlag = False) -> None:
    """List tokens (ids, owners, expiry; never the tokens)."""
    from app.services import identity

    with _context() as ctx:
        tokens = identity.list_tokens(ctx, actor=Actor.cli())

    def human() -> None:
        for t in tokens:
            state = "revoked" if t.revoked else f"expires {t.expires_at:%Y-%m-%d}"
            typer.echo(f"{t.id:>5} {t.user:<24} {t.label:<16} {state}")

    _print([asdict(t) for t in tokens], as_json, human)


@token_app.command("revoke")
def token_revoke(token_id: int) -> None:
    """Revoke a token by id."""
    from app.services import identity

    with _context() as ctx:
        identity.revoke_token(ctx, actor=Actor.cli(), token_id=token_id)
    typer.echo(f"revoked token {token_id}")


@policy_app.command("show")
def policy_show(
    plain: Annotated[
        bool, typer.Option("--plain", help="In plain words: what each role may do, the rules.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Print the rules in force and their SHA-256 (--json adds the role x action matrix)."""
    from app.services import policy, policy_text

    with _context() as ctx:
        shown = policy.show_policy(ctx, actor=None)
        words = policy_text.show_plain_policy(ctx, actor=None)
    if plain:
        _print(words.as_dict(), as_json, lambda: typer.echo(words.text()))
        return
    _print(
        {**asdict(shown), **words.matrix.as_dict()},
        as_json,
        lambda: typer.echo(f"{shown.text}\n\n# policy sha256 {shown.sha256}"),
    )


@audit_app.command("verify")
def audit_verify(
    export: Annotated[
        Path | None, typer.Option(help="Verify an export file instead of the database.")
    ] = None,
    public_key_file: Annotated[
        Path | None,
        typer.Option(help="Pinned public keys (default HSCLINK_AUDIT_PUBLIC_KEY_FILE)."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Recompute the chain, the Merkle tree and every signed head; non-zero if anything is wrong."""
    from app.config import load_settings
    from app.services import audit

    settings = load_settings()
    if export is not None:
        report = audit.verify_export(export, public_key_file or settings.audit_public_key_path)
    else:
        with _context() as ctx:
            report = audit.verify_database(ctx, public_key_file=public_key_file)
            audit.record_cli_verification(ctx, actor=Actor.cli(), report=report)

    def human() -> None:
        if report.ok:
            where = ", ".join(f"{s} ({n})" for s, n in report.head_sources.items())
            typer.echo(
                f"ok: {report.entries_checked} entries, {report.heads_checked} distinct signed"
                f" heads checked (largest signed size {report.largest_signed_size})"
                + (f"; copies checked in: {where}" if where else "")
            )
            for note in report.notes:
                typer.echo(f"note: {note}")
            for w in report.witnesses:
                typer.echo(
                    f"witness {w['name']}: cosigned size {w['tree_size']} at {w['cosigned_at']}"
                    if w["valid"]
                    else f"witness {w['name']}: {w['problem']}"
                )
        else:
            where = f"entry {report.first_bad_seq}: " if report.first_bad_seq else ""
            typer.echo(f"FAILED at {where}{report.problem}", err=True)

    _print(report.as_dict(), as_json, human)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path | None, typer.Option(help="Write here instead of standard output.")] = None,
) -> None:
    """Write the log as JSON Lines: every entry, then every signed head."""
    from app.services import audit

    with _context() as ctx:
        if out is None:
            count = audit.export_log(ctx, sys.stdout, actor=Actor.cli())
        else:
            with out.open("w", encoding="utf-8") as handle:
                count = audit.export_log(ctx, handle, actor=Actor.cli())
    typer.echo(f"exported {count} entries", err=True)


@audit_app.command("sign")
def audit_sign(as_json: JsonFlag = False) -> None:
    """Sign the current tree head now and ask the witnesses to cosign it (the service also
    does both periodically)."""
    from app.audit.witness_config import WitnessConfigError
    from app.services import audit, audit_witnesses

    with _context() as ctx:
        head = audit.sign_head(ctx, actor=Actor.cli())
        try:
            outcomes = audit_witnesses.cosign_latest(ctx)
        except (OSError, WitnessConfigError) as error:
            _fail(InvalidRequest(f"HSCLINK_AUDIT_WITNESSES: {error}"))
    data = {"head": head, "witnesses": [asdict(o) for o in outcomes]}

    def human() -> None:
        typer.echo(
            f"signed tree head of size {head['tree_size']}" if head else "no new entries to sign"
        )
        for o in outcomes:
            typer.echo(f"witness {o.witness}: {o.detail} (size {o.tree_size})")

    _print(data, as_json, human)
    if any(not o.cosigned for o in outcomes):
        raise typer.Exit(1)


@audit_app.command("key")
def audit_key(
    public_key_file: Annotated[
        Path | None,
        typer.Option(help="Pinned public keys (default HSCLINK_AUDIT_PUBLIC_KEY_FILE)."),
    ] = None,
) -> None:
    """Print the log's verifier key(s) for witnesses (`hsclink witness trust KEY`), newest last."""
    from app.audit.note import log_verifier_key
    from app.config import load_settings
    from app.keys.pinned import read_pinned_keys

    settings = load_settings()
    try:
        pinned = read_pinned_keys(public_key_file or settings.audit_public_key_path)
    except (OSError, ValueError):
        from app.services.setup import NotInitialised

        _fail(NotInitialised("the pinned public key file is missing or malformed"))
    for version in sorted(pinned):
        raw = pinned[version].public_bytes_raw()
        typer.echo(log_verifier_key(settings.audit_log_origin, raw).encode())


@key_app.command("list")
def key_list(as_json: JsonFlag = False) -> None:
    """List key versions (purpose, version, status)."""
    from app.services import keys

    with _context() as ctx:
        infos = keys.list_keys(ctx, actor=Actor.cli())
    data = [{"purpose": k.purpose, "version": k.version, "status": k.status} for k in infos]

    def human() -> None:
        for d in data:
            typer.echo(f"{d['purpose']:<16} v{d['version']:<4} {d['status']}")

    _print(data, as_json, human)


@key_app.command("rotate")
def key_rotate(purpose: str) -> None:
    """Make a new active version of a key (older versions are kept to verify old work)."""
    from app.services import keys

    with _context() as ctx:
        info = keys.rotate_key(ctx, actor=Actor.cli(), purpose=purpose)
    typer.echo(f"{purpose} key is now version {info.version}")


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    dataset: Annotated[str, typer.Option(help="Dataset schema, e.g. nhs_episodes.")],
    server: Annotated[
        str,
        typer.Option(envvar="HSCLINK_SERVER", help="hsclink address, e.g. https://hsclink.example"),
    ],
    token: Annotated[
        str, typer.Option(envvar="HSCLINK_TOKEN", help="Your API token (or HSCLINK_TOKEN).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Stream an extract to hsclink with a progress bar; re-run to resume after an interruption.

    A file already accepted for your organisation is not sent again: the command says
    which submission holds it and exits 0.
    """
    from app.cli.upload import AlreadySubmittedError, Uploader, UploadError
    from app.cli.upload_progress import RowCounter, upload_progress

    try:
        uploader = Uploader(server=server, token=token)
    except UploadError as error:
        _fail(error)
    size = file.stat().st_size
    counter = RowCounter()
    with upload_progress(disable=as_json) as progress:
        task = progress.add_task(file.name, total=size, rows=0)

        def on_bytes(chunk: bytes) -> None:
            counter.feed(chunk)
            progress.update(task, advance=len(chunk), rows=counter.rows)

        def on_resume(offset: int) -> None:
            counter.feed_file(file, offset)
            progress.update(task, completed=offset, rows=counter.rows)
            if offset:
                progress.console.print(f"resuming at byte {offset:,}")

        earlier: dict[str, Any] | None = None
        try:
            result = uploader.upload(file, dataset, on_bytes=on_bytes, on_resume=on_resume)
        except AlreadySubmittedError as already:
            try:
                earlier = uploader.submission(already.submission_id)
            except UploadError as error:
                _fail(error)
        except UploadError as error:
            _fail(error)

    if earlier is not None:
        _print(
            {**earlier, "already_submitted": True},
            as_json,
            lambda: typer.echo(
                f"already submitted as submission {earlier['id']} ({earlier['status']},"
                f" {earlier['rows_accepted']:,} rows accepted); nothing was sent again"
            ),
        )
        return

    def human() -> None:
        typer.echo(
            f"submission {result['id']}: {result['status']} — {result['rows_accepted']:,} rows"
            f" accepted, {result['rows_rejected']:,} refused"
        )
        if result.get("problem"):
            typer.echo(f"  {result['problem']}")
        for err in result.get("row_errors", [])[:10]:
            typer.echo(f"  line {err['line']}, {err['column']}: {err['reason']}")

    _print(result, as_json, human)
    if result["status"] != "accepted":
        raise typer.Exit(7)


# A command group of its own module is registered here with one line. Its module imports
# only Typer, the standard library and light ``app`` modules at the top, and the rest
# inside its commands: every ``hsclink`` run imports it (tests/unit/test_cli_imports.py).
optout_app = typer.Typer(help="The national data opt-out list.", no_args_is_help=True)
app.add_typer(optout_app, name="optout")
app.add_typer(link_app, name="link")
app.add_typer(budget_app, name="budget")
app.add_typer(project_app, name="project")
app.add_typer(witness_app, name="witness")
app.add_typer(mesh_app, name="mesh")
app.command("query")(query)
app.command("dimensions")(dimensions)
key_app.command("hsm-init")(custody_cli.hsm_init)
key_app.command("rotate-kek")(custody_cli.rotate_kek)
key_app.command("where")(custody_cli.where)
app.command("backup")(custody_cli.backup)
app.command("restore")(custody_cli.restore)


@optout_app.command("load")
def optout_load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    as_json: JsonFlag = False,
) -> None:
    """Replace the opt-out list from a file of NHS numbers (one per line)."""
    from app.services import optout

    with _context() as ctx, file.open(encoding="utf-8-sig", errors="replace") as handle:
        result = optout.load_optouts(ctx, actor=Actor.cli(), lines=handle)
    _print(
        result.__dict__,
        as_json,
        lambda: typer.echo(
            f"{result.entries:,} opt-outs loaded ({result.invalid_lines:,} invalid lines skipped);"
            f" {result.records_excluded:,} submitted records are excluded from releases"
        ),
    )


@app.command()
def synth(
    outdir: Annotated[Path, typer.Argument(file_okay=False)],
    persons: Annotated[int, typer.Option(min=1, help="How many synthetic people.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 1,
    as_json: JsonFlag = False,
) -> None:
    """Write synthetic London extracts (nhs_episodes.csv, asc_clients.csv) and truth.csv."""
    from app.synth import write_extracts

    report = write_extracts(outdir, persons=persons, seed=seed)
    data = {
        "persons": report.persons,
        "episodes": report.episodes,
        "asc_records": report.asc_records,
        "files": [str(f) for f in report.files],
    }
    _print(
        data,
        as_json,
        lambda: typer.echo(
            f"wrote {report.episodes:,} episodes and {report.asc_records:,} ASC records"
            f" for {report.persons:,} people to {outdir}"
        ),
    )


#: Every file the service or the CLI creates (the SQLite store and its -wal, -shm and
#: -journal files, keys, pinned keys, the witness file, logs) is its owner's alone.
PRIVATE_UMASK = 0o077


def main() -> None:
    os.umask(PRIVATE_UMASK)
    app()
