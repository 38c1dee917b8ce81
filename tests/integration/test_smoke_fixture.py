from app.services import audit


def test_a_new_store_verifies(ctx):
    assert audit.verify_database(ctx).ok
