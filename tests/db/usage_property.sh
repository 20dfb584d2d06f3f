# The accounting batch against one operation at a time (issue 15): a seeded random mix of
# reserves (some refused by a wallet, a quota, a budget or the plan; some retried with their
# Idempotency-Key, some reusing a key for another request), settles (within, above and far
# above what was reserved, twice, of released or expired reservations), releases, events
# and expiries, for 4 tenants of 6 users each, applied to two identical worlds: world A
# gets every batch (1 to 64 operations of several tenants) in one usage_apply call, world B
# the same operations one per usage_apply call and transaction (as the service's fallback
# applies a failed batch), in the order the batch documents it applies them (0010's header:
# tenant by tenant, user by user, each user's in arrival order; a settle, release or expiry
# belongs to its reservation's user). Both must end with the same answers, wallets, ledger
# entries, reservations, quota and plan counters, budgets, budget alerts (once per period),
# system alerts, ai_requests, cost rollups, usage metrics and stored idempotent responses,
# every id replaced by its logical name. Then each world must hold its invariants: every
# wallet equals its ledger, every held counter equals its open reservations, every usage
# counter equals its ai_requests, and no reservation pushed a counter past its limit.
#
# Between batches, as the owner and identically in both worlds: some reservations are made
# to have expired (their expires_at put in the past), some wallets are credited and a few
# budgets made inactive (their reservations then give them back outside the batch's state).
#
# A run that crosses midnight UTC (or a month's end) may see A's and B's daily (monthly)
# counters roll over at different calls; run it again.
#
#   PROPERTY_SEED  the generator's seeds, positive integers (default "15001 15002": two runs)
#   PROPERTY_OPS   operations per run (default 1000)
#   PROPERTY_SKIP  a step world B leaves out, to see the test fail (default none)
# The accounting calls run as agentbase_app, as the service's batchers do; the machinery is
# tests/db/usage_property.sql, in a schema of its own, dropped at exit with both worlds.
source "$(dirname "$0")/../lib.sh"

seeds=${PROPERTY_SEED:-15001 15002}
ops=${PROPERTY_OPS:-1000}
skip=${PROPERTY_SKIP:-0}
facets=("answers" "wallets" "ledger" "holds" "quotas" "plan counters" "budgets" "budget alerts"
        "system alerts" "ai_requests" "cost rollups" "usage metrics" "idempotency keys")
nseeds=$(echo $seeds | wc -w)
plan $((nseeds * (${#facets[@]} + 8)))

cleanup() {
    q -c "DELETE FROM agentbase.tenants WHERE slug LIKE 'usage-prop-%'" -c "DROP SCHEMA IF EXISTS abprop CASCADE" \
        >/dev/null 2>&1
    ab_cleanup
}
trap cleanup EXIT

# The tenants of the worlds, and a name for them in the checks below.
ours="SELECT id FROM agentbase.tenants WHERE slug LIKE 'usage-prop-%'"

# Counts the rows of a query, and shows the first ones if there are any.
none() {
    local got
    got=$(q -c "SELECT count(*) FROM ($1) x")
    is "$got" 0 "$2"
    [ "$got" = 0 ] || diag "$(q -c "SELECT x::text FROM ($1) x LIMIT 5")"
}

for seed in $seeds; do
    q -c "DELETE FROM agentbase.tenants WHERE slug LIKE 'usage-prop-%'" >/dev/null
    q -f "$(dirname "$0")/usage_property.sql" >/dev/null 2>&1 || q -f "$(dirname "$0")/usage_property.sql"
    q -c "SELECT abprop.build('A', $seed), abprop.build('B', $seed), abprop.generate($seed, $ops)" >/dev/null
    diag "seed $seed: $(q -c "SELECT count(*) FILTER (WHERE kind = 'op') || ' operations in '
              || count(DISTINCT batch) FILTER (WHERE kind = 'op') || ' batches (largest '
              || (SELECT max(c) FROM (SELECT count(*) c FROM abprop.steps WHERE kind = 'op' GROUP BY batch) m) || '), '
              || count(*) FILTER (WHERE kind = 'mark') || ' expiries and '
              || count(*) FILTER (WHERE kind = 'credit') || ' credits and '
              || count(*) FILTER (WHERE kind = 'budget') || ' budgets made inactive between batches; '
              || (SELECT count(*) FROM abprop.names WHERE world = 'A' AND name ~ '^t') || ' tenants, '
              || (SELECT count(*) FROM abprop.names WHERE world = 'A' AND name ~ '^u') || ' users per world'
              FROM abprop.steps")"
    started=$(date +%s)
    out=$(q -c "CALL abprop.run($skip)" 2>&1)
    is "$out" "" "seed $seed: both worlds applied the plan without an error"
    q -c "SELECT abprop.collect()" >/dev/null
    diag "seed $seed: applied in $(($(date +%s) - started)) s; world A's answers: $(q -c "
          SELECT string_agg(n || ' ' || s, ', ' ORDER BY n DESC) FROM (
            SELECT coalesce(answer #>> '{body,error,code}', answer ->> 'status')
                   || CASE WHEN answer ? 'replayed' THEN ' (replayed)' ELSE '' END AS s, count(*) AS n
              FROM abprop.answers WHERE world = 'A' GROUP BY 1) x")"

    # The mix must reach every path, or the comparisons below would prove little (a much
    # smaller PROPERTY_OPS may miss one).
    is "$(q -c "SELECT string_agg(want, ', ') FROM unnest(ARRAY[
                  'reserve 201', 'reserve 201 replayed', 'reserve idempotency_key_reused', 'reserve insufficient_tokens',
                  'reserve quota_exceeded', 'reserve budget_exceeded', 'reserve not_found', 'reserve invalid_reference',
                  'reserve unknown_model', 'reserve forbidden', 'settle 200', 'settle 200 replayed', 'settle reservation_released',
                  'settle reservation_expired', 'settle invalid_field', 'settle not_found', 'release 200',
                  'release reservation_settled', 'expire 200', 'expire not_expired', 'event 201',
                  'event 201 replayed']) want
              WHERE want NOT IN (SELECT s.tmpl ->> 'op' || ' ' || coalesce(a.answer #>> '{body,error,code}', a.answer ->> 'status')
                                        || CASE WHEN a.answer ? 'replayed' THEN ' replayed' ELSE '' END
                                   FROM abprop.answers a JOIN abprop.steps s USING (step) WHERE a.world = 'A')")" "" \
        "seed $seed: the mix reached every kind of answer"
    is "$(q -c "SELECT concat_ws(', ',
                  CASE WHEN NOT EXISTS (SELECT 1 FROM agentbase.token_wallets WHERE tenant_id IN ($ours) AND overage > 0)
                       THEN 'no overage' END,
                  CASE WHEN (SELECT count(DISTINCT threshold) FROM agentbase.budget_alert_events WHERE tenant_id IN ($ours)) < 3
                       THEN 'few budget alerts' END,
                  CASE WHEN NOT EXISTS (SELECT 1 FROM agentbase.system_alerts WHERE tenant_id IN ($ours) AND alert_type = 'overage')
                       THEN 'no overage alert' END,
                  CASE WHEN NOT EXISTS (SELECT 1 FROM agentbase.token_holds h JOIN abprop.offs o ON o.id = ANY (h.budget_ids)
                                         WHERE h.tenant_id IN ($ours) AND coalesce(h.settled_at, h.released_at) > o.at)
                       THEN 'no reservation gave an inactive budget back' END)")" "" \
        "seed $seed: and overage, budget alerts and inactive budgets happened"

    for f in "${facets[@]}"; do
        none "SELECT * FROM abprop.differences('$f')
              UNION ALL SELECT 'none at all', NULL WHERE NOT EXISTS (SELECT 1 FROM abprop.facts WHERE facet = '$f')" \
            "seed $seed: the batch and one operation at a time give the same $f"
    done

    # Invariants, in both worlds.
    none "SELECT w.id FROM agentbase.token_wallets w
            LEFT JOIN LATERAL (
                 SELECT sum(CASE entry_type WHEN 'credit' THEN amount WHEN 'debit' THEN -amount
                                            WHEN 'adjustment' THEN amount ELSE 0 END) AS balance,
                        sum(CASE entry_type WHEN 'reserve' THEN amount WHEN 'release' THEN -amount ELSE 0 END) AS held
                   FROM agentbase.token_ledger l WHERE l.tenant_id = w.tenant_id AND l.wallet_id = w.id) l ON true
           WHERE w.tenant_id IN ($ours) AND (w.balance, w.held) IS DISTINCT FROM (l.balance, l.held)" \
        "seed $seed: every wallet's balance and held amount equal its ledger"
    # What open reservations hold (held, even if expired and not yet resolved).
    open="SELECT * FROM agentbase.token_holds WHERE tenant_id IN ($ours) AND status = 'held'"
    none "SELECT 'wallet', w.id FROM agentbase.token_wallets w WHERE w.tenant_id IN ($ours)
             AND w.held <> (SELECT coalesce(sum(amount), 0) FROM ($open) h WHERE h.wallet_id = w.id)
          UNION ALL
          SELECT 'quota', x.id FROM agentbase.quotas x WHERE x.tenant_id IN ($ours)
             AND x.tokens_reserved <> (SELECT coalesce(sum(amount), 0) FROM ($open) h WHERE h.user_id = x.user_id)
          UNION ALL
          SELECT 'plan', x.id FROM agentbase.tenant_quotas x WHERE x.tenant_id IN ($ours) AND x.resource_type = 'llm_tokens'
             AND x.reserved_value <> (SELECT coalesce(sum(amount), 0) FROM ($open) h WHERE h.tenant_id = x.tenant_id)
          UNION ALL
          SELECT 'budget', x.id FROM agentbase.user_budgets x WHERE x.tenant_id IN ($ours)
             AND x.reserved_usd <> (SELECT coalesce(sum(estimated_cost), 0) FROM ($open) h
                                     WHERE h.tenant_id = x.tenant_id AND x.id = ANY (h.budget_ids))" \
        "seed $seed: every held counter (wallet, quota, plan, budget) equals its open reservations"
    # What was used: ai_requests of the counter's period; requests: reservations and events
# (an inactive budget counts nothing).
    calls="SELECT tenant_id, user_id, total_tokens, total_cost, created_at, reservation_id IS NULL AS event
             FROM agentbase.ai_requests WHERE tenant_id IN ($ours)"
    none "SELECT 'quota', x.id FROM agentbase.quotas x WHERE x.tenant_id IN ($ours)
             AND (x.tokens_used_today, x.tokens_used_month, x.requests_today) IS DISTINCT FROM (
                 (SELECT coalesce(sum(total_tokens), 0) FROM ($calls) c
                   WHERE c.user_id = x.user_id AND c.created_at >= current_date),
                 (SELECT coalesce(sum(total_tokens), 0) FROM ($calls) c
                   WHERE c.user_id = x.user_id AND c.created_at >= date_trunc('month', now())),
                 (SELECT count(*) FROM agentbase.token_holds h
                   WHERE h.tenant_id = x.tenant_id AND h.user_id = x.user_id AND h.created_at >= current_date)
                 + (SELECT count(*) FROM ($calls) c WHERE c.user_id = x.user_id AND c.event AND c.created_at >= current_date))
          UNION ALL
          SELECT 'plan tokens', x.id FROM agentbase.tenant_quotas x WHERE x.tenant_id IN ($ours) AND x.resource_type = 'llm_tokens'
             AND x.used_value <> (SELECT coalesce(sum(total_tokens), 0) FROM ($calls) c
                                   WHERE c.tenant_id = x.tenant_id AND c.created_at >= date_trunc('month', now()))
          UNION ALL
          SELECT 'plan requests', x.id FROM agentbase.tenant_quotas x WHERE x.tenant_id IN ($ours)
             AND x.resource_type = 'llm_requests'
             AND x.used_value <> (SELECT count(*) FROM agentbase.token_holds h
                                   WHERE h.tenant_id = x.tenant_id AND h.created_at >= current_date)
                                 + (SELECT count(*) FROM ($calls) c
                                     WHERE c.tenant_id = x.tenant_id AND c.event AND c.created_at >= current_date)
          UNION ALL
          SELECT 'budget', x.id FROM agentbase.user_budgets x WHERE x.tenant_id IN ($ours) AND x.is_active
             AND x.spent_usd <> (SELECT coalesce(sum(total_cost), 0) FROM ($calls) c
                                  WHERE c.tenant_id = x.tenant_id AND (x.user_id IS NULL OR c.user_id = x.user_id)
                                    AND c.created_at >= x.period_start)" \
        "seed $seed: every usage counter (quota, plan, budget) equals its ai_requests"
    none "SELECT 'budget', x.id FROM agentbase.user_budgets x
           WHERE x.tenant_id IN ($ours) AND x.hard_limit AND x.reserved_usd > x.amount_usd
          UNION ALL
          SELECT 'quota', x.id FROM agentbase.quotas x
           WHERE x.tenant_id IN ($ours) AND (x.tokens_reserved > x.daily_token_limit OR x.tokens_reserved > x.monthly_token_limit)
          UNION ALL
          SELECT 'plan', x.tenant_id FROM agentbase.tenant_quotas x JOIN agentbase.tenants t ON t.id = x.tenant_id
           WHERE x.tenant_id IN ($ours) AND x.resource_type = 'llm_tokens'
             AND x.reserved_value > (t.limits ->> 'monthly_token_limit')::bigint
          UNION ALL
          SELECT 'wallet', x.id FROM agentbase.token_wallets x WHERE x.tenant_id IN ($ours) AND x.balance < x.held" \
        "seed $seed: no reservation pushed a counter past its limit"
    none "SELECT budget_id, threshold, period_start FROM agentbase.budget_alert_events WHERE tenant_id IN ($ours)
           GROUP BY 1, 2, 3 HAVING count(*) > 1
          UNION ALL
          SELECT (metadata ->> 'budget_id')::uuid, (metadata ->> 'threshold')::int, (metadata ->> 'period_start')::timestamptz
            FROM agentbase.system_alerts WHERE tenant_id IN ($ours) AND alert_type = 'budget_threshold'
           GROUP BY 1, 2, 3 HAVING count(*) > 1" \
        "seed $seed: each budget threshold fired once in its period"
done
ab_done
