"""Which functions callers below admin may call: an allow-list, deny by default.

A name is the one sqlglot gives the call after parsing it as DuckDB (`strftime` parses to
`TIME_TO_STR`, `range` and `generate_series` both to `GENERATE_SERIES`), so the check is made on
what will actually be generated and run, whatever spelling the user chose. `allowed()` is built on
first use from DuckDB names by parsing each once, so it follows sqlglot's mapping across versions.

Left out on purpose: functions that build values of a size the caller picks (`range`,
`generate_series`, `repeat`, `lpad`/`rpad`, `list_resize`, `printf`/`format`, `bar`, ...), read
files or settings, or reach the catalog. The worker's kernel limits bound any query anyway
(`query.worker`); the list keeps the cheap, predictable part of SQL for analysts and filters.
Every SQL model of the product passes it (a test holds that).
"""

from __future__ import annotations

import functools

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lakehouse.exceptions import QueryError

# DuckDB spellings; each is parsed once below to learn sqlglot's name for it.
_DUCKDB_NAMES = """
count sum avg mean min max any_value first last arbitrary array_agg list string_agg group_concat
listagg median mode quantile quantile_cont quantile_disc percentile_cont percentile_disc
approx_count_distinct approx_quantile stddev stddev_pop stddev_samp variance var_pop var_samp
corr covar_pop covar_samp regr_slope regr_intercept bool_and bool_or every count_if countif
arg_max arg_min argmax argmin max_by min_by product bit_and bit_or bit_xor histogram entropy
kurtosis skewness sem favg fsum sumkahan kahan_sum
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value nth_value
coalesce nullif ifnull if iff greatest least abs round floor ceil ceiling sqrt cbrt ln log log10
log2 exp pow power mod sign trunc degrees radians pi sin cos tan asin acos atan atan2 isnan
isinf isfinite even gcd lcm factorial random
length len char_length character_length strlen octet_length lower upper lcase ucase trim ltrim
rtrim substring substr left right replace concat concat_ws contains starts_with ends_with
prefix suffix strpos position instr split_part string_split str_split regexp_matches
regexp_full_match regexp_extract regexp_replace regexp_split_to_array like_escape ilike_escape
md5 sha1 sha256 hash ascii chr reverse translate initcap levenshtein jaro_winkler_similarity
damerau_levenshtein hamming jaccard mismatches editdist3 format_bytes
date_trunc datetrunc date_part datepart extract date_diff datediff date_sub datesub date_add
dateadd strftime strptime try_strptime epoch epoch_ms epoch_us epoch_ns to_timestamp make_date
make_time make_timestamp current_date current_timestamp now today year month day hour minute
second millisecond microsecond dayofweek dayofmonth dayofyear weekday week weekofyear
yearweek quarter isodow isoyear last_day monthname dayname age time_bucket to_days to_hours
to_minutes to_seconds to_months to_years to_weeks to_milliseconds
json_extract json_extract_string json_extract_scalar json_extract_path json_extract_path_text
json_value json_exists json_type json_valid json_array_length json_keys json_contains
array list_value list_pack list_filter array_filter filter list_transform array_transform
list_apply array_apply apply list_sort array_sort list_reverse_sort array_reverse_sort
list_distinct array_distinct list_unique array_unique flatten list_contains array_contains
list_has array_has list_has_any array_has_any list_has_all array_has_all list_position
array_position list_indexof array_indexof list_extract array_extract list_element
list_slice array_slice array_length array_size len list_sum list_min list_max list_avg
list_count list_first list_last list_aggregate array_aggregate list_aggr list_concat
array_concat list_cat array_cat list_intersect array_intersect list_zip array_zip
list_reduce array_reduce reduce unnest struct_pack struct_extract row map map_keys
map_values map_extract element_at cardinality
typeof date timestamp cast try_cast to_json
"""

# sqlglot node types that are operators or syntax rather than calls (`a AND b`, `x ->> 'k'`,
# `x BETWEEN a AND b`, `[1, 2]`, `{'a': 1}`, `CASE`), allowed whatever their class name.
_SYNTAX: tuple[type[exp.Expr], ...] = (
    exp.Binary, exp.Connector, exp.Unary, exp.Predicate, exp.Case, exp.Cast, exp.Array,
    exp.Struct, exp.ToMap, exp.Interval, exp.Bracket, exp.Lambda, exp.Window, exp.Filter,
)  # fmt: skip


def func_name(node: exp.Func) -> str:
    return (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()


def _canonical(names: str) -> frozenset[str]:
    out: set[str] = set()
    for name in names.split():
        out.add(name)
        # sqlglot may map a name to a different node by its number of arguments
        # (`make_timestamp` with six is TIMESTAMP_FROM_PARTS): learn each
        for args in ("", "x", "x, y", "x, y, z", "x, y, z, w", "x, y, z, w, v, u"):
            try:
                tree = sqlglot.parse_one(f"SELECT {name}({args})", read="duckdb")
            except (SqlglotError, ValueError):
                continue
            first = next((n for n in tree.walk() if isinstance(n, exp.Func)), None)
            if first is not None:
                out.add(func_name(first))
    return frozenset(out)


@functools.cache
def allowed() -> frozenset[str]:
    """The allow-list (built on first use: parsing the names takes ~0.4 s)."""
    return _canonical(_DUCKDB_NAMES)


def is_syntax(node: exp.Expr) -> bool:
    return isinstance(node, _SYNTAX)


def check_allowed(names: frozenset[str]) -> None:
    """Raise QueryError naming the first function not on the allow-list."""
    denied = sorted(names - allowed())
    if denied:
        raise QueryError(
            f"function '{denied[0]}' is not allowed",
            hint="common aggregate, window, string, date, JSON and list functions are; ask an admin for others",
        )
