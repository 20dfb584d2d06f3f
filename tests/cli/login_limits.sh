# Sign-ins are limited per account and per client address (429 with Retry-After), and
# argon2id runs on a bounded pool whose full queue answers 503 with Retry-After: for
# sign-ins, and for the new passwords of a user create and an admin's reset.
source "$(dirname "$0")/../lib.sh"
plan 16

ab_home
ab_pg_start
"$AB_BIN" migrate up >/dev/null
q -c "INSERT INTO agentbase.tenants (slug, name) VALUES ('login-test', 'Login test')"
q -c "INSERT INTO agentbase.users (tenant_id, email, username) SELECT id, 'ann@login.test', 'ann' FROM agentbase.tenants WHERE slug = 'login-test'"
echo 'a-long-enough-passphrase-9' | "$AB_BIN" users set-password --tenant login-test \
    --email ann@login.test >/dev/null 2>&1
ok $? "ann has a password"

# $1 source address, $2 e-mail, $3 password: "status body" (with Retry-After: "status s body").
login() {
    curl -s -m 20 -D "$AGENTBASE_HOME/h" -o "$AGENTBASE_HOME/b" -w '%{http_code}' \
        --interface "$1" -H 'Content-Type: application/json' \
        -d "{\"tenant\": \"login-test\", \"email\": \"$2\", \"password\": \"$3\"}" "$url/v1/auth/login"
    printf ' %s' "$(tr -d '\r' <"$AGENTBASE_HOME/h" | sed -n 's/^Retry-After: //p')"
    printf '%s' "$(cat "$AGENTBASE_HOME/b")"
}

# ---- per account: 3 a minute; per address: 5 a minute ----------------------------------------
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=2 AGENTBASE_LOGIN_RATE_ACCOUNT=3 \
    AGENTBASE_LOGIN_RATE_ADDRESS=5
codes=""
for i in 1 2 3; do codes="$codes$(login 127.0.0.1 ann@login.test wrong-password | cut -c1-3) "; done
is "$codes" "401 401 401 " "three wrong passwords for one account are answered 401"
like "$(login 127.0.0.1 ann@login.test wrong-password)" \
    '^429 [0-9]+\{"error":\{"type":"[a-z_]+","code":"rate_limited","message":"too many sign-in attempts for this account; retry in [0-9]+ s","param":null,"request_id":"[0-9a-f]+"\}\}$' \
    "the fourth is 429 with Retry-After and says the account is limited"
like "$(login 127.0.0.2 ANN@login.test a-long-enough-passphrase-9)" '^429 [0-9]+.*for this account' \
    "the account stays limited from another address, in any case, with the right password"
codes=""
for i in 1 2 3 4; do codes="$codes$(login 127.0.0.3 "nobody$i@login.test" x | cut -c1-3) "; done
is "$codes" "401 401 401 401 " "one address may try other accounts up to its limit"
like "$(login 127.0.0.3 ann@login.test a-long-enough-passphrase-9 | cut -c1-3)" '^429$' \
    "an account limited meanwhile is limited for it too"
like "$(login 127.0.0.3 nobody9@login.test x)" \
    '^429 [0-9]+\{"error":\{"type":"[a-z_]+","code":"rate_limited","message":"too many sign-in attempts from this address; retry in [0-9]+ s","param":null,"request_id":"[0-9a-f]+"\}\}$' \
    "past its limit the address gets 429 with Retry-After and says the address is limited"
kill -TERM $server; wait $server
is "$?" 0 "the server stops cleanly"

# ---- the hashing pool: one thread, one waiting job --------------------------------------------
ab_serve "$AGENTBASE_HOME" AGENTBASE_WORKERS=4 AGENTBASE_LOGIN_RATE_ACCOUNT=0 \
    AGENTBASE_LOGIN_RATE_ADDRESS=0 AGENTBASE_HASH_THREADS=1 AGENTBASE_HASH_QUEUE=1
like "$(login 127.0.0.1 ann@login.test a-long-enough-passphrase-9)" '^200 \{' \
    "a sign-in alone is served"
for i in $(seq 24); do
    curl -s -m 30 -D "$AGENTBASE_HOME/burst.$i.h" -o "$AGENTBASE_HOME/burst.$i.b" -w '%{http_code}\n' \
        -H 'Content-Type: application/json' \
        -d '{"tenant": "login-test", "email": "ann@login.test", "password": "a-long-enough-passphrase-9"}' \
        "$url/v1/auth/login" >"$AGENTBASE_HOME/burst.$i" &
done
wait $(jobs -p | grep -v "^$server$") 2>/dev/null
all=$(cat "$AGENTBASE_HOME"/burst.? "$AGENTBASE_HOME"/burst.?? | sort | uniq -c | tr -s ' ' | tr '\n' ';')
like "$all" '^ [0-9]+ 200; [0-9]+ 503;$' \
    "24 sign-ins at once past one thread and one waiting: some served, the rest 503 ($all)"
busy=$(grep -l '"code":"busy"' "$AGENTBASE_HOME"/burst.*.b | head -n 1)
like "$(tr -d '\r' <"${busy%.b}.h" | grep '^Retry-After:') $(cat "$busy")" \
    '^Retry-After: 1 \{"error":\{"type":"[a-z_]+","code":"busy","message":"too many passwords are being checked at once; retry in a second","param":null,"request_id":"[0-9a-f]+"\}\}$' \
    "a 503 of the full queue says so, with Retry-After"

# $1 name, $2 count, then curl's arguments: fires them all at once; prints "N 2xx; N 503;".
burst() {
    local name=$1 n=$2 i
    shift 2
    for i in $(seq "$n"); do
        curl -s -m 30 -o "$AGENTBASE_HOME/$name.$i.b" -w '%{http_code}\n' \
            -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' \
            "${@//@I@/$i}" >"$AGENTBASE_HOME/$name.$i" &
    done
    wait $(jobs -p | grep -v "^$server$") 2>/dev/null
    cat "$AGENTBASE_HOME/$name".? "$AGENTBASE_HOME/$name".?? 2>/dev/null | sort | uniq -c |
        tr -s ' ' | tr '\n' ';'
}
admin=$("$AB_BIN" keys create --tenant login-test --name "pool test" 2>/dev/null | tail -n 1)
ann=$(q -tAc "SELECT id FROM agentbase.users WHERE email = 'ann@login.test'")
all=$(burst create 16 -d '{"email": "user@I@@login.test", "password": "another-long-passphrase-4"}' \
    "$url/v1/users")
like "$all" '^ [0-9]+ 201; [0-9]+ 503;$' \
    "16 user creates with a password at once: hashed on the same pool, the rest 503 ($all)"
is "$(q -tAc "SELECT count(*) FILTER (WHERE password_hash LIKE '\$argon2id\$%'), count(*)
                FROM agentbase.users WHERE email LIKE 'user%@login.test'")" \
    "$(cat "$AGENTBASE_HOME"/create.? "$AGENTBASE_HOME"/create.?? | grep -c '^201$' |
        sed 's/.*/&|&/')" \
    "every user created has its password hash, and a refused create wrote nothing"
all=$(burst reset 16 -d '{"new_password": "a-new-long-passphrase-@I@"}' \
    "$url/v1/users/$ann/password")
like "$all" '^ [0-9]+ 200; [0-9]+ 503;$' "16 password resets at once: the same ($all)"
like "$(cat "$(grep -l '"code":"busy"' "$AGENTBASE_HOME"/reset.*.b | head -n 1)")" \
    '"code":"busy","message":"too many passwords are being checked at once' \
    "a reset refused by the full queue says why"
kill -TERM $server; wait $server
is "$?" 0 "the server stops cleanly"
ab_done
