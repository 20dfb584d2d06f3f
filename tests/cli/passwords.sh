# A fresh install without --dev has a super admin who must change the password at the first
# sign-in; `agentbase users set-password` sets a password from stdin (or a terminal,
# without echo) by the same rules as the API, and ends the user's sessions.
source "$(dirname "$0")/../lib.sh"
plan 36

ab_home
out=$("$AB_BIN" up --no-serve 2>&1); rc=$?
is "$rc" 0 "a first up without --dev exits 0"
ab_pg_start # already running: exports the connection settings
file=$AGENTBASE_HOME/superadmin-password
like "$out" "super admin admin@platform.local \(tenant platform\) password, to change at first login: in $file" \
    "it says where the super admin's password is"
is "$(stat -c %a "$file")" 600 "the password file is private (0600)"
pw=$(cat "$file")
like "$pw" '^[A-Za-z0-9]{24}$' "it holds a generated password"
is "$(q -c "SELECT t.slug || ' ' || u.role || ' ' || u.must_change_password || ' ' || (t.metadata ->> 'platform')
              FROM agentbase.users u JOIN agentbase.tenants t ON t.id = u.tenant_id
             WHERE u.email = 'admin@platform.local'")" "platform admin true true" \
    "the super admin is the admin of the platform tenant and must change the password"
hash=$(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@platform.local'")
like "$hash" '^\$argon2id\$' "only an argon2id hash is stored"
is "$(q -c "SELECT count(*) FROM agentbase.tenants WHERE slug = 'demo'")" 0 "and no demo tenant"

"$AB_BIN" up --no-serve >/dev/null 2>&1
"$AB_BIN" seed >/dev/null
is "$(cat "$file") $(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@platform.local'")" \
    "$pw $hash" "later runs change neither the password nor the file"

# Signing in: the first session can do nothing but change the password.
ab_serve "$AGENTBASE_HOME" AGENTBASE_RATE_LIMIT=0 AGENTBASE_WORKERS=2
[ -n "$port" ] || { echo "Bail out! the server did not start"; exit 1; }
# call METHOD PATH KEY [BODY]: prints the status, then the body on the next line
call() {
    local auth=()
    [ -n "$3" ] && auth=(-H "Authorization: Bearer $3")
    curl -s -o "$AGENTBASE_HOME/body" -w '%{http_code}\n' -X "$1" "${auth[@]}" ${4:+-d "$4"} "$url$2"
    cat "$AGENTBASE_HOME/body"
}
login() {
    call POST /v1/auth/login "" "{\"tenant\": \"platform\", \"email\": \"$1\", \"password\": \"$2\"}"
}
key_of() { sed -nE 's/.*"key": "([^"]+)".*/\1/p' <<<"$1"; }

out=$(login admin@platform.local "$pw")
like "$out" '^200' "the super admin signs in with the generated password"
like "$out" '"must_change_password": true' "and is told to change it"
session=$(key_of "$out")
out=$(call GET /v1/agents "$session")
like "$out" '^403' "that session may not list agents"
like "$out" '"code":"password_change_required"' "because the password must be changed first"
out=$(call POST /v1/auth/password "$session" "{\"old_password\": \"$pw\", \"new_password\": \"platform-owner-phrase\"}")
like "$out" '^200' "it changes the password"
like "$(call GET /v1/agents "$session")" '^200' "and then may"
out=$(login admin@platform.local platform-owner-phrase)
like "$out" '"must_change_password": false' "the next sign-in needs no change"
other=$(key_of "$out")

# agentbase users set-password
out=$(printf 'operator-chose-this\n' | "$AB_BIN" users set-password --tenant platform --email ADMIN@platform.local 2>&1); rc=$?
is "$rc" 0 "users set-password exits 0"
like "$out" '^password of ADMIN@platform.local \(tenant platform\) set; 2 sessions ended$' \
    "it says whose password it set and how many sessions ended"
like "$(call GET /v1/auth/whoami "$session")" '^401' "the user's sessions end"
like "$(call GET /v1/auth/whoami "$other")" '^401' "every one of them"
like "$(login admin@platform.local platform-owner-phrase)" '^401' "the old password no longer signs in"
out=$(login admin@platform.local operator-chose-this)
like "$out" '"must_change_password": false' "the new one does, with nothing to change"
new_hash=$(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@platform.local'")
if [[ "$new_hash" == '$argon2id$'* && "$new_hash" != *operator-chose-this* ]]; then
    ok 0 "only its argon2id hash is stored"
else ok 1 "only its argon2id hash is stored"; fi

printf 'must-change-this-soon\n' | "$AB_BIN" users set-password --tenant platform --email admin@platform.local --must-change >/dev/null
like "$(login admin@platform.local must-change-this-soon)" '"must_change_password": true' \
    "--must-change makes the user change it at the next sign-in"

before=$(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@platform.local'")
out=$(printf 'too-short\n' | "$AB_BIN" users set-password --tenant platform --email admin@platform.local 2>&1); rc=$?
is "$rc" 1 "a short password is refused (exit 1)"
like "$out" 'the password is too short: use at least 12 characters \(rule min_length\)' "naming the rule"
out=$(printf 'Password12345!\n' | "$AB_BIN" users set-password --tenant platform --email admin@platform.local 2>&1)
like "$out" '\(rule common\)' "a common password is refused"
out=$(printf 'superadmin.2024\n' | "$AB_BIN" users set-password --tenant platform --email admin@platform.local 2>&1)
like "$out" '\(rule personal\)' "so is one built on the username"
is "$(q -c "SELECT password_hash FROM agentbase.users WHERE email = 'admin@platform.local'")" "$before" \
    "a refused password changes nothing"
out=$(printf 'a-fine-password-here\n' | "$AB_BIN" users set-password --tenant platform --email nobody@platform.local 2>&1); rc=$?
like "$rc $out" '^1 .*no user nobody@platform.local in tenant platform' "an unknown user is an error"
out=$(printf 'a-fine-password-here\n' | "$AB_BIN" users set-password --tenant nope --email admin@platform.local 2>&1)
like "$out" 'no tenant with slug nope' "so is an unknown tenant"
out=$("$AB_BIN" users set-password --tenant platform --email admin@platform.local </dev/null 2>&1); rc=$?
like "$rc $out" '^1 .*no password on standard input' "an empty stdin sets nothing"
out=$("$AB_BIN" users set-password --tenant platform 2>&1); rc=$?
is "$rc" 2 "a missing --email is a usage error (exit 2)"
out=$("$AB_BIN" users --help); rc=$?
like "$rc $out" '^0 usage: agentbase users set-password --tenant SLUG --email EMAIL \[--must-change\]' \
    "users --help shows the usage"

# On a terminal the password is asked for twice, without echo: script(1) gives the command a
# pseudo-terminal; each line is typed only once its prompt shows.
fifo=$AGENTBASE_HOME/tty-in
mkfifo "$fifo"
script -qefc "$AB_BIN users set-password --tenant platform --email admin@platform.local" /dev/null \
    <"$fifo" >"$AGENTBASE_HOME/tty-out" 2>&1 &
typist=$!
exec 3>"$fifo"
for prompt in 'New password: ' 'Again: '; do
    for _ in $(seq 100); do grep -qF "$prompt" "$AGENTBASE_HOME/tty-out" && break; sleep 0.1; done
    printf 'typed-on-a-terminal\n' >&3
done
wait "$typist"; rc=$?
exec 3>&-
screen=$(tr -d '\r' <"$AGENTBASE_HOME/tty-out")
is "$rc" 0 "on a terminal it prompts and sets the password"
if grep -q typed-on-a-terminal <<<"$screen"; then ok 1 "what is typed is not echoed"; diag "$screen"
else ok 0 "what is typed is not echoed"; fi
like "$(login admin@platform.local typed-on-a-terminal)" '^200' "and the typed password signs in"

kill -TERM "$server"; wait "$server"
ab_done
