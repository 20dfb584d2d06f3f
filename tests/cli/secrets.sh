# Stored secrets end to end: the embedded cluster's key ring, a server with DATABASE_URL
# and no key refusing to start, known secrets written through the API and then absent from
# pg_dump, from audit_logs, from the server's log and from PostgreSQL's own log (which logs
# every statement with its parameters here), reads with and without secrets:read, and a key
# rotation under load after which every secret carries the new key id, the new key opens
# all of them and the old key none.
source "$(dirname "$0")/../lib.sh"
plan 46

ab_home
home=$AGENTBASE_HOME
ab_pg_start

# ---- the embedded cluster's key ring ----------------------------------------------------
is "$(stat -c %a "$home/secret-keys" 2>&1)" 600 "the embedded cluster's first start writes the key ring, mode 0600"
old=$(grep -v '^#' "$home/secret-keys")
like "$old" '^k[0-9]{8}-[0-9a-f]{6}:[A-Za-z0-9+/]{43}=$' "it holds one key: an id and 32 bytes in base64"
old_id=${old%%:*}
"$AB_BIN" pg stop >/dev/null && "$AB_BIN" pg start >/dev/null
is "$(grep -v '^#' "$home/secret-keys")" "$old" "a later start keeps the key"

# ---- with DATABASE_URL, no key means no server -------------------------------------------
out=$(env -u AGENTBASE_SECRET_KEY_FILE "$AB_BIN" serve 2>&1); rc=$?
is "$rc" 1 "serve with DATABASE_URL and no key refuses to start"
like "$out" "no secret key: DATABASE_URL is set, and neither AGENTBASE_SECRET_KEY nor AGENTBASE_SECRET_KEY_FILE names the key ring" \
    "and says why"
like "$out" 'hint: make a key with `agentbase secrets new-key`' "and what to do"
out=$(env -u AGENTBASE_SECRET_KEY_FILE "$AB_BIN" up 2>&1); rc=$?
is "$rc$(q -c "SELECT to_regclass('agentbase.tenants') IS NULL")" "1t" "up refuses too, before it migrates anything"
out=$(AGENTBASE_SECRET_KEY="k1:c2hvcnQ=" "$AB_BIN" serve 2>&1); rc=$?
is "$rc" 1 "a malformed AGENTBASE_SECRET_KEY refuses to start"
like "$out" "AGENTBASE_SECRET_KEY: entry 1 \(key k1\): a key is 32 bytes in base64" "naming the entry at fault"

# ---- PostgreSQL logs every statement with its parameters from here on ----------------------
"$AB_BIN" migrate up >/dev/null && "$AB_BIN" seed >/dev/null
# every statement with its parameters (the embedded cluster logs none of them by default)
q -c "ALTER SYSTEM SET log_min_duration_statement = 0" -c "ALTER SYSTEM SET log_parameter_max_length = -1" \
  -c "SELECT pg_reload_conf()" >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('secrets-test', 'Secrets test')"
admin=$("$AB_BIN" keys create --tenant secrets-test --scopes admin 2>/dev/null)
reader=$("$AB_BIN" keys create --tenant secrets-test --scopes secrets:read 2>/dev/null)
ab_serve "$home" AGENTBASE_WORKERS=2
like "$port" '^[0-9]+$' "the server starts with the key file"

# A GitHub token and an OpenAI key nobody else writes, and an environment variable.
token="ghp_Zq8sTtJ0f3nXwW2yV5bR9cLmA7kEx9Qz"
apikey="sk-live-4Jd9QmWv2ZrT8xYb6NcP1sLe0KhAwxyz"
envval="env-value-Hq3Lr8Vt0Zk2"
call() { # KEY METHOD PATH [BODY]: prints the status line "CODE" then the body
    curl -s -m 10 -o "$home/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $1" \
        ${4:+-d "$4"} "$url$3"
    echo
    cat "$home/body"
}
github=$(q -c "SELECT id FROM agentbase.mcp_servers WHERE name = 'github'")
openai=$(q -c "SELECT id FROM agentbase.ai_providers WHERE name = 'openai'")

# The secrets member's name is escaped on purpose: the body reaches PostgreSQL blanked anyway.
resp=$(call "$admin" POST /v1/mcp-server-configs \
    "{\"server_id\": \"$github\", \"name\": \"github\", \"config\": {\"owner\": \"acme\"}, \"secr\\u0065ts\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"$token\", \"EXTRA_ENV\": \"$envval\"}}")
is "$(head -n 1 <<<"$resp")" 201 "a config is created with its secrets"
config=$(sed -nE 's/.*"id": "([^"]+)".*/\1/p' <<<"$resp" | head -n 1)
like "$resp" '"GITHUB_PERSONAL_ACCESS_TOKEN": \{"set": true, "last4": "x9Qz"\}' "the answer says the token is set, with its last four characters"
resp=$(call "$admin" GET "/v1/mcp-server-configs/$config")
like "$resp" '"secrets": \{"EXTRA_ENV": \{"set": true, "last4": "0Zk2"\}, "GITHUB_PERSONAL_ACCESS_TOKEN": \{"set": true, "last4": "x9Qz"\}\}' \
    "GET shows each secret as set, with its last four characters"
is "$(grep -cF -e "$token" -e "$envval" <<<"$resp")" 0 "and never a value"
resp=$(call "$admin" POST /v1/mcp-server-configs \
    "{\"server_id\": \"$github\", \"name\": \"leaky\", \"config\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"$token\"}}")
is "$(head -n 1 <<<"$resp")" 400 "a secret put in config is refused"
like "$resp" "field 'config.GITHUB_PERSONAL_ACCESS_TOKEN' is a secret of this MCP server: send it in 'secrets'" \
    "naming the field and where it belongs"
resp=$(call "$admin" POST /v1/ai-provider-keys "{\"provider_id\": \"$openai\", \"api_key\": \"$apikey\"}")
is "$(head -n 1 <<<"$resp")" 201 "a provider key is stored"
pkey=$(sed -nE 's/.*"id": "([^"]+)".*/\1/p' <<<"$resp" | head -n 1)
like "$resp" '"api_key": \{"set": true, "last4": "wxyz"\}' "and answered as set, with its last four characters"

# ---- reading a value takes secrets:read, which admin does not grant --------------------------
resp=$(call "$admin" GET "/v1/mcp-server-configs/$config/secrets")
is "$(head -n 1 <<<"$resp")" 403 "an admin key cannot read the secrets' values"
like "$resp" "lacks the scope secrets:read" "it lacks secrets:read"
resp=$(call "$reader" GET "/v1/mcp-server-configs/$config/secrets")
is "$(head -n 1 <<<"$resp")" 200 "a key with secrets:read reads them"
is "$(tail -n 1 <<<"$resp")" "{\"secrets\":{\"EXTRA_ENV\":\"$envval\",\"GITHUB_PERSONAL_ACCESS_TOKEN\":\"$token\"}}" \
    "and gets the values written"
is "$(q -c "SELECT action || ' ' || resource_id || ' ' || (metadata -> 'names')::text FROM agentbase.audit_logs WHERE action LIKE '%secrets_read'")" \
    "mcp_server_config.secrets_read $config [\"EXTRA_ENV\", \"GITHUB_PERSONAL_ACCESS_TOKEN\"]" \
    "the read wrote one audit row, naming the config and the secrets read"
resp=$(call "$reader" GET "/v1/ai-provider-keys/$pkey/api-key")
is "$(tail -n 1 <<<"$resp")" "{\"api_key\":\"$apikey\"}" "the provider key reads back the same way"

# ---- nothing in plain text -------------------------------------------------------------------
pg_dump -d agentbase >"$home/dump.sql"
like "$(grep -c "x9Qz" "$home/dump.sql")" '^[1-9]' "the dump holds the configs (their hints)"
is "$(grep -cF -e "$token" -e "$apikey" -e "$envval" "$home/dump.sql")" 0 "pg_dump holds none of the secrets"
is "$(q -c "SELECT string_agg(action, ' ' ORDER BY action) FROM agentbase.audit_logs WHERE resource_id IN ('$config', '$pkey') AND action NOT LIKE '%_read'")" \
    "ai_provider_key.created mcp_server_config.created" "the writes were audited"
# (grepped here: a query naming the secrets would put them in PostgreSQL's log itself)
q -c "COPY (SELECT * FROM agentbase.audit_logs) TO STDOUT" >"$home/audit"
is "$(grep -cF -e "$token" -e "$apikey" -e "$envval" "$home/audit")" 0 "audit_logs holds none of the secrets"
like "$(grep -c 'parameters: \$1 = ' "$home/pg/log")" '^[1-9]' "PostgreSQL logged statements with their parameters"
is "$(grep -cF -e "$token" -e "$apikey" -e "$envval" "$home/pg/log")" 0 \
    "and none of the secrets is among them (no secret is ever a parameter)"

# ---- rotation under load -------------------------------------------------------------------------
# One live configuration per server: 30 servers of the tenant's own, one configuration each.
q -c "INSERT INTO agentbase.tenant_mcp_servers (tenant_id, name, display_name, transport, command)
      SELECT id, 'load-' || i, 'Load ' || i, 'stdio', 'mcp-load' FROM agentbase.tenants, generate_series(1, 30) i
       WHERE slug = 'secrets-test'" >/dev/null
for i in $(seq 30); do
    server=$(q -c "SELECT id FROM agentbase.tenant_mcp_servers WHERE name = 'load-$i'")
    call "$admin" POST /v1/mcp-server-configs \
        "{\"tenant_server_id\": \"$server\", \"name\": \"load-$i\", \"secrets\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"$token-$i\"}}" |
        head -n 1
done >"$home/created"
is "$(sort -u "$home/created" | tr '\n' ' ')" "201 " "30 more configs with secrets"
cp "$home/secret-keys" "$home/old-keys"
load() { # reads and writes secrets until told to stop; one status code per line
    local n=0
    while [ ! -e "$home/stop" ]; do
        n=$((n + 1))
        call "$reader" GET "/v1/mcp-server-configs/$config/secrets" | head -n 1
        call "$admin" PATCH "/v1/mcp-server-configs/$config" "{\"secrets\": {\"COUNTER\": \"value-$n-of-the-load\"}}" | head -n 1
    done
}
load >"$home/load" &
loader=$!
sleep 0.5
out=$("$AB_BIN" secrets rotate --batch 4 2>&1); rc=$?
sleep 0.5
touch "$home/stop"
wait $loader
is "$rc" 0 "secrets rotate succeeds while the server reads and writes secrets"
new_id=$(sed -nE 's/^new key ([^ ]+) is current.*/\1/p' <<<"$out")
like "$new_id" '^k[0-9]{8}-[0-9a-f]{6}$' "it made a new key current"
like "$out" "no secret is sealed with $old_id any more: retired" "and retired the old one"
like "$(wc -l <"$home/load")" '^ *[1-9][0-9]+$' "the load made requests throughout"
is "$(sort -u "$home/load" | tr '\n' ' ')" "200 " "every one of them succeeded"
is "$(q -c "SELECT string_agg(DISTINCT k, ',') FROM (SELECT secrets_key_id FROM agentbase.mcp_server_configs WHERE secrets_key_id IS NOT NULL UNION ALL SELECT api_key_key_id FROM agentbase.ai_provider_keys) s(k)")" \
    "$new_id" "every stored secret now carries the new key id"
is "$(grep -v '^#' "$home/secret-keys" | cut -d: -f1)" "$new_id" "the key file holds the new key alone"
is "$(stat -c %a "$home/secret-keys")" 600 "still mode 0600"
out=$("$AB_BIN" secrets verify 2>&1); rc=$?
is "$rc $(tail -n 1 <<<"$out")" "0 32 secrets open with the key ring, 0 do not" "the new key opens every secret"
out=$(AGENTBASE_SECRET_KEY_FILE="$home/old-keys" "$AB_BIN" secrets verify 2>&1); rc=$?
like "$rc $(tr '\n' ' ' <<<"$out")" "^1 .*0 secrets open with the key ring, 32 do not" "the old key ring opens none"
# The old key's bytes under the new id: the ciphertexts themselves refuse them.
out=$(AGENTBASE_SECRET_KEY="$new_id:${old#*:}" "$AB_BIN" secrets verify 2>&1); rc=$?
like "$rc $(tr '\n' ' ' <<<"$out")" "^1 .*does not open with key $new_id.*0 secrets open with the key ring, 32 do not" \
    "the old key's bytes open none of them either"
resp=$(call "$reader" GET "/v1/ai-provider-keys/$pkey/api-key")
is "$(tail -n 1 <<<"$resp")" "{\"api_key\":\"$apikey\"}" "the running server reads the re-sealed secrets (it follows the key file)"
like "$("$AB_BIN" secrets status)" "mcp_server_configs.secrets $new_id 31" "status counts the secrets by key id"

# ---- the server's log -------------------------------------------------------------------------
kill -TERM "$server"
wait "$server"
is "$(cat "$home/serve.log" "$home/serve.out" | grep -cF -e "$token" -e "$apikey" -e "$envval" -e value-1-of-the-load)" 0 \
    "the server's log holds none of the secrets"

# ---- with AGENTBASE_SECRET_KEY: rotate re-seals under its first key ------------------------------
third=$("$AB_BIN" secrets new-key --key-id k3 2>/dev/null)
out=$(env -u AGENTBASE_SECRET_KEY_FILE AGENTBASE_SECRET_KEY="$third,$(grep -v '^#' "$home/secret-keys")" \
    "$AB_BIN" secrets rotate 2>&1); rc=$?
like "$rc $(tr '\n' ' ' <<<"$out")" "^0 .*every secret is sealed with k3: remove the other keys from AGENTBASE_SECRET_KEY" \
    "with the variable, rotate re-seals under its first key and names what to remove"
ab_done
