# The migration engine on purpose-built migration sets: failures are atomic and name the
# file and line, drift is caught, a SIGKILLed migrator leaves nothing behind, CREATE INDEX
# CONCURRENTLY works while other migrators wait, and out-of-order versions are refused.
source "$(dirname "$0")/../lib.sh"
plan 27

ab_home
ab_pg_start
m=$AGENTBASE_HOME/m
mkdir -p "$m"
migrate() { "$AB_BIN" migrate --dir "$m" "$@"; }
version() { q -c "SELECT coalesce(max(version), 0) FROM agentbase_migrate.versions"; }
add() { # add VERSION NAME UP DOWN
    printf '%s' "$3" >"$m/$1_$2.up.sql"
    printf '%s' "$4" >"$m/$1_$2.down.sql"
}

add 0001 base "CREATE TABLE t (id int PRIMARY KEY, x int);
INSERT INTO t SELECT g, g FROM generate_series(1, 5000) g;
" "DROP TABLE t;"

# ---- a failing migration --------------------------------------------------------------
add 0002 bad "CREATE TABLE half (x int);
INSERT INTO half VALUES (1);

SELECT *
  FROM no_such_table;
" "DROP TABLE half;"
out=$(migrate up 2>&1); rc=$?
is "$rc" 1 "a failing migration exits 1"
like "$out" "0002_bad.up.sql failed at line 5: relation \"no_such_table\" does not exist" \
    "the error names the file, the line and PostgreSQL's message"
like "$out" "statement 3 of 3 \(line 4\): SELECT \*" "and shows the statement"
is "$(version)" 1 "the version stays at the last good migration"
is "$(q -c "SELECT to_regclass('half') IS NULL")" t "nothing of the failed migration remains"
is "$(q -c "SELECT count(*) FROM agentbase_migrate.events WHERE event = 'fail' AND version = 2")" 1 \
    "the failure is recorded as an event"

# ---- SIGKILL in the middle of a migration ------------------------------------------------
add 0002 bad "CREATE TABLE half (x int);
SELECT pg_sleep(30);
" "DROP TABLE half;"
"$AB_BIN" migrate --dir "$m" up >"$AGENTBASE_HOME/kill.log" 2>&1 &
mpid=$!
for _ in $(seq 100); do
    [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%'")" = 1 ] && break
    sleep 0.1
done
kill -KILL "$mpid"
wait "$mpid" 2>/dev/null
gone=no
for _ in $(seq 50); do
    if [ "$(q -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 0 ] &&
       [ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'agentbase migrate%'")" = 0 ]; then
        gone=yes; break
    fi
    sleep 0.2
done
is "$gone" yes "after SIGKILL the lock and the migrator's sessions are gone within seconds"
is "$(version)" 1 "the killed migration left the version unchanged"
is "$(q -c "SELECT to_regclass('half') IS NULL")" t "and no partial migration"
add 0002 bad "CREATE TABLE half (x int);
" "DROP TABLE half;"
out=$(migrate up 2>&1); rc=$?
is "$rc" 0 "the next up simply succeeds"
is "$(version)" 2 "and applies the migration"

# ---- drift ---------------------------------------------------------------------------
printf '%s' "CREATE TABLE half (x bigint);
" >"$m/0002_bad.up.sql"
out=$(migrate status 2>&1)
like "$out" "0002 +0002_bad +DRIFTED" "status shows the changed migration as drifted"
out=$(migrate verify 2>&1); rc=$?
is "$rc" 1 "verify exits 1 on a changed checksum"
like "$out" "0002_bad changed after it was applied" "verify says which migration changed"
out=$(migrate up 2>&1); rc=$?
is "$rc" 1 "up refuses to run on a drifted history"
migrate stamp 2 >/dev/null
out=$(migrate verify 2>&1); rc=$?
is "$rc" 0 "stamp records the new checksum; verify passes again"

# ---- a database version the binary does not know -----------------------------------------
q -c "INSERT INTO agentbase_migrate.versions (version, name, checksum) VALUES (99, '0099_future', 'x')"
out=$(migrate verify 2>&1); rc=$?
is "$rc" 1 "verify exits 1 when the database has an unknown version"
like "$out" "0099_future is applied but unknown" "naming it"
q -c "DELETE FROM agentbase_migrate.versions WHERE version = 99"

# ---- out of order ------------------------------------------------------------------------
add 0004 later "CREATE TABLE later (x int);" "DROP TABLE later;"
migrate up >/dev/null
add 0003 between "CREATE TABLE between_t (x int);" "DROP TABLE between_t;"
out=$(migrate up 2>&1); rc=$?
is "$rc" 1 "a pending migration older than the newest applied is refused"
like "$out" "0003_between is pending but older than the newest applied migration \(0004\)" "with the reason"
out=$(migrate up --allow-out-of-order 2>&1); rc=$?
is "$rc" 0 "--allow-out-of-order applies it"

# ---- CREATE INDEX CONCURRENTLY while other migrators wait ---------------------------------
# An index whose build takes seconds, so that the other migrators really wait.
q -c "CREATE FUNCTION slow_id(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS 'BEGIN PERFORM pg_sleep(0.0002); RETURN \$1; END'"
add 0005 idx "-- agentbase:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_slow ON t (slow_id(x));
" "-- agentbase:no-transaction
DROP INDEX CONCURRENTLY IF EXISTS idx_t_slow;
"
add 0006 after_idx "CREATE TABLE after_idx (x int);" "DROP TABLE after_idx;"
pids=()
for i in 1 2 3 4; do
    timeout 120 "$AB_BIN" migrate --dir "$m" up >"$AGENTBASE_HOME/cic.$i.log" 2>&1 &
    pids+=($!)
done
codes=""
for p in "${pids[@]}"; do wait "$p"; codes="$codes$?"; done
is "$codes" 0000 "four migrators with a CREATE INDEX CONCURRENTLY all exit 0 (no deadlock, no hang)"
is "$(q -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_t_slow'::regclass")" t \
    "the index is valid"
is "$(q -c "SELECT count(*) FROM agentbase_migrate.events WHERE event = 'deploy' AND version IN (5, 6)")" 2 \
    "each migration was deployed exactly once"
like "$(cat "$AGENTBASE_HOME"/cic.*.log)" "waiting for the migration lock, held by server pid [0-9]+ \(agentbase migrate" \
    "waiting migrators said who holds the lock"

# ---- an invalid index left by an interrupted build is rebuilt -----------------------------
migrate down --count 2 >/dev/null
q -c "CREATE INDEX idx_t_slow ON t (x); UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'idx_t_slow'::regclass"
out=$(migrate up 2>&1); rc=$?
like "$out" "dropping invalid index idx_t_slow left by an interrupted run" \
    "an invalid index from an interrupted CREATE INDEX CONCURRENTLY is dropped and rebuilt"
is "$(q -c "SELECT indisvalid FROM pg_index WHERE indexrelid = 'idx_t_slow'::regclass")" t \
    "and the rebuilt index is valid"
ab_done
