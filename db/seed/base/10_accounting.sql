-- Subscription plans, AI providers, models and their public list prices (USD per 1M
-- tokens) with the date each price took effect. Idempotent: natural keys decide, and a
-- re-run brings descriptions and policies up to date without duplicating anything.

INSERT INTO agentbase.subscription_plans
    (level, name, description, features, pricing, restrictions, benefits, token_policy,
     monthly_token_allocation, daily_request_limit, monthly_token_limit, sort_order)
VALUES
    ('free', 'Free', 'Try agentbase with a small monthly allowance',
     '["1 agent", "community support"]', '{"monthly_price": 0, "yearly_price": 0}',
     '{"max_agents": 1, "max_users": 1, "max_collections": 1}', '[]',
     '{"monthly_tokens": 50000, "daily_tokens": 5000, "rollover": false, "max_balance": 50000}',
     50000, 100, 50000, 10),
    ('basic', 'Basic', 'For individuals building their first agents',
     '["3 agents", "email support"]', '{"monthly_price": 9, "yearly_price": 90}',
     '{"max_agents": 3, "max_users": 2, "max_collections": 3}', '["priority queue"]',
     '{"monthly_tokens": 500000, "daily_tokens": 50000, "rollover": false, "max_balance": 500000}',
     500000, 1000, 500000, 20),
    ('starter', 'Starter', 'Small teams running agents every day',
     '["10 agents", "workflows", "email support"]', '{"monthly_price": 29, "yearly_price": 290}',
     '{"max_agents": 10, "max_users": 5, "max_collections": 10}', '["priority queue", "usage reports"]',
     '{"monthly_tokens": 2000000, "daily_tokens": 200000, "rollover": true, "max_balance": 4000000}',
     2000000, 5000, 2000000, 30),
    ('pro', 'Pro', 'Teams with production agents',
     '["50 agents", "workflows", "RAG", "MCP servers", "chat support"]',
     '{"monthly_price": 99, "yearly_price": 990}',
     '{"max_agents": 50, "max_users": 25, "max_collections": 50}',
     '["priority queue", "usage reports", "budget alerts"]',
     '{"monthly_tokens": 10000000, "daily_tokens": 1000000, "rollover": true, "max_balance": 20000000}',
     10000000, 20000, 10000000, 40),
    ('premium', 'Premium', 'High-volume platforms',
     '["unlimited agents", "workflows", "RAG", "MCP servers", "SSO", "priority support"]',
     '{"monthly_price": 499, "yearly_price": 4990}',
     '{"max_agents": null, "max_users": 100, "max_collections": null}',
     '["dedicated capacity", "usage reports", "budget alerts", "99.9% SLA"]',
     '{"monthly_tokens": 50000000, "daily_tokens": 5000000, "rollover": true, "max_balance": 100000000}',
     50000000, 100000, 50000000, 50),
    ('enterprise', 'Enterprise', 'Custom limits, contracts and regions',
     '["everything in Premium", "multi-region", "custom contracts"]',
     '{"monthly_price": null, "yearly_price": null, "custom": true}',
     '{"max_agents": null, "max_users": null, "max_collections": null}',
     '["dedicated support", "99.95% SLA", "data residency"]',
     '{"monthly_tokens": 250000000, "daily_tokens": null, "rollover": true}',
     250000000, NULL, NULL, 60)
ON CONFLICT (level) DO UPDATE SET
    name = EXCLUDED.name, description = EXCLUDED.description, features = EXCLUDED.features,
    pricing = EXCLUDED.pricing, restrictions = EXCLUDED.restrictions, benefits = EXCLUDED.benefits,
    token_policy = EXCLUDED.token_policy, monthly_token_allocation = EXCLUDED.monthly_token_allocation,
    daily_request_limit = EXCLUDED.daily_request_limit, monthly_token_limit = EXCLUDED.monthly_token_limit,
    sort_order = EXCLUDED.sort_order
WHERE (subscription_plans.name, subscription_plans.description, subscription_plans.token_policy,
       subscription_plans.monthly_token_allocation, subscription_plans.sort_order)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.description, EXCLUDED.token_policy,
                        EXCLUDED.monthly_token_allocation, EXCLUDED.sort_order);

INSERT INTO agentbase.ai_providers (name, display_name, base_url) VALUES
    ('openai', 'OpenAI', 'https://api.openai.com/v1'),
    ('anthropic', 'Anthropic', 'https://api.anthropic.com/v1'),
    ('google', 'Google', 'https://generativelanguage.googleapis.com/v1beta'),
    ('mistral', 'Mistral AI', 'https://api.mistral.ai/v1')
ON CONFLICT (name) DO NOTHING;

-- (provider, model, display name, context window, max output, input, output, cached input,
-- effective from). Two statements: one statement cannot see the models it inserts itself.
CREATE TEMP TABLE seed_models (provider text, name text, display_name text, context_window int,
                               max_output int, input numeric, output numeric, cached numeric,
                               since date) ON COMMIT DROP;
INSERT INTO seed_models VALUES
    ('openai', 'gpt-4o', 'GPT-4o', 128000, 16384, 2.50, 10.00, 1.25, '2024-10-01'),
    ('openai', 'gpt-4o-mini', 'GPT-4o mini', 128000, 16384, 0.15, 0.60, 0.075, '2024-07-18'),
    ('openai', 'o1', 'o1', 200000, 100000, 15.00, 60.00, 7.50, '2024-12-17'),
    ('anthropic', 'claude-3-5-sonnet', 'Claude 3.5 Sonnet', 200000, 8192, 3.00, 15.00, 0.30, '2024-06-20'),
    ('anthropic', 'claude-3-5-haiku', 'Claude 3.5 Haiku', 200000, 8192, 0.80, 4.00, 0.08, '2024-11-04'),
    ('anthropic', 'claude-3-opus', 'Claude 3 Opus', 200000, 4096, 15.00, 75.00, 1.50, '2024-03-04'),
    ('google', 'gemini-1.5-pro', 'Gemini 1.5 Pro', 2000000, 8192, 1.25, 5.00, 0.3125, '2024-10-01'),
    ('google', 'gemini-1.5-flash', 'Gemini 1.5 Flash', 1000000, 8192, 0.075, 0.30, 0.01875, '2024-08-12'),
    ('mistral', 'mistral-large', 'Mistral Large', 128000, 8192, 2.00, 6.00, 2.00, '2024-11-18');

INSERT INTO agentbase.ai_models (provider_id, name, display_name, context_window, max_output_tokens,
                                 capabilities)
SELECT p.id, m.name, m.display_name, m.context_window, m.max_output, '{chat}'
  FROM seed_models m JOIN agentbase.ai_providers p ON p.name = m.provider
ON CONFLICT (provider_id, name) DO NOTHING;

INSERT INTO agentbase.ai_model_prices (model_id, effective_from, input_per_1m, output_per_1m,
                                       cached_input_per_1m)
SELECT am.id, m.since::timestamptz, m.input, m.output, m.cached
  FROM seed_models m
  JOIN agentbase.ai_providers p ON p.name = m.provider
  JOIN agentbase.ai_models am ON am.provider_id = p.id AND am.name = m.name
ON CONFLICT (model_id, effective_from) DO NOTHING;
