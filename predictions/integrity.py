"""The prediction log's reference to its model version, kept by triggers instead of a foreign key constraint.

A foreign key is checked per inserted row (PostgreSQL: a trigger per row that looks up and key-share-locks the
referenced row); the prediction log takes thousands of rows per second of one version. These triggers keep the same
rule with one check per statement on PostgreSQL (a statement-level trigger over the statement's new rows, PostgreSQL
10+: "Transition tables", CREATE TRIGGER), measured in docs/benchmarks.md ("The prediction log's version check"):

- a prediction's model version must exist when it is inserted or its version changed: each distinct version of an
  INSERT's new rows (of a changed row, for an UPDATE) is locked FOR KEY SHARE, the lock a foreign key check takes
  (a version's deletion waits for the inserting transaction, and an insert after a committed deletion finds no
  row), and a missing one raises foreign_key_violation (Django: IntegrityError);
- a model version's deletion deletes its predictions (on_delete=CASCADE, which Django's deletion does first, so the
  trigger finds none; a DELETE that bypasses Django, or a prediction committed by a transaction the deletion waited
  for, leaves none behind either); its id cannot change while predictions reference it.

On SQLite (no statement-level triggers) row-level triggers do the same, with SQLite's foreign key message. A cascade
rather than a refusal: SQLite's triggers cannot wait for the commit as Django's deferred foreign keys did, and a
refusal at the statement would fail deletions that remove the predictions after the version (Django's test flush). The
migration that dropped the constraint (0005) creates them; the tests insert and delete through each path.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError

_POSTGRESQL_CREATE = [
    """
    CREATE FUNCTION predictions_prediction_version_check() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        checked bigint;
    BEGIN
        FOR checked IN SELECT DISTINCT model_version_id FROM new_rows LOOP
            PERFORM 1 FROM predictions_modelversion WHERE id = checked FOR KEY SHARE;
            IF NOT FOUND THEN
                RAISE foreign_key_violation USING
                    MESSAGE = format('insert or update on table "predictions_prediction" violates its model version '
                                     'check: model version %s does not exist', checked);
            END IF;
        END LOOP;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER predictions_prediction_version_insert AFTER INSERT ON predictions_prediction
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION predictions_prediction_version_check()
    """,
    # a changed version (never done by the application; a label's UPDATE does not fire it): one row at a time
    """
    CREATE FUNCTION predictions_prediction_version_row_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM 1 FROM predictions_modelversion WHERE id = NEW.model_version_id FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE foreign_key_violation USING
                MESSAGE = format('insert or update on table "predictions_prediction" violates its model version '
                                 'check: model version %s does not exist', NEW.model_version_id);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER predictions_prediction_version_update AFTER UPDATE OF model_version_id ON predictions_prediction
    FOR EACH ROW WHEN (OLD.model_version_id IS DISTINCT FROM NEW.model_version_id)
    EXECUTE FUNCTION predictions_prediction_version_row_check()
    """,
    """
    CREATE FUNCTION predictions_modelversion_predictions_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM predictions_prediction WHERE model_version_id = OLD.id;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER predictions_modelversion_predictions_delete AFTER DELETE ON predictions_modelversion
    FOR EACH ROW EXECUTE FUNCTION predictions_modelversion_predictions_delete()
    """,
    """
    CREATE FUNCTION predictions_modelversion_predictions_check() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM predictions_prediction WHERE model_version_id = OLD.id) THEN
            RAISE foreign_key_violation USING
                MESSAGE = format('update on table "predictions_modelversion" violates the model version check of '
                                 '"predictions_prediction": model version %s is still referenced', OLD.id);
        END IF;
        RETURN NULL;
    END
    $$
    """,
    """
    CREATE TRIGGER predictions_modelversion_predictions_check AFTER UPDATE OF id ON predictions_modelversion
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION predictions_modelversion_predictions_check()
    """,
]
_POSTGRESQL_DROP = [
    "DROP TRIGGER IF EXISTS predictions_modelversion_predictions_check ON predictions_modelversion",
    "DROP FUNCTION IF EXISTS predictions_modelversion_predictions_check()",
    "DROP TRIGGER IF EXISTS predictions_modelversion_predictions_delete ON predictions_modelversion",
    "DROP FUNCTION IF EXISTS predictions_modelversion_predictions_delete()",
    "DROP TRIGGER IF EXISTS predictions_prediction_version_update ON predictions_prediction",
    "DROP FUNCTION IF EXISTS predictions_prediction_version_row_check()",
    "DROP TRIGGER IF EXISTS predictions_prediction_version_insert ON predictions_prediction",
    "DROP FUNCTION IF EXISTS predictions_prediction_version_check()",
]

_SQLITE_CREATE = [
    """
    CREATE TRIGGER predictions_prediction_version_insert BEFORE INSERT ON predictions_prediction
    FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM predictions_modelversion WHERE id = NEW.model_version_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
    """
    CREATE TRIGGER predictions_prediction_version_update BEFORE UPDATE OF model_version_id ON predictions_prediction
    FOR EACH ROW WHEN NOT EXISTS (SELECT 1 FROM predictions_modelversion WHERE id = NEW.model_version_id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
    """
    CREATE TRIGGER predictions_modelversion_predictions_delete AFTER DELETE ON predictions_modelversion
    FOR EACH ROW BEGIN DELETE FROM predictions_prediction WHERE model_version_id = OLD.id; END
    """,
    """
    CREATE TRIGGER predictions_modelversion_predictions_check BEFORE UPDATE OF id ON predictions_modelversion
    FOR EACH ROW WHEN OLD.id IS NOT NEW.id
    AND EXISTS (SELECT 1 FROM predictions_prediction WHERE model_version_id = OLD.id)
    BEGIN SELECT RAISE(ABORT, 'FOREIGN KEY constraint failed'); END
    """,
]
_SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS predictions_modelversion_predictions_check",
    "DROP TRIGGER IF EXISTS predictions_modelversion_predictions_delete",
    "DROP TRIGGER IF EXISTS predictions_prediction_version_update",
    "DROP TRIGGER IF EXISTS predictions_prediction_version_insert",
]


def version_check_failed(exc: BaseException) -> bool:
    """Whether an exception is Django's IntegrityError for a prediction whose model version does not exist (this
    module's triggers: foreign_key_violation, SQLSTATE 23503, on PostgreSQL; SQLite's foreign key message)."""
    if not isinstance(exc, IntegrityError):
        return False
    return getattr(exc.__cause__, "sqlstate", None) == "23503" or "FOREIGN KEY constraint failed" in str(exc)


def _statements(vendor: str, postgresql: list[str], sqlite: list[str]) -> list[str]:
    if vendor == "postgresql":
        return postgresql
    if vendor == "sqlite":
        return sqlite
    raise NotImplementedError(f"no model version check for the {vendor} database")


def version_check_triggers_create(schema_editor: Any) -> None:
    """Create the triggers on the schema editor's database (PostgreSQL or SQLite)."""
    for statement in _statements(schema_editor.connection.vendor, _POSTGRESQL_CREATE, _SQLITE_CREATE):
        schema_editor.execute(statement, params=None)


def version_check_triggers_drop(schema_editor: Any) -> None:
    """Drop them (the migration's reverse; the foreign key constraint comes back with the field)."""
    for statement in _statements(schema_editor.connection.vendor, _POSTGRESQL_DROP, _SQLITE_DROP):
        schema_editor.execute(statement, params=None)
