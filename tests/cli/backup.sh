# Backups and point-in-time recovery of the embedded cluster (pgBackRest): WAL archived from
# the first start; restore to a time between two sets of writes gives exactly the first;
# restore to latest after the data directory is deleted loses nothing archived; a backup
# taken under accounting load restores every acknowledged settle with its ledger;
# /readyz and /metrics say when archiving fails; bad input gets a clear error.
source "$(dirname "$0")/../lib.sh"
plan 45

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
"$AB_BIN" seed >/dev/null
head=$(q -c "SELECT max(version) FROM agentbase_migrate.versions")

is "$(q -c "SHOW archive_mode")" on "the embedded cluster archives WAL from its first start"
like "$(q -c "SHOW archive_command")" "pgbackrest' --config-path='$AGENTBASE_HOME' --stanza=agentbase archive-push %p$" \
    "... with pgBackRest's archive-push and agentbase's own configuration"
like "$(cat "$AGENTBASE_HOME/pgbackrest.conf")" "^repo1-path=$AGENTBASE_HOME/backup$" \
    "agentbase writes pgbackrest.conf, with the repository under AGENTBASE_HOME by default"

# ---- bad input ----------------------------------------------------------------------------
out=$("$AB_BIN" backup --type weekly 2>&1)
is "$?:$out" "2:agentbase backup: --type takes full, diff or incr, not 'weekly' (see agentbase backup --help)" \
    "backup refuses an unknown --type"
out=$("$AB_BIN" backup lists 2>&1)
is "$?:$out" "2:agentbase backup: unknown subcommand 'lists' (see agentbase backup --help)" \
    "backup refuses an unknown subcommand"
out=$("$AB_BIN" restore --to yesterday 2>&1)
is "$?:$(echo "$out" | head -n 1)" "2:agentbase: error: 'yesterday' is not a point in time" \
    "restore refuses a --to that is not a time"
out=$("$AB_BIN" restore --to '2026-02-30 12:00' 2>&1)
is "$?:$(echo "$out" | head -n 1)" "2:agentbase: error: '2026-02-30 12:00' is not a point in time" \
    "... and a day that does not exist"
out=$("$AB_BIN" restore 2>&1)
is "$?:$out" "2:agentbase restore: say where to: --to TIME or --to-latest (one) (see agentbase restore --help)" \
    "restore needs a target"
out=$("$AB_BIN" restore --to-latest 2>&1)
is "$?:$out" "1:agentbase: error: the repository holds no backup to restore" \
    "restore without a backup says so"
out=$(AGENTBASE_BACKUP_SCHEDULE=weekly "$AB_BIN" maintain backup 2>&1)
is "$?:$(echo "$out" | head -n 1)" "1:agentbase: error: AGENTBASE_BACKUP_SCHEDULE is not a schedule" \
    "a bad AGENTBASE_BACKUP_SCHEDULE is refused"
out=$(DATABASE_URL=postgresql://someone@db.example/agentbase "$AB_BIN" backup 2>&1)
like "$out" "no embedded cluster to back up" "backup refuses a server agentbase does not manage"

# ---- restore --to a time between two sets of writes ----------------------------------------
out=$("$AB_BIN" backup --type full 2>&1)
like "$out" '^backup taken in .*: [0-9]{8}-[0-9]{6}F \(full\)$' "backup --type full takes a full backup"
like "$("$AB_BIN" backup list)" $'^[0-9]{8}-[0-9]{6}F +full ' "backup list shows it"
out=$("$AB_BIN" backup verify 2>&1)
is "$?" 0 "backup verify passes"
like "$out" $'^check: +ok: .*\nverify: +ok: ' "... having checked the archiving and every file"
file=$(find "$AGENTBASE_HOME/backup/backup" -name '*.lz4' -size +8k | head -n 1)
cp -p "$file" "$AGENTBASE_HOME/saved"
printf garbage | dd of="$file" bs=1 seek=100 conv=notrunc 2>/dev/null
out=$("$AB_BIN" backup verify 2>&1)
is "$?:$(echo "$out" | grep "^agentbase: error")" "1:agentbase: error: the repository holds damaged or missing files" \
    "backup verify finds a damaged file in the repository"
cp -p "$AGENTBASE_HOME/saved" "$file"
slugs() { q -c "SELECT string_agg(slug, ',' ORDER BY slug) FROM agentbase.tenants WHERE slug LIKE '$1'"; }
q -c "INSERT INTO agentbase.tenants (slug, name) SELECT 'pitr-a' || n, 'before' FROM generate_series(1, 5) n"
target=$(q -c "SELECT clock_timestamp()")
sleep 0.2
q -c "INSERT INTO agentbase.tenants (slug, name) SELECT 'pitr-b' || n, 'after' FROM generate_series(1, 5) n"

out=$("$AB_BIN" restore --to "$target" 2>&1)
is "$?:$(echo "$out" | head -n 1)" "1:agentbase: error: the embedded cluster is running (pid $(head -n 1 "$AGENTBASE_HOME/pg/data/postmaster.pid"))" \
    "restore refuses a running cluster without --force"
is "$(slugs 'pitr-%')" "pitr-a1,pitr-a2,pitr-a3,pitr-a4,pitr-a5,pitr-b1,pitr-b2,pitr-b3,pitr-b4,pitr-b5" \
    "... and leaves it as it was"
out=$("$AB_BIN" restore --force --to "$target" 2>&1)
is "$?" 0 "restore --force --to TIME succeeds"
like "$out" "^restore: the embedded cluster in $AGENTBASE_HOME/pg/data \(running: it is stopped first\)" \
    "it says what it will do first"
like "$out" "schema: at version $(printf %04d "$head"), as this agentbase expects; migrate verify passes" \
    "it checks the schema version and migrate verify"
is "$(slugs 'pitr-%')" "pitr-a1,pitr-a2,pitr-a3,pitr-a4,pitr-a5" \
    "exactly the rows committed before the target time are there"
"$AB_BIN" migrate verify >/dev/null
is "$?" 0 "the restored database passes migrate verify"
admin=$("$AB_BIN" keys create --platform-admin 2>/dev/null)
ab_serve "$AGENTBASE_HOME"
is "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" 200 "the restored database is ready"
like "$(curl -s -H "Authorization: Bearer $admin" "$url/v1/tenants?limit=100")" '"slug": ?"pitr-a3"' \
    "... and the API serves its rows"
kill -TERM $server
wait $server

# ---- restore --to-latest after the data directory is deleted -------------------------------
q -c "INSERT INTO agentbase.tenants (slug, name) SELECT 'late-' || n, 'later' FROM generate_series(1, 5) n"
# Committed WAL reaches the repository when its segment is full or after archive_timeout
# (60 s); the switch makes that now.
wal=$(q -c "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 100); do
    [ "$(q -c "SELECT last_archived_wal >= '$wal' FROM pg_stat_archiver")" = t ] && break
    sleep 0.1
done
"$AB_BIN" pg stop >/dev/null
rm -rf "$AGENTBASE_HOME/pg/data"
out=$("$AB_BIN" restore --to-latest 2>&1)
is "$?" 0 "restore --to-latest rebuilds a deleted data directory"
is "$(slugs 'pitr-%');$(slugs 'late-%')" "pitr-a1,pitr-a2,pitr-a3,pitr-a4,pitr-a5;late-1,late-2,late-3,late-4,late-5" \
    "... with everything committed, on the timeline of the earlier restore"

# ---- a cluster without archiving gets it at its next start ---------------------------------
ab_home
out=$(PATH=/nonexistent "$AB_BIN" pg start 2>&1)
like "$out" "warning: pgBackRest is not installed: WAL archiving is off" \
    "without pgBackRest the cluster starts, and says that it does not archive"
is "$(q -h "$AGENTBASE_HOME/pg/run" -U postgres -d agentbase -c "SHOW archive_mode")" off \
    "... with archive_mode off"
"$AB_BIN" pg stop >/dev/null

# ---- a backup under accounting load --------------------------------------------------------
ab_pg_start
is "$(q -c "SHOW archive_mode")" on "a cluster made without archiving archives from its next start"
"$AB_BIN" migrate up >/dev/null
"$AB_BIN" seed >/dev/null
ab_usage_setup
is "$("$AB_BIN" maintain backup)" "backup       1" "maintain takes the first backup the schedule asks for"
is "$("$AB_BIN" maintain backup)" "backup       0" "... and none again while the newest is fresh"
ab_serve "$AGENTBASE_HOME" AGENTBASE_RATE_LIMIT=0
for c in 1 2 3 4; do ab_usage_client $c & done
sleep 1
out=$("$AB_BIN" backup --type incr 2>&1)
like "$out" 'I \(incr\)$' "an incremental backup is taken while the load runs"
sleep 1
kill -TERM $server
wait $server
wait
ab_usage_acked
diag "$n settles were answered 200 during the backup"
[ "$n" -gt 20 ]
ok $? "the clients settled reservations around the backup"
"$AB_BIN" restore --force --to-latest >/dev/null 2>&1
is "$?" 0 "restore --force --to-latest"
is "$(ab_usage_settled)" "$n" \
    "every settle answered 200 is in the restored database, with its ai_requests row"
is "$(q -c "$AB_LEDGER_INVARIANTS")" 0 "every wallet agrees with its ledger and its holds"
AGENTBASE_BACKUP_RETAIN_FULL=1 "$AB_BIN" backup --type full >/dev/null 2>&1
is "$("$AB_BIN" backup list | grep -cE '^[0-9]{8}-')" 1 \
    "with AGENTBASE_BACKUP_RETAIN_FULL=1 a new full backup expires the older ones"

# ---- WAL archiving broken on purpose -------------------------------------------------------
ab_serve "$AGENTBASE_HOME" AGENTBASE_BACKUP_CHECK_INTERVAL=1 AGENTBASE_METRICS_TOKEN=tok
metrics() { curl -s -H "Authorization: Bearer tok" "$url/metrics"; }
for _ in $(seq 50); do metrics | grep -q '^agentbase_wal_archive_failing' && break; sleep 0.1; done
like "$(metrics)" $'\nagentbase_wal_archive_failing 0' "/metrics: archiving works"
like "$(metrics)" $'\nagentbase_backup_newest_age_seconds [0-9]+' "/metrics: the newest backup's age"
like "$(curl -s "$url/readyz")" '"backup":\{"archiving":"ok","newest_backup":"[0-9]{8}-' \
    "/readyz: archiving ok, and the newest backup"
chmod 000 "$AGENTBASE_HOME/backup" # the cluster runs as postgres: it cannot write there now
q -c "SELECT pg_switch_wal() FROM (SELECT txid_current()) x" >/dev/null
for _ in $(seq 200); do metrics | grep -q '^agentbase_wal_archive_failing 1' && break; sleep 0.1; done
like "$(metrics)" $'\nagentbase_wal_archive_failing 1' "/metrics: archiving fails"
like "$(metrics)" $'\nagentbase_wal_archive_failed_total [1-9]' "... with the failed attempts counted"
readyz=$(curl -s -w '\n%{http_code}' "$url/readyz")
like "$readyz" '"archiving":"failing","failed_wal":"[0-9A-F]{24}"' "/readyz names the failing archive"
is "$(echo "$readyz" | tail -n 1)" 200 "... and stays 200: the instance can still serve"
chmod 750 "$AGENTBASE_HOME/backup"
kill -TERM $server
wait $server
ab_done
