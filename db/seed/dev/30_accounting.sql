-- Development seed: the demo admin's accounting, so that a reservation made right after
-- `make run` goes through every check: the free plan's monthly allocation in a token
-- wallet (credited once a month), a daily quota and a monthly budget with alerts at 50, 80
-- and 100 percent. Idempotent: a quota or budget that exists is left as it is.

SELECT set_config('agentbase.actor_type', 'system', true), set_config('agentbase.actor_id', 'seed', true);

SELECT agentbase.auto_allocate_tokens_for_level(u.id, 'free')
  FROM agentbase.users u JOIN agentbase.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'demo' AND t.deleted_at IS NULL
   AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL;

INSERT INTO agentbase.quotas (tenant_id, user_id, daily_token_limit, daily_request_limit)
SELECT u.tenant_id, u.id, 20000, 100
  FROM agentbase.users u JOIN agentbase.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'demo' AND t.deleted_at IS NULL
   AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL
ON CONFLICT (tenant_id, user_id) DO NOTHING;

INSERT INTO agentbase.user_budgets (tenant_id, user_id, name, period, amount_usd)
SELECT u.tenant_id, u.id, 'demo monthly', 'monthly', 5
  FROM agentbase.users u JOIN agentbase.tenants t ON t.id = u.tenant_id
 WHERE t.slug = 'demo' AND t.deleted_at IS NULL
   AND lower(u.email) = 'admin@demo.local' AND u.deleted_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM agentbase.user_budgets b
                    WHERE b.tenant_id = u.tenant_id AND b.user_id = u.id AND b.name = 'demo monthly');
