"""Bulk writes for the hot paths, as prepared statements run once per row.

The ORM's bulk_create() and bulk_update() compile SQL with a placeholder (and, for updates, a
CASE expression) per field and row; for the small rows of short calculations that
compilation costs more than the database's own work. A prepared statement executed for
every row (executemany) leaves only the conversion of each value.

The statements are built from the model's own table and column names, quoted by the
database backend; every value is a parameter (hence the `nosec B608` marks for bandit).
"""

from collections.abc import Sequence

from django.db import models, transaction


def _prepared_values(rows, fields, connection, *, adding: bool) -> list[list]:
    """Each row's values of `fields`, converted for the database. Most fields of a batch
    hold the same few values (a status, None, a shared timestamp): each distinct value is
    converted once."""
    converted: list[dict] = [{} for _ in fields]
    values = []
    for row in rows:
        prepared = []
        for field, seen in zip(fields, converted, strict=True):
            value = field.pre_save(row, add=adding)
            if value not in seen:
                seen[value] = field.get_db_prep_save(value, connection)
            prepared.append(seen[value])
        values.append(prepared)
    return values


def insert_rows(rows: Sequence[models.Model]) -> None:
    """INSERT new instances of one model, every concrete field given (no database defaults)."""
    if not rows:
        return
    meta, connection = rows[0]._meta, transaction.get_connection()
    fields = meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    values = _prepared_values(rows, fields, connection, adding=True)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({placeholders})",  # nosec B608
            values,
        )
    for row in rows:
        row._state.adding, row._state.db = False, connection.alias


def update_rows(rows: Sequence[models.Model], field_names: Sequence[str]) -> None:
    """UPDATE the named fields of existing instances of one model, by primary key."""
    if not rows:
        return
    meta, connection = rows[0]._meta, transaction.get_connection()
    fields = [meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    values = _prepared_values(rows, [*fields, meta.pk], connection, adding=False)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(meta.db_table)} SET {assignments} "  # nosec B608
            f"WHERE {quote(meta.pk.column)} = %s",
            values,
        )


def update_returning(
    model: type[models.Model],
    *,
    pks: Sequence,
    where: dict,
    assignments: dict,
    increments: Sequence[str] = (),
    below: dict | None = None,
) -> list[models.Model]:
    """UPDATE the rows among `pks` whose fields equal `where` (and stay under `below`), set
    `assignments` and add one to each of `increments`; return the updated rows.

    One UPDATE … RETURNING (SQLite >= 3.35, PostgreSQL) instead of the ORM's update() and a
    SELECT to read back what it changed.
    """
    if not pks:
        return []
    meta, connection = model._meta, transaction.get_connection()
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    def prepared(name: str, value) -> object:
        return meta.get_field(name).get_db_prep_save(value, connection)

    sets = [f"{column(name)} = %s" for name in assignments]
    sets += [f"{column(name)} = {column(name)} + 1" for name in increments]
    conditions = [f"{quote(meta.pk.column)} IN ({', '.join(['%s'] * len(pks))})"]
    conditions += [f"{column(name)} = %s" for name in where]
    conditions += [f"{column(name)} < %s" for name in below or {}]
    returned = ", ".join(quote(field.column) for field in meta.concrete_fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {', '.join(sets)} "  # nosec B608
        f"WHERE {' AND '.join(conditions)} RETURNING {returned}"
    )
    params = [prepared(name, value) for name, value in assignments.items()]
    params += [meta.pk.get_db_prep_save(pk, connection) for pk in pks]
    params += [prepared(name, value) for name, value in where.items()]
    params += [prepared(name, value) for name, value in (below or {}).items()]
    return list(model.objects.raw(sql, params))
