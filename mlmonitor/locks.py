"""Row locks the apps' services take at the start of a write transaction."""

from __future__ import annotations

from django.db.models import Model


def row_lock(model_class: type[Model], pk: object) -> None:
    """Lock one row, by primary key, until the transaction ends (SELECT ... FOR UPDATE; on SQLite, whose write
    transactions run one at a time already, nothing). Call it inside transaction.atomic, before the transaction's
    first write of what the row guards: writers of the same row then run one after another, each seeing what the
    one before committed.

    Where "deactivate the active one, then add or activate this one" of two concurrent transactions would otherwise
    each miss the other's uncommitted active row, and a one-active constraint would fail one of them (PostgreSQL: an
    IntegrityError, a 500):
    - a model (predictions.MLModel) guards its versions: saves and activations of one model's versions (the
      one-active-version constraint; a version number saved twice at once is refused by the second save's check
      instead of by the constraint);
    - a model version (predictions.ModelVersion) guards its reference datasets: uploads and activations of one
      version's references (the one-active-reference constraint; the last one to commit is the active reference).

    A transaction that locks rows of one table should lock them in one order (predictions.services.models_lock_all
    locks every model's row, in key order, where the default model changes), or two transactions can deadlock."""
    list(model_class._default_manager.select_for_update().filter(pk=pk).values_list("pk", flat=True))
