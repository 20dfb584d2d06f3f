# The embedded cluster: start, stop, restart after an unclean kill, stale pid files, the
# errors a user meets (missing programs, busy port, another major version), and running
# as the postgres user when agentbase runs as root.
source "$(dirname "$0")/../lib.sh"
plan 19

ab_home
out=$("$AB_BIN" pg status); rc=$?
is "$rc" 3 "status before the first start exits 3"
like "$out" "not created" "status says the cluster does not exist yet"

out=$("$AB_BIN" pg start 2>&1); rc=$?
is "$rc" 0 "first start creates and starts the cluster"
ab_pg_start # exports PG* for psql
is "$(q -c 'SHOW data_checksums')" on "data checksums are on"
is "$(q -c "SELECT current_setting('listen_addresses')")" "" "no TCP without --port"
is "$(q -c 'SELECT 1' "$("$AB_BIN" pg url)")" 1 "pg url is accepted by psql"
pid=$(head -n 1 "$AGENTBASE_HOME/pg/data/postmaster.pid")
if [ "$(id -u)" -eq 0 ]; then
    is "$(ps -o user= -p "$pid" | tr -d ' ')" postgres "as root, the server runs as postgres"
else
    is "$(ps -o user= -p "$pid" | tr -d ' ')" "$(id -un)" "the server runs as the current user"
fi
is "$("$AB_BIN" pg start >/dev/null 2>&1; echo $?)" 0 "start when running is a no-op"

kill -KILL "$pid"
# Wait until it is dead (a zombie counts as dead: nothing may reap it here).
for _ in $(seq 50); do
    st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
    [ -z "$st" ] || [ "$st" = Z ] && break
    sleep 0.1
done
out=$("$AB_BIN" pg start 2>&1); rc=$?
is "$rc" 0 "start after SIGKILL of the postmaster recovers"
is "$(q -c 'SELECT count(*) FROM pg_database WHERE datname = '\''agentbase'\''')" 1 \
    "the agentbase database survives the crash"

"$AB_BIN" pg stop >/dev/null
out=$("$AB_BIN" pg status); rc=$?
is "$rc" 3 "status after stop exits 3"

# A postmaster.pid naming a live process that is not PostgreSQL (a reused pid).
sleep 60 & other=$!
sed -i "1s/.*/$other/" "$AGENTBASE_HOME/pg/data/postmaster.pid" 2>/dev/null ||
    { echo "$other" >"$AGENTBASE_HOME/pg/data/postmaster.pid"; }
out=$("$AB_BIN" pg start 2>&1); rc=$?
is "$rc" 0 "start clears a postmaster.pid whose pid is not postgres"
like "$out" "removed stale" "and says so"
kill "$other" 2>/dev/null

# TCP on a port, then a second cluster on the same port.
"$AB_BIN" pg stop >/dev/null
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports of outgoing connections
"$AB_BIN" pg start --port "$port" >/dev/null
is "$(q -c 'SELECT 1' "$("$AB_BIN" pg url --tcp)")" 1 "with --port, the TCP url works (with its password)"
first=$AGENTBASE_HOME
ab_home
out=$("$AB_BIN" pg start --port "$port" 2>&1); rc=$?
is "$rc" 1 "a busy port is refused"
like "$out" "port $port on 127.0.0.1 is in use" "naming the port"
AGENTBASE_HOME=$first "$AB_BIN" pg stop >/dev/null

# Missing programs, and a data directory of another major version.
out=$(AGENTBASE_PG_BINDIR=/nonexistent "$AB_BIN" pg start 2>&1)
like "$out" "AGENTBASE_PG_BINDIR=/nonexistent has no initdb" "missing programs are named"
export AGENTBASE_HOME=$first
echo 14 >"$AGENTBASE_HOME/pg/data/PG_VERSION"
out=$(AGENTBASE_PG_BINDIR=/usr/lib/postgresql/15/bin "$AB_BIN" pg start 2>&1); rc=$?
is "$rc" 1 "a data directory of another major version is refused"
like "$out" "created by PostgreSQL 14, but the programs in .* are PostgreSQL 15" \
    "naming both versions"
ab_done
