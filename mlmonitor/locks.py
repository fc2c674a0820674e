"""Row locks the apps' services take at the start of a write transaction."""

from __future__ import annotations

from django.db.models import Model


def row_lock(model_class: type[Model], pk: object) -> None:
    """Lock one row, by primary key, against the other writers of what it guards until the transaction ends
    (PostgreSQL: SELECT ... FOR NO KEY UPDATE; SQLite, whose write transactions run one at a time already: nothing).
    Call it inside transaction.atomic, before the transaction's first write of what the row guards: writers of the
    same row then run one after another, each seeing what the one before committed.

    Where "deactivate the active one, then add or activate this one" of two concurrent transactions would otherwise
    each miss the other's uncommitted active row, and a one-active constraint would fail one of them (PostgreSQL: an
    IntegrityError, a 500):
    - a model (predictions.MLModel) guards its versions: saves and activations of one model's versions (the
      one-active-version constraint; a version number saved twice at once is refused by the second save's check
      instead of by the constraint);
    - a model version (predictions.ModelVersion) guards its reference datasets: uploads and activations of one
      version's references (the one-active-reference constraint; the last one to commit is the active reference).

    NO KEY UPDATE, not FOR UPDATE (PostgreSQL docs, "Row-Level Locks"): it leaves the row's key-share lock free, which
    the check of a foreign key referencing it takes at commit (Django's constraints are deferred), and the prediction
    log's version check at each insert (predictions/integrity.py). With FOR UPDATE,
    every prediction logged for a version waited to commit while that version's reference was stored (a write of tens of
    megabytes), and a first reference upload (the version's row locked, then at commit the key-share lock on its model's
    row for the new drift settings) deadlocked with an activation of another version (the model's row locked, then the
    version's row updated), and so did any version lock, whose query joined the model's table for the version's default
    ordering and so locked the model's row too. A transaction that locks several rows of one table should lock them in
    one order (predictions.services.models_lock_all locks every model's row in key order where the default model
    changes), or two transactions can deadlock."""
    # order_by(): no ordering, so no join (a version's default ordering joins its model, and FOR ... UPDATE without
    # OF locks the joined model's row too)
    rows = model_class._default_manager.select_for_update(no_key=True).filter(pk=pk).order_by()
    list(rows.values_list("pk", flat=True))
