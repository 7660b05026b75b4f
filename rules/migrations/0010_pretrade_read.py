# PostgreSQL only: a new order's pre-trade read (rules.reference: the reference version and the
# order's book; rules.controls.IN_FORCE_SQL: its venue's registry row and the SAFE modes in force)
# as one plpgsql function. The connection runs with plan_cache_mode=force_custom_plan (oms/settings:
# the tree lock's generic plan went bad as `orders` grew), so the same reads sent as one UNION
# statement were planned on every create: 0.13-0.20 ms of planning for 0.03 ms of execution
# (docs/benchmarks.md §41). Inside the function its statement keeps a generic plan per session
# (the SET clause below applies to the function's body only): equality lookups on unique or
# indexed keys of small tables, one plan whatever the values. Same rows, same shape, same snapshot
# (a STABLE function sees the calling statement's snapshot), so the checks read what they read.
# SQLite keeps the UNION statement.
# SECURITY INVOKER (the default): the caller reads with its own table privileges and search_path,
# exactly as it would send the UNION itself, so neither needs pinning (the audit's SECURITY DEFINER
# functions pin theirs). EXECUTE is revoked from PUBLIC like every table is closed by default:
# `migrate` grants it to the application role (oms.lifecycle.roles.grant); the owner keeps it.

from django.db import migrations

from oms.core.migration_sql import vendor_sql

PG_INSTALL = [
    """
CREATE FUNCTION rules_pretrade_read(p_venue text, p_symbol text, p_kind text, p_account text, p_venue_symbol text)
RETURNS TABLE (tag integer, version bigint, venue text, bids text, asks text, as_of text, source text)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    RETURN QUERY
    SELECT 0, rv.version, b.venue::text, CAST(b.bids AS TEXT), CAST(b.asks AS TEXT),
           CAST(b.as_of AS TEXT), b.source::text
      FROM reference_version rv
      LEFT JOIN books b ON b.venue = p_venue AND b.symbol = p_symbol
     WHERE rv.id = 1
    UNION ALL
    SELECT 1, NULL, NULL, CAST(v.doc AS TEXT), NULL, NULL, NULL FROM venues v WHERE v.venue = p_venue
    UNION ALL
    SELECT 2, NULL, NULL, CAST(c.doc AS TEXT), NULL, NULL, NULL FROM controls c
     WHERE c.kind = p_kind AND c.active
       AND ((c.scope = 'global' AND c."key" = '*') OR (c.scope = 'venue' AND c."key" = p_venue)
            OR (c.scope = 'account' AND c."key" = p_account)
            OR (c.scope = 'symbol' AND c."key" IN (p_symbol, p_venue_symbol)));
END
$$
""",
    "REVOKE ALL ON FUNCTION rules_pretrade_read(text, text, text, text, text) FROM PUBLIC",
]
PG_REMOVE = ["DROP FUNCTION IF EXISTS rules_pretrade_read(text, text, text, text, text)"]


class Migration(migrations.Migration):
    dependencies = [
        ("rules", "0009_book_source"),
    ]

    operations = [
        vendor_sql({"postgresql": PG_INSTALL}, {"postgresql": PG_REMOVE}),
    ]
