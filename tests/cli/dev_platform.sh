# The development platform's commands: `agentbase migrate new NAME` (the next numbered pair
# with a header, refusing a bad name or an existing file) on a copy of the migrations,
# `agentbase db reset --dev` (refused without --dev and against a server that is not the
# embedded cluster; down to 0, up and the dev seed otherwise), and `agentbase maintain
# containers` putting idle containers to sleep.
source "$(dirname "$0")/../lib.sh"
plan 22

ab_home
m=$AGENTBASE_HOME/migrations
cp -r db/migrations "$m"
last=$(ls "$m" | sed -n 's/^\([0-9]\{4\}\)_.*\.up\.sql$/\1/p' | sort | tail -1)
next=$(printf '%04d' $((10#$last + 1)))

# ---- migrate new ----------------------------------------------------------------------------
out=$("$AB_BIN" migrate new --dir "$m" add_widgets 2>&1); rc=$?
is "$rc" 0 "migrate new exits 0"
is "$out" "$m/${next}_add_widgets.up.sql
$m/${next}_add_widgets.down.sql" "and prints the pair it wrote, numbered after the last"
like "$(cat "$m/${next}_add_widgets.up.sql")" "^-- ${next}_add_widgets \(up\)\." "the up file has a header"
like "$(cat "$m/${next}_add_widgets.down.sql")" "^-- ${next}_add_widgets \(down\): back to $last\." \
    "the down file has one, naming the version it goes back to"
out=$("$AB_BIN" migrate new --dir "$m" more_widgets 2>&1)
like "$out" "$(printf '%04d' $((10#$next + 1)))_more_widgets.up.sql" "the next one takes the next number"
out=$("$AB_BIN" migrate new --dir "$m" Bad-Name 2>&1); rc=$?
is "$rc" 2 "a bad name is a usage error"
like "$out" "NAME of lowercase letters, digits and _" "that says what a name is"
is "$(ls "$m" | grep -c -i 'bad')" 0 "and writes nothing"
touch "$m/$(printf '%04d' $((10#$next + 2)))_taken.down.sql"
out=$("$AB_BIN" migrate new --dir "$m" taken 2>&1); rc=$?
is "$rc" 1 "an existing file is refused"
is "$(ls "$m" | grep -c 'taken.up.sql')" 0 "and its pair is not half-written"
out=$("$AB_BIN" migrate new --dir "$AGENTBASE_HOME/none" x 2>&1); rc=$?
is "$rc" 1 "a directory that does not exist is an error"

# ---- db reset --dev ---------------------------------------------------------------------------
ab_pg_start
"$AB_BIN" migrate up >/dev/null && "$AB_BIN" seed >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('leftover', 'Leftover')"
out=$("$AB_BIN" db reset 2>&1); rc=$?
is "$rc" 2 "db reset without --dev is a usage error"
out=$(DATABASE_URL=postgresql://nobody@192.0.2.1/prod "$AB_BIN" db reset --dev 2>&1); rc=$?
is "$rc" 1 "db reset against another server is refused"
like "$out" "not the embedded cluster \(give --force" "and says how to mean it"
like "$("$AB_BIN" db --help)" "usage: agentbase db reset --dev \[--force\]" "db --help shows the usage"
out=$("$AB_BIN" db reset --dev 2>&1); rc=$?
is "$rc" 0 "db reset --dev on the embedded cluster (its own DATABASE_URL) exits 0"
like "$out" "migrated down to 0, up again, seeded" "and says what it did"
is "$(q -c "SELECT count(*) FROM agentbase.tenants WHERE slug = 'leftover'")" 0 "the data before it is gone"
is "$(q -c "SELECT count(*) FROM agentbase.agents a JOIN agentbase.tenants t ON t.id = a.tenant_id
            WHERE t.slug = 'demo' AND a.agent_type IN (SELECT agent_type FROM agentbase.platform_agents)")" 6 \
    "the demo tenant is back, with the six platform agents"

# ---- maintain containers ---------------------------------------------------------------------
q -c "WITH t AS (SELECT id FROM agentbase.tenants WHERE slug = 'demo'),
           p AS (INSERT INTO agentbase.projects (tenant_id, name) SELECT id, 'idle app' FROM t RETURNING tenant_id, id)
      INSERT INTO agentbase.containers (tenant_id, project_id, status, image, last_active_at)
      SELECT tenant_id, id, 'running', 'node:20', now() - interval '2 hours' FROM p" >/dev/null
out=$("$AB_BIN" maintain containers); rc=$?
like "$out" "^containers +1" "maintain containers puts the idle container to sleep"
is "$(q -c "SELECT status FROM agentbase.containers")" sleeping "it is sleeping"
like "$("$AB_BIN" maintain containers)" "^containers +0" "and a second run has nothing to do"

"$AB_BIN" pg stop >/dev/null
ab_done
