"""Screenshots of every page as each role sees it, on a wide and a narrow window, for review.

    .venv/bin/python deploy/page_screenshots.py OUTDIR [--roles ig_officer,analyst]

Starts from nothing, as a newcomer would: ``hsclink init --demo`` in a fresh data
directory (demo users, synthetic extracts, a linked snapshot), ``hsclink serve`` on a free
loopback port; then, through the API with the demo tokens, an IG officer gives the
analyst and the linked data a budget and the analyst asks three questions, so the
register, the budget pages and the audit log have something to show; the IG officer
switches the public register on and publishes the first answer. Each role signs in
with Chromium (Debian's, as the browser tests use) and every page it can reach is saved
as ``OUTDIR/<role>-<page>-<wide|narrow>.png`` (1366 and 390 pixels wide, full page).

The tests check what pages say; this is for people to look at how they read.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smoke import serving

WIDTHS = {"wide": 1366, "narrow": 390}
CHROMIUM = Path(os.environ.get("HSCLINK_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

#: The pages each role is shown; ``{release}`` is the newest release's register entry.
PAGES: dict[str, tuple[str, ...]] = {
    "public": ("/login", "/register"),
    "analyst": ("/", "/query", "/budgets", "/releases", "/releases/{release}", "/policy"),
    "ig_officer": (
        "/",
        "/audit",
        "/policy",
        "/releases",
        "/releases/{release}",
        "/budgets",
        "/projects",
        "/linkage",
        "/linkage/snapshots/latest",
        "/submissions",
        "/admin/users",
    ),
    "operator": (
        "/",
        "/admin/",
        "/admin/users",
        "/admin/organisations",
        "/admin/tokens",
        "/admin/keys",
        "/admin/opt-out",
        "/linkage",
        "/submissions",
    ),
    "submitter": ("/", "/upload", "/submissions"),
}

QUESTIONS = (
    {"measure": {"kind": "persons"}, "group_by": ["borough", "age_band"], "epsilon": 0.3},
    {"measure": {"kind": "persons"}, "group_by": ["sex"], "epsilon": 0.1},
    {
        "measure": {"kind": "mean", "dataset": "asc_clients", "attribute": "weekly_cost"},
        "group_by": ["support_reason"],
        "epsilon": 0.2,
    },
)


def _api(server: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 (the loopback server started here)
        server + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
        raw = response.read()
    return json.loads(raw) if raw else None


def _prepare(server: str, users: dict[str, dict[str, str]]) -> int:
    """Budgets, then the analyst's questions; the newest release's register entry id."""
    officer, analyst = users["ig_officer"], users["analyst"]
    _api(server, officer["token"], "PUT", "/api/v1/budgets/global", {"total": 5})
    _api(server, officer["token"], "PUT", f"/api/v1/budgets/analyst/{analyst['username']}",
         {"total": 2})  # fmt: skip
    for question in QUESTIONS:
        _api(server, analyst["token"], "POST", "/api/v1/queries", {"query": question})
    entries = _api(server, officer["token"], "GET", "/api/v1/releases")
    newest = int(entries[0]["id"])
    # The public register on, with the first answer published on it.
    _api(server, officer["token"], "PUT", "/api/v1/register", {"public": True})
    _api(server, officer["token"], "POST", f"/api/v1/releases/{entries[-1]['id']}/publish",
         {"published": True})  # fmt: skip
    return newest


def _save(page: Any, out: Path, stem: str, width: int, tile: int | None) -> list[Path]:
    """The whole page in one image, or (``tile``) in screen-sized pieces that stay
    readable when a long page is viewed."""
    if tile is None:
        target = out / f"{stem}.png"
        page.screenshot(path=str(target), full_page=True)
        return [target]
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    pieces = []
    for number, top in enumerate(range(0, height, tile), start=1):
        target = out / f"{stem}-{number}.png"
        clip = {"x": 0, "y": top, "width": width, "height": min(tile, height - top)}
        page.screenshot(path=str(target), full_page=True, clip=clip)
        pieces.append(target)
    return pieces


def _shoot(server: str, users: dict[str, dict[str, str]], release: int, out: Path,
           roles: list[str], tile: int | None) -> list[Path]:  # fmt: skip
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        for role in roles:
            for name, width in WIDTHS.items():
                context = browser.new_context(
                    viewport={"width": width, "height": 900}, locale="en-GB", timezone_id="UTC"
                )
                page = context.new_page()
                if role != "public":
                    page.goto(server + "/login")
                    page.fill("#username", users[role]["username"])
                    page.fill("#password", users[role]["password"])
                    page.click("button[type=submit]")
                    page.wait_for_load_state()
                for path in PAGES[role]:
                    page.goto(server + path.format(release=release))
                    slug = re.sub(r"[^a-z0-9]+", "-", path.format(release=release)).strip("-")
                    stem = f"{role}-{slug or 'home'}-{name}"
                    saved.extend(_save(page, out, stem, width, tile))
                context.close()
        browser.close()
    return saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--roles", default=",".join(PAGES))
    parser.add_argument(
        "--tile", type=int, default=None, help="Cut each page into pieces this many pixels high."
    )
    parser.add_argument("--hsclink", default=str(Path(sys.executable).with_name("hsclink")))
    args = parser.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hsclink-pages-") as work:
        env = {**os.environ, "HSCLINK_DATA_DIR": str(Path(work) / "var")}
        made = subprocess.run(  # noqa: S603 (this machine's hsclink, given on purpose)
            [args.hsclink, "init", "--demo", "--json"],
            env=env, check=True, capture_output=True, text=True, cwd=work,
        )  # fmt: skip
        init = json.loads(made.stdout)
        users = {u["role"]: u for u in init["demo_users"]}
        with serving([args.hsclink], env, Path(work), Path(work) / "serve.log") as server:
            release = _prepare(server, users)
            saved = _shoot(server, users, release, args.outdir, args.roles.split(","), args.tile)
    for path in saved:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
