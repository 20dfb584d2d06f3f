# The built-in migrations: each round-trips (down then up gives the identical schema), the
# whole set goes down to nothing and back, `migrate plan` run by psql builds the same schema
# as `migrate up`, and eight concurrent migrators apply each migration exactly once.
source "$(dirname "$0")/../lib.sh"

ab_home
ab_pg_start
versions=($("$AB_BIN" migrate status | awk '/^[0-9][0-9][0-9][0-9]/ { print $1 }' | sort -r))
n=${#versions[@]}
plan $((n + 8))

# A schema dump without comments, blank lines and the per-run \restrict tokens.
dump() {
    pg_dump --schema-only --no-comments -d "${1:-agentbase}" | grep -vE '^(--|$|\\(un)?restrict )'
}

"$AB_BIN" migrate stamp 0 >/dev/null # creates only the state tables
empty=$(dump)
out=$("$AB_BIN" migrate up 2>&1); rc=$?
is "$rc" 0 "migrate up applies every built-in migration"
full=$(dump)

# Each migration, newest first: revert down to just below it, re-apply, compare.
for v in "${versions[@]}"; do
    "$AB_BIN" migrate down --to $((10#$v - 1)) >/dev/null 2>&1 &&
        "$AB_BIN" migrate up >/dev/null 2>&1
    if [ "$(dump)" = "$full" ]; then ok 0 "migration $v: down and up again gives the identical schema"
    else ok 1 "migration $v: down and up again gives the identical schema"
        diff <(echo "$full") <(dump) | head -n 30 | sed 's/^/# /'; fi
done

"$AB_BIN" migrate down --to 0 >/dev/null 2>&1
if [ "$(dump)" = "$empty" ]; then ok 0 "down to zero leaves nothing behind"
else ok 1 "down to zero leaves nothing behind"; diff <(echo "$empty") <(dump) | head -n 30 | sed 's/^/# /'; fi
"$AB_BIN" migrate up >/dev/null 2>&1
is "$(dump)" "$full" "up again after down to zero gives the identical schema"

# plan, applied with psql to a second database, builds the same schema.
q -d postgres -c "CREATE DATABASE planned"
planned_url=$(echo "$DATABASE_URL" | sed 's#/agentbase?#/planned?#')
DATABASE_URL=$planned_url "$AB_BIN" migrate plan >"$AGENTBASE_HOME/plan.sql" 2>&1
psql -X -q -v ON_ERROR_STOP=1 -d planned -f "$AGENTBASE_HOME/plan.sql" >/dev/null 2>"$AGENTBASE_HOME/plan.err"
is "$?" 0 "the plan runs in psql without error"
is "$(dump planned)" "$full" "the plan builds the same schema as migrate up"
is "$(DATABASE_URL=$planned_url "$AB_BIN" migrate verify >/dev/null 2>&1; echo $?)" 0 \
    "and records the same versions and checksums (verify passes)"

# Eight migrators at once on an empty database.
q -d postgres -c "CREATE DATABASE racing"
race_url=$(echo "$DATABASE_URL" | sed 's#/agentbase?#/racing?#')
pids=()
for i in 1 2 3 4 5 6 7 8; do
    DATABASE_URL=$race_url timeout 300 "$AB_BIN" migrate up >"$AGENTBASE_HOME/race.$i.log" 2>&1 &
    pids+=($!)
done
codes=""
for p in "${pids[@]}"; do wait "$p"; codes="$codes$?"; done
is "$codes" 00000000 "eight concurrent migrate up all exit 0"
is "$(q -d racing -c "SELECT count(*) || '/' || count(DISTINCT version) || '/' || max(c) FROM (SELECT version, count(*) OVER (PARTITION BY version) c FROM agentbase_migrate.events WHERE event = 'deploy') e")" \
    "$n/$n/1" "each migration was deployed exactly once"
ab_done
