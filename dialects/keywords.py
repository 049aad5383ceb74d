"""Keywords per engine that an identifier must be quoted to use: read from the engines themselves.

sqlglot's own lists are incomplete (30.22 prints a DuckDB column `at` unquoted, which DuckDB
2.0 rejects), so each dialect names its engine's list here and the generator quotes those as
well. Every keyword that is not plain "unreserved" is listed: a type or function keyword (`at`,
`time`) is refused as a column in some positions. tests/test_keywords.py re-reads the lists from
the engines that run here (DuckDB's ``duckdb_keywords()``, PostgreSQL's ``pg_get_keywords()``).
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DUCKDB = _words(
    """
    all analyse analyze and anti any array as asc asof asymmetric at authorization between
    bigint binary bit boolean both by case cast char character check coalesce collate collation
    column columns concurrently constraint create cross dec decimal default deferrable desc
    describe distinct do else end except exists extract false fetch float for foreign freeze
    from full generated glob group grouping grouping_id having ilike in initially inner inout
    int integer intersect interval into is isnull join lambda lateral leading left like limit
    map national natural nchar none not notnull null nullif numeric offset on only or order out
    outer overlaps overlay pivot pivot_longer pivot_wider placing position positional precision
    primary qualify real references returning right row select semi setof show similar smallint
    some struct substring summarize symmetric table tablesample then time timestamp to trailing
    treat trim true try_cast tuple union unique unpack unpivot using values varchar variadic
    verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest
    xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
    """
)
"""``SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category <> 'unreserved'`` (DuckDB 2.0)."""

POSTGRES = _words(
    """
    all analyse analyze and any array as asc asymmetric authorization between bigint binary bit
    boolean both case cast char character check coalesce collate collation column concurrently
    constraint create cross current_catalog current_date current_role current_schema
    current_time current_timestamp current_user dec decimal default deferrable desc distinct do
    else end except exists extract false fetch float for foreign freeze from full grant greatest
    group grouping having ilike in initially inner inout int integer intersect interval into is
    isnull join lateral leading least left like limit localtime localtimestamp national natural
    nchar none normalize not notnull null nullif numeric offset on only or order out outer
    overlaps overlay placing position precision primary real references returning right row
    select session_user setof similar smallint some substring symmetric table tablesample then
    time timestamp to trailing treat trim true union unique user using values varchar variadic
    verbose when where window with xmlattributes xmlconcat xmlelement xmlexists xmlforest
    xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable
    """
)
"""``SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'`` (PostgreSQL 15)."""

BIGQUERY = _words(
    """
    all and any array as asc assert_rows_modified at between by case cast collate contains create
    cross cube current default define desc distinct else end enum escape except exclude exists
    extract false fetch following for from full group grouping groups hash having if ignore in
    include inner intersect interval into is join lateral left like limit lookup merge natural new
    no not null nulls of on or order outer over partition pivot preceding proto qualify range
    recursive respect right rollup rows select set some struct table tablesample then to treat
    true unbounded union unnest unpivot using when where window with within
    """
)
"""BigQuery's reserved keywords: the list on the BigQuery docs' "Lexical structure and syntax" page
(cloud.google.com/bigquery/docs/reference/standard-sql/lexical#reserved_keywords), no engine to read
it from here. Copies of that list differ by a few words between versions (``include``, ``pivot``,
``unpivot``, ``table``, ``qualify``): all are listed, since quoting a word that is not reserved is harmless."""

TRINO = _words(
    """
    alter and as auto between by case cast constraint create cross cube current_catalog current_date
    current_path current_role current_schema current_time current_timestamp current_user deallocate
    delete describe distinct drop else end escape except execute exists extract false for from full
    group grouping having in inner insert intersect into is join json_array json_exists json_object
    json_query json_table json_value left like listagg localtime localtimestamp natural normalize
    not null on or order outer prepare recursive right rollup select skip table then trim true
    uescape union unnest using values when where with
    """
)
"""Trino's reserved keywords: the table on trino.io/docs/current/language/reserved.html (Trino 480,
which adds ``auto``), no engine to read it from here."""

SPARK = _words(
    """
    all and anti any as authorization both call case cast check collate collation collations column
    constraint create cross current_date current_path current_schema current_time current_timestamp
    current_user distinct else end escape except execute false fetch filter for foreign from full
    grant group having in inner intersect into is join lateral leading left localtime minus natural
    not null offset on only or order outer overlaps primary recursive references right select semi
    session_user setminus some sql table then time to trailing union unique unknown user using when
    where with within
    """
)
"""Spark SQL's reserved keywords in ANSI mode: ``SELECT keyword FROM sql_keywords() WHERE reserved``
with ``spark.sql.ansi.enforceReservedKeywords=true`` (Spark 4.3; the table "SQL Keywords" on
spark.apache.org/docs/latest/sql-ref-ansi-compliance.html lists the same), plus the words that are
"strict-non-reserved" in default mode (``anti``, ``minus``, ``semi``, ``setminus`` and the join
words): those cannot be a table alias even with enforcement off, which Spark 4.3 also checks."""

SNOWFLAKE = _words(
    """
    account all alter and any as between by case cast check column connect connection constraint
    create cross current current_date current_time current_timestamp current_user database delete
    distinct drop else exists false following for from full grant group gscluster having ilike in
    increment inner insert intersect into is issue join lateral left like localtime localtimestamp
    minus natural not null of on or order organization qualify regexp revoke right rlike row rows
    sample schema select set some start table tablesample then to trigger true try_cast union
    unique update using values view when whenever where with
    """
)
"""Snowflake's reserved and limited keywords: the table on docs.snowflake.com/en/sql-reference/reserved-keywords
("Reserved & limited keywords"), no engine to read it from here (fakesnow is DuckDB underneath). The
entries A to D were checked against a stored copy of that page; the rest are from the same page as
recalled, so re-check them there. Quoting a word that is not reserved is harmless: the generator
quotes it in the definition and in every use alike."""
