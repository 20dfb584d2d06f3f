#!/usr/bin/env bash
# The workflow DAG check (agentbase.workflow_definition_problem, run by the CHECK of every
# write to workflows.definition) beside the one it replaced, in one run on one database:
#   0014's (n log n: a sorted jsonb index of the node ids, Kahn over arrays)
#   vs 0005's, recreated as bench.workflow_definition_problem_0005 from the body that
#   0014_dag_check.down.sql restores (joins whose method the planner picks): in a new
#   session, as a pooled connection's first calls run it (custom plans: nested loops), and
#   with plan_cache_mode=force_generic_plan, the plan a session may switch to later
# on two valid definitions of BENCH_NODES nodes: a chain (n1 -> n2 -> ... -> nN) and a
# wide DAG (n1 -> each of n2 .. nN-1 -> nN, twice as many edges). Both are DAGs, so each
# check runs to its end. Prints the median of BENCH_RUNS calls of each (every call in a
# session of its own), the ratios to 0014's, and whether all answered the same; then
# whether 0005's and 0014's agree on smaller generated definitions with each kind of
# problem. Timing is noisy on a shared machine: read the ratio. In a new session 0005's
# takes tens of seconds per call at 14,000 nodes.
#   BENCH_NODES (14000), BENCH_RUNS (1)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${AB_BIN:?run through make bench}"
source tests/lib.sh
nodes=${BENCH_NODES:-14000}
runs=${BENCH_RUNS:-1}

ab_home
ab_pg_start
trap 'set +e; ab_cleanup' EXIT
"$AB_BIN" migrate up >/dev/null
q -c "CREATE SCHEMA bench" -c "CREATE SCHEMA abtest"
q -f tests/sql/fixtures/0014_dag_check.sql # the generated definitions of the pgTAP tests
sed -e '1,/^CREATE OR REPLACE FUNCTION/{/^CREATE OR REPLACE FUNCTION/!d}' \
    -e 's/agentbase\.workflow_definition_problem(/bench.workflow_definition_problem_0005(/' \
    db/migrations/0014_dag_check.down.sql | q
grep -q 'JOIN unnest(v_nodes)' <<<"$(q -c "SELECT prosrc FROM pg_proc
    WHERE oid = 'bench.workflow_definition_problem_0005(jsonb)'::regprocedure")" ||
    { echo "bench/dag.sh: the down migration no longer holds 0005's check" >&2; exit 1; }

q >/dev/null <<SQL
-- One call of a check (by name) on a definition: milliseconds and its answer. The check
-- gets a value built in memory, as from the INSERT of POST /v1/workflows, not the stored
-- (compressed) one: the copy is made before the clock starts.
CREATE FUNCTION bench.timed(p_check text, p_definition jsonb, OUT ms float8, OUT answer text)
LANGUAGE plpgsql AS \$\$
DECLARE
    v_definition jsonb := p_definition || '{}';
    v_start timestamptz := clock_timestamp();
BEGIN
    EXECUTE format('SELECT %s(\$1)', p_check) INTO answer USING v_definition;
    ms := 1000 * extract(epoch FROM clock_timestamp() - v_start);
END
\$\$;
CREATE TABLE bench.definitions (shape text PRIMARY KEY, definition jsonb NOT NULL);
INSERT INTO bench.definitions VALUES ('chain', abtest.dag_chain($nodes)), ('wide', abtest.dag_wide($nodes));
SQL

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
time_check() { # check shape [plan_cache_mode] -> "ms answer" lines, one per run
    local i
    for i in $(seq "$runs"); do
        PGOPTIONS="-c plan_cache_mode=${3:-auto}" q -F ' ' -c "SELECT round(t.ms::numeric, 1), coalesce(t.answer, 'dag')
                       FROM bench.definitions d, bench.timed('$1', d.definition) t
                      WHERE d.shape = '$2'"
    done
}

row() { printf '%-6s %6s %6s %5s | %10s %10s %10s | %9s %9s | %s\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
echo "0005: a session's first call (custom plans); generic: 0005 with plan_cache_mode=force_generic_plan"
row shape nodes edges KB "0005 ms" "generic ms" "0014 ms" "0005/0014" "gen/0014" answers
for shape in chain wide; do
    read -r n e kb <<<"$(q -F ' ' -c "SELECT jsonb_array_length(definition -> 'nodes'),
        jsonb_array_length(definition -> 'edges'), length(definition::text) / 1024
        FROM bench.definitions WHERE shape = '$shape'")"
    old=$(time_check bench.workflow_definition_problem_0005 $shape)
    generic=$(time_check bench.workflow_definition_problem_0005 $shape force_generic_plan)
    new=$(time_check agentbase.workflow_definition_problem $shape)
    old_ms=$(cut -d' ' -f1 <<<"$old" | median)
    generic_ms=$(cut -d' ' -f1 <<<"$generic" | median)
    new_ms=$(cut -d' ' -f1 <<<"$new" | median)
    answers=$(printf '%s\n' "$old" "$generic" "$new" | cut -d' ' -f2- | sort -u)
    if [ "$(wc -l <<<"$answers")" -eq 1 ]; then answers="all: $answers"
    else answers="differ: $(tr '\n' ';' <<<"$answers")"; fi
    row "$shape" "$n" "$e" "$kb" "$old_ms" "$generic_ms" "$new_ms" "$(ratio "$old_ms" "$new_ms")" \
        "$(ratio "$generic_ms" "$new_ms")" "$answers"
done

# Each kind of problem on definitions small enough for 0005's check: both must agree.
q -F ' ' -c "
WITH base(shape, d) AS (VALUES ('chain', abtest.dag_chain(1400)), ('wide', abtest.dag_wide(1400))),
cases(d) AS (
    SELECT d FROM base
    UNION ALL SELECT abtest.dag_with_edges(d, '[{\"from\": \"n1400\", \"to\": \"n700\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_edges(d, '[{\"from\": \"n5\", \"to\": \"n6\"}, {\"from\": \"n6\", \"to\": \"n5\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_edges(d, '[{\"from\": \"n700\", \"to\": \"zz\"}, {\"from\": \"a\", \"to\": \"n9\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_edges(d, '[{\"from\": \"n9\", \"to\": \"n9\"}, {\"from\": \"n5\", \"to\": \"n5\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_nodes(d, '[{\"id\": \"n900\"}, {\"id\": \"n1200\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_nodes(d, '[{\"id\": \"\"}]') FROM base
    UNION ALL SELECT abtest.dag_with_edges(d, '[{\"from\": \"n3\"}]') FROM base)
SELECT count(*) FILTER (WHERE agentbase.workflow_definition_problem(d)
                        IS NOT DISTINCT FROM bench.workflow_definition_problem_0005(d)), count(*)
  FROM cases" | {
    read -r same total
    echo "answers agree on $same of $total definitions of 1,400 nodes with a cycle, an unknown end," \
        "a self-loop, a duplicate or a bad node or edge (or none)"
}
