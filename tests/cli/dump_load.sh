# agentbase dump / load: a dump of a migrated, seeded cluster with tenant data in every table
# loads into a fresh cluster as a database that passes migrate verify, holds the same rows,
# roles, policies, settings and extensions, and passes the catalog, isolation and access
# pgTAP suites; load refuses a non-empty database without --force, and a dump cut short
# loads nothing.
source "$(dirname "$0")/../lib.sh"
plan 35

# Per table of agentbase's schemas (partitions included), its row count, as the superuser.
row_counts() {
    q -c "SELECT string_agg(c.oid::regclass || '=' ||
                 (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s',
                  c.oid::regclass), false, true, '')))[1]::text, ' ' ORDER BY c.oid::regclass::text)
            FROM pg_class c
           WHERE c.relnamespace IN ('agentbase'::regnamespace, 'agentbase_migrate'::regnamespace)
             AND c.relkind = 'r'"
}
# What the service sees of tenant $1: the rows of its users, agents and messages as agentbase_app.
tenant_view() {
    q -c "BEGIN; SELECT agentbase.set_request_context('$1', 'system', 'test');
          SET LOCAL ROLE agentbase_app;
          SELECT (SELECT count(*) FROM agentbase.users) || ' ' || (SELECT count(*) FROM agentbase.agents)
                 || ' ' || (SELECT count(*) FROM agentbase.messages) || ' ' ||
                 (SELECT count(*) FROM agentbase.audit_logs); COMMIT;" | sed -n 2p
}
catalog() {
    q -c "SELECT (SELECT count(*) FROM pg_policy) || ' ' ||
                 (SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension) || ' ' ||
                 (SELECT string_agg(rolname || ':' || rolcanlogin || rolinherit || rolbypassrls, ','
                                    ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'agentbase\_%') || ' ' ||
                 (SELECT string_agg(array_to_string(setconfig, ','), ';') FROM pg_db_role_setting
                   WHERE setrole = 0 AND setdatabase = (SELECT oid FROM pg_database
                                                         WHERE datname = current_database()))"
}
ta=c1500000-0000-7000-8000-00000000000c
tb=d1500000-0000-7000-8000-00000000000d

# ---- the source: migrated, seeded, tenant data in every table ----------------------------
ab_home
src_home=$AGENTBASE_HOME
ab_pg_start
{ "$AB_BIN" migrate up && "$AB_BIN" seed --dev; } >/dev/null || { echo "Bail out! cannot migrate"; exit 1; }
for f in "$AB_REPO"/tests/sql/setup.sql "$AB_REPO"/tests/sql/fixtures/*.sql; do
    q -f "$f" >/dev/null || { echo "Bail out! cannot install $f"; exit 1; }
done
q -c "SELECT abtest.fill('$ta'), abtest.fill('$tb')" >/dev/null || { echo "Bail out! cannot fill"; exit 1; }
# Tenant B gets more agents than A, so that the two views differ.
q -c "INSERT INTO agentbase.agents (tenant_id, name, model_provider, model_name)
      SELECT '$tb', 'extra agent ' || i, 'openai', 'gpt-4o-mini' FROM generate_series(1, 3) i" >/dev/null ||
    { echo "Bail out! cannot add agents"; exit 1; }
# The test's helpers are no part of the data: the dump is of agentbase's database alone.
PGOPTIONS="-c client_min_messages=warning" q -c "DROP SCHEMA abtest CASCADE" -c "DROP EXTENSION pgtap" >/dev/null
q -c "ALTER ROLE agentbase_service PASSWORD 'dump-test-password'" >/dev/null
src_rows=$(row_counts)
src_catalog=$(catalog)
src_view_a=$(tenant_view $ta)
src_view_b=$(tenant_view $tb)
ok "$([ "$src_view_a" != "0 0 0 0" ] && [ "$src_view_a" != "$src_view_b" ] && echo 0)" \
    "the source holds rows of both tenants, different per tenant ($src_view_a / $src_view_b)"

out=$("$AB_BIN" dump --output "$src_home/db.sql" 2>&1); rc=$?
is "$rc" 0 "dump --output FILE exits 0"
like "$out" "dumped agentbase to $src_home/db.sql \([0-9]+ bytes\)" "and says where and how much"
is "$(stat -c %a "$src_home/db.sql")" 600 "the dump file is private (0600)"
is "$(head -n 1 "$src_home/db.sql")" "-- agentbase dump, format 1" "it starts with its format line"
is "$(tail -n 1 "$src_home/db.sql")" "-- end of agentbase dump" "and ends with its last line"
is "$(grep -c 'SCRAM-SHA-256\$' "$src_home/db.sql")" 0 "it carries no password hash"
like "$(grep -E 'CREATE ROLE agentbase_service ' "$src_home/db.sql")" \
    "LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;" \
    "it creates agentbase's roles with their attributes"
is "$("$AB_BIN" dump --role-passwords 2>/dev/null | grep -c 'CREATE ROLE agentbase_service .*PASSWORD .SCRAM-SHA-256\$')" 1 \
    "dump --role-passwords (to standard output) carries the service role's hash"
ls "$src_home"/db.sql.part-* >/dev/null 2>&1
is "$?" 2 "no partial file is left beside the dump"

# ---- the target: a fresh cluster -------------------------------------------------------
ab_home
dst_home=$AGENTBASE_HOME
ab_pg_start
out=$("$AB_BIN" load --input "$src_home/db.sql" 2>&1); rc=$?
is "$rc" 0 "load into the fresh cluster's empty database exits 0"
newest=$((10#$(basename "$(ls "$AB_REPO"/db/migrations/*.up.sql | tail -n 1)" | cut -c1-4)))
like "$out" "loaded .* schema version $newest, .* policies, search_path agentbase, public; migrations verified" \
    "and says what it loaded"
"$AB_BIN" migrate verify >/dev/null
is "$?" 0 "the loaded database passes migrate verify"
is "$(row_counts)" "$src_rows" "every table has the rows of the source"
is "$(catalog)" "$src_catalog" "policies, extensions, roles and the database's search_path are the source's"
is "$(tenant_view $ta)" "$src_view_a" "the service sees tenant A's rows as in the source"
is "$(tenant_view $tb)" "$src_view_b" "and tenant B's"
is "$(q -c "SELECT count(*) FROM pg_roles WHERE rolname = 'postgres' AND rolsuper")" 1 \
    "an existing role (the superuser) is left as it is"

# The catalog, isolation and access suites, as tests/run installs them, on the loaded database.
for f in "$AB_REPO"/tests/sql/setup.sql "$AB_REPO"/tests/sql/fixtures/*.sql; do
    q -f "$f" >/dev/null || { echo "Bail out! cannot install $f"; exit 1; }
done
for t in catalog isolation access; do
    out=$(pg_prove --nocolor "$AB_REPO/tests/sql/$t.sql" 2>&1); rc=$?
    is "$rc" 0 "tests/sql/$t.sql passes on the loaded database"
    [ "$rc" = 0 ] || diag "$(echo "$out" | tail -n 20)"
done

# ---- refusals ----------------------------------------------------------------------------
out=$("$AB_BIN" load --input "$src_home/db.sql" 2>&1); rc=$?
is "$rc" 1 "load into a database with content exits 1"
like "$out" "database agentbase is not empty: it holds schema agentbase \([0-9]+ tables\).*schema abtest.*extension pgtap" \
    "and says what the database holds and how to replace it"
head -n "$(($(wc -l <"$src_home/db.sql") - 40))" "$src_home/db.sql" >"$dst_home/cut.sql"
out=$("$AB_BIN" load --force --input "$dst_home/cut.sql" 2>&1); rc=$?
is "$rc" 1 "a dump cut short is refused, even with --force"
like "$out" "ends before the dump's last line: nothing was loaded" "saying that nothing was loaded"
is "$(q -c "SELECT count(*) FROM pg_namespace WHERE nspname = 'abtest'")" 1 \
    "and its --force drops were rolled back with it"
out=$("$AB_BIN" load --force <"$src_home/db.sql" 2>&1); rc=$?
is "$rc" 0 "load --force from standard input replaces the content"
like "$out" "dropping schema agentbase \([0-9]+ tables\).*schema abtest.*extension pgtap" "saying what it drops"
is "$(row_counts)" "$src_rows" "after which every table again has the source's rows"

out=$("$AB_BIN" load --input "$dst_home/missing.sql" 2>&1)
like "$out" "cannot open $dst_home/missing.sql: No such file or directory" "a missing file is named"
echo "SELECT 1;" >"$dst_home/other.sql"
out=$("$AB_BIN" load --input "$dst_home/other.sql" 2>&1)
like "$out" "is not a dump of agentbase dump" "a file that is not a dump is refused before anything runs"
out=$(AGENTBASE_PG_BINDIR=$dst_home "$AB_BIN" dump --output "$dst_home/x.sql" 2>&1); rc=$?
ok "$([ "$rc" = 1 ] && echo "$out" | grep -q "AGENTBASE_PG_BINDIR=$dst_home has no pg_dump program" && echo 0)" \
    "dump names an AGENTBASE_PG_BINDIR without pg_dump"
"$AB_BIN" pg stop >/dev/null
out=$(env -u DATABASE_URL "$AB_BIN" dump --output "$dst_home/x.sql" 2>&1); rc=$?
ok "$([ "$rc" = 1 ] && echo "$out" | grep -q 'is the embedded cluster running' && echo 0)" \
    "dump with the cluster stopped exits 1 and says to start it"
out=$(DATABASE_URL="postgresql://nobody@127.0.0.1:1/agentbase" "$AB_BIN" load --input "$src_home/db.sql" 2>&1)
like "$out" "cannot reach the server of DATABASE_URL" "an unreachable DATABASE_URL is named"
out=$("$AB_BIN" dump --outptu x 2>&1); rc=$?
ok "$([ "$rc" = 2 ] && echo "$out" | grep -q "unknown or incomplete option '--outptu'" && echo 0)" \
    "a bad flag exits 2 and names it"
ab_done
