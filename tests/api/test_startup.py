"""The service refuses to start half-ready, and says what to run."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from app.auth.actor import Actor
from app.bootstrap import create_app
from app.services.context import ServiceContext
from app.services.setup import NotInitialised, initialise


def test_the_service_will_not_start_without_its_keys(settings):
    ctx = ServiceContext.build(settings)
    settings.data_dir.mkdir(parents=True)
    from app.keys.master import MasterKey

    MasterKey.create(settings.master_key_path)
    with (
        pytest.raises(NotInitialised, match="hsclink init"),
        TestClient(create_app(settings, ctx=ctx)),
    ):
        pass
    ctx.close()


def test_the_service_will_not_start_on_an_old_schema(settings, admin_engine):
    ctx = ServiceContext.build(settings)
    initialise(ctx, actor=Actor.cli())
    with admin_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0003_keystore'"))
    app = create_app(settings, ctx=ctx)
    with pytest.raises(NotInitialised, match="hsclink db upgrade"), TestClient(app):
        pass
    ctx.close()


def test_health_answers_without_authentication(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"
