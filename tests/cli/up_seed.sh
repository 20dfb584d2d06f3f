# agentbase up: first run starts the cluster, migrates and seeds (with the demo tenant);
# later runs change nothing. agentbase seed is idempotent and refuses an unmigrated database.
source "$(dirname "$0")/../lib.sh"
plan 18

ab_home
counts() {
    q -c "SELECT (SELECT count(*) FROM agentbase.subscription_plans) || ' ' ||
                 (SELECT count(*) FROM agentbase.ai_model_prices) || ' ' ||
                 (SELECT count(*) FROM agentbase.mcp_servers) || ' ' ||
                 (SELECT count(*) FROM agentbase.project_templates) || ' ' ||
                 (SELECT count(*) FROM agentbase.tenants) || ' ' ||
                 (SELECT count(*) FROM agentbase.users) || ' ' ||
                 (SELECT count(*) FROM agentbase.agents)"
}

out=$("$AB_BIN" up --dev --no-serve 2>&1); rc=$?
is "$rc" 0 "first up exits 0"
ab_pg_start # already running: exports the connection settings
like "$out" "password, to change at first login: in $AGENTBASE_HOME/admin-password" \
    "it says where the admin password is"
like "$out" "platform-admin API key \(create tenants with it\): in $AGENTBASE_HOME/admin-key" \
    "the first run says where the platform-admin key is"
is "$(stat -c %a "$AGENTBASE_HOME/admin-key")" 600 "the admin key file is private (0600)"
admin=$(cat "$AGENTBASE_HOME/admin-key")
is "$(q -c "SELECT count(*) FROM agentbase.platform_api_keys
             WHERE key_hash = encode(sha256(convert_to('$admin', 'UTF8')), 'hex')")" 1 \
    "and the key is a stored platform-admin key"
key=$(cat "$AGENTBASE_HOME/dev-api-key")
is "$(stat -c %a "$AGENTBASE_HOME/dev-api-key")" 600 "the dev API key file is private (0600)"
like "$key" '^ab_[0-9A-Za-z]{36}$' "it holds a well-formed key"
is "$(q -c "SELECT count(*) FROM agentbase.api_keys WHERE key_hash = encode(sha256(convert_to('$key', 'UTF8')), 'hex')
             AND key_prefix = left('$key', 11) AND 'admin' = ANY (scopes)")" 1 \
    "the database holds only its SHA-256 and display prefix"
is "$(stat -c %a "$AGENTBASE_HOME/admin-password")" 600 "the password file is private (0600)"
is "$("$AB_BIN" migrate verify >/dev/null 2>&1; echo $?)" 0 "the database is at the newest version"
is "$(q -c "SELECT count(*) FROM agentbase.subscription_plans WHERE level IN
             ('free','basic','starter','pro','premium','enterprise')")" 6 "the six plans are seeded"
hash=$(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@demo.local'")
like "$hash" '^\$argon2id\$' "the admin's password is stored as an argon2id hash"
is "$(q -c "SELECT must_change_password FROM agentbase.users WHERE email = 'admin@demo.local'")" t \
    "and must be changed at first login"
before=$(counts)
pw=$(cat "$AGENTBASE_HOME/admin-password")

out=$("$AB_BIN" up --dev --no-serve 2>&1); rc=$?
is "$rc" 0 "a second up exits 0"
"$AB_BIN" seed --dev >/dev/null
"$AB_BIN" seed >/dev/null
is "$(counts)" "$before" "seeding again changes no row counts"
is "$(cat "$AGENTBASE_HOME/admin-password") $(cat "$AGENTBASE_HOME/dev-api-key") $(cat "$AGENTBASE_HOME/admin-key")" \
    "$pw $key $admin" "nor the admin password or the API keys"

q -d postgres -c "CREATE DATABASE bare"
out=$(DATABASE_URL=$(echo "$DATABASE_URL" | sed 's#/agentbase?#/bare?#') "$AB_BIN" seed 2>&1); rc=$?
is "$rc" 1 "seed refuses a database that is not migrated"
like "$out" "the database is at version 0000, this agentbase needs" "and says to migrate first"
ab_done
