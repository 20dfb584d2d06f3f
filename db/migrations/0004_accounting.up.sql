-- Accounting: providers, models and their effective-dated prices, one row per LLM request,
-- usage metrics, quotas, subscription plans, token wallets with an append-only ledger and
-- holds, budgets with alert thresholds, alerts, cost rollups, billing, metrics; the
-- compatibility views of the legacy Alembic system; and the token functions.
--
-- Exactness. A wallet's balance and held amount change only together with a ledger entry
-- that records them (adjust_user_tokens, under the wallet's row lock), so the ledger sums
-- to the wallet, and available = balance - held can never go below zero (a CHECK, not a
-- hope). An idempotency key makes a retried adjustment return the first result and write
-- nothing: its unique row is inserted first, so a concurrent retry waits for the first
-- transaction and then reads its answer.
--
-- Column comments are written as one JSON map per table through a helper that lives only
-- for this migration's session (pg_temp), so each column's text stays next to its table.

CREATE OR REPLACE FUNCTION pg_temp.comment_columns(p_table regclass, p_comments jsonb) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_col text;
    v_text text;
BEGIN
    FOR v_col, v_text IN SELECT key, value FROM jsonb_each_text(p_comments) LOOP
        EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', p_table, v_col, v_text);
    END LOOP;
END
$$;

-- ------------------------------------------------------------------------------------
-- Providers, models, prices (global reference data)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.ai_providers (
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    name         text        NOT NULL,
    display_name text        NOT NULL,
    base_url     text,
    status       text        NOT NULL DEFAULT 'active',
    metadata     jsonb       NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_providers_pkey PRIMARY KEY (id),
    CONSTRAINT uq_ai_providers_name UNIQUE (name),
    CONSTRAINT chk_ai_providers_name CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,63}$'),
    CONSTRAINT chk_ai_providers_status CHECK (status IN ('active', 'deprecated', 'disabled'))
);
COMMENT ON TABLE agentbase.ai_providers IS 'LLM providers (global reference data)';
SELECT pg_temp.comment_columns('agentbase.ai_providers', '{
  "id": "provider id", "name": "unique key, lowercase (openai, anthropic ...)",
  "display_name": "human-readable name", "base_url": "API base URL",
  "status": "active, deprecated or disabled", "metadata": "free-form attributes",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.attach_updated_at('agentbase.ai_providers');
SELECT agentbase.restrict_app_to_read('agentbase.ai_providers');

CREATE TABLE agentbase.ai_models (
    id                uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    provider_id       uuid        NOT NULL,
    name              text        NOT NULL,
    display_name      text        NOT NULL,
    context_window    integer     NOT NULL,
    max_output_tokens integer,
    capabilities      text[]      NOT NULL DEFAULT '{}',
    status            text        NOT NULL DEFAULT 'active',
    metadata          jsonb       NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ai_models_pkey PRIMARY KEY (id),
    CONSTRAINT fk_ai_models_ai_providers FOREIGN KEY (provider_id)
        REFERENCES agentbase.ai_providers (id) ON DELETE CASCADE,
    CONSTRAINT uq_ai_models_provider_id_name UNIQUE (provider_id, name),
    CONSTRAINT chk_ai_models_context_window CHECK (context_window > 0),
    CONSTRAINT chk_ai_models_max_output_tokens CHECK (max_output_tokens IS NULL OR max_output_tokens > 0),
    CONSTRAINT chk_ai_models_status CHECK (status IN ('active', 'deprecated', 'disabled'))
);
COMMENT ON TABLE agentbase.ai_models IS 'LLM models of each provider (global reference data)';
SELECT pg_temp.comment_columns('agentbase.ai_models', '{
  "id": "model id", "provider_id": "the provider", "name": "the provider''s model name (gpt-4o ...)",
  "display_name": "human-readable name", "context_window": "tokens of context, > 0",
  "max_output_tokens": "largest completion in tokens", "capabilities": "chat, vision, tools, embeddings ...",
  "status": "active, deprecated or disabled", "metadata": "free-form attributes",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.attach_updated_at('agentbase.ai_models');
SELECT agentbase.restrict_app_to_read('agentbase.ai_models');

CREATE TABLE agentbase.ai_model_prices (
    id                  uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    model_id            uuid          NOT NULL,
    effective_from      timestamptz   NOT NULL,
    input_per_1m        numeric(14,6) NOT NULL,
    output_per_1m       numeric(14,6) NOT NULL,
    cached_input_per_1m numeric(14,6) NOT NULL DEFAULT 0,
    currency            text          NOT NULL DEFAULT 'USD',
    created_at          timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT ai_model_prices_pkey PRIMARY KEY (id),
    CONSTRAINT fk_ai_model_prices_ai_models FOREIGN KEY (model_id)
        REFERENCES agentbase.ai_models (id) ON DELETE CASCADE,
    CONSTRAINT uq_ai_model_prices_model_id_effective_from UNIQUE (model_id, effective_from),
    CONSTRAINT chk_ai_model_prices_input_per_1m CHECK (input_per_1m >= 0),
    CONSTRAINT chk_ai_model_prices_output_per_1m CHECK (output_per_1m >= 0),
    CONSTRAINT chk_ai_model_prices_cached_input_per_1m CHECK (cached_input_per_1m >= 0),
    CONSTRAINT chk_ai_model_prices_currency CHECK (currency = 'USD')
);
COMMENT ON TABLE agentbase.ai_model_prices IS
    'effective-dated prices per 1M tokens; a price applies from effective_from until the next';
SELECT pg_temp.comment_columns('agentbase.ai_model_prices', '{
  "id": "price id", "model_id": "the model", "effective_from": "the price applies from this time",
  "input_per_1m": "USD per 1M input tokens", "output_per_1m": "USD per 1M output tokens",
  "cached_input_per_1m": "USD per 1M cached input tokens", "currency": "always USD",
  "created_at": "creation time"}');
SELECT agentbase.restrict_app_to_read('agentbase.ai_model_prices');

-- The price in effect for a model at a time (now by default): a future price applies only
-- from its date.
CREATE FUNCTION agentbase.model_price_at(p_model_id uuid, p_at timestamptz DEFAULT now())
RETURNS agentbase.ai_model_prices
LANGUAGE sql STABLE AS $$
    SELECT * FROM agentbase.ai_model_prices
     WHERE model_id = p_model_id AND effective_from <= p_at
     ORDER BY effective_from DESC LIMIT 1
$$;
COMMENT ON FUNCTION agentbase.model_price_at(uuid, timestamptz) IS
    'the price of a model in effect at a time (latest effective_from not after it)';

-- ------------------------------------------------------------------------------------
-- Plans (global)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.subscription_plans (
    id                       uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    level                    text        NOT NULL,
    name                     text        NOT NULL,
    description              text,
    features                 jsonb       NOT NULL DEFAULT '[]',
    pricing                  jsonb       NOT NULL DEFAULT '{}',
    restrictions             jsonb       NOT NULL DEFAULT '{}',
    benefits                 jsonb       NOT NULL DEFAULT '[]',
    token_policy             jsonb       NOT NULL DEFAULT '{}',
    monthly_token_allocation bigint      NOT NULL DEFAULT 0,
    daily_request_limit      integer,
    monthly_token_limit      bigint,
    sort_order               integer     NOT NULL DEFAULT 0,
    is_active                boolean     NOT NULL DEFAULT true,
    created_at               timestamptz NOT NULL DEFAULT now(),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscription_plans_pkey PRIMARY KEY (id),
    CONSTRAINT uq_subscription_plans_level UNIQUE (level),
    CONSTRAINT chk_subscription_plans_level
        CHECK (level IN ('free', 'basic', 'starter', 'pro', 'premium', 'enterprise')),
    CONSTRAINT chk_subscription_plans_monthly_token_allocation CHECK (monthly_token_allocation >= 0),
    CONSTRAINT chk_subscription_plans_daily_request_limit
        CHECK (daily_request_limit IS NULL OR daily_request_limit >= 0),
    CONSTRAINT chk_subscription_plans_monthly_token_limit
        CHECK (monthly_token_limit IS NULL OR monthly_token_limit >= 0),
    CONSTRAINT chk_subscription_plans_token_policy CHECK (jsonb_typeof(token_policy) = 'object')
);
COMMENT ON TABLE agentbase.subscription_plans IS
    'subscription levels (free, basic, starter, pro, premium, enterprise) and their token policy';
SELECT pg_temp.comment_columns('agentbase.subscription_plans', '{
  "id": "plan id", "level": "free, basic, starter, pro, premium or enterprise",
  "name": "display name", "description": "what the plan is for",
  "features": "array of features", "pricing": "monthly_price, yearly_price (USD)",
  "restrictions": "max_agents, max_users, ...", "benefits": "array of benefits",
  "token_policy": "monthly_tokens, daily_tokens, rollover (bool), max_balance",
  "monthly_token_allocation": "tokens credited each month", "daily_request_limit": "LLM requests a day (NULL: unlimited)",
  "monthly_token_limit": "tokens a month (NULL: unlimited)", "sort_order": "display order",
  "is_active": "offered to new subscribers", "created_at": "creation time",
  "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.attach_updated_at('agentbase.subscription_plans');
SELECT agentbase.restrict_app_to_read('agentbase.subscription_plans');

-- ------------------------------------------------------------------------------------
-- LLM requests and usage metrics (append-only logs)
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.ai_requests (
    tenant_id              uuid          NOT NULL,
    id                     uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    created_at             timestamptz   NOT NULL DEFAULT now(),
    user_id                uuid,
    agent_id               uuid,
    conversation_id        uuid,
    message_id             uuid,
    provider               text          NOT NULL,
    model                  text          NOT NULL,
    model_id               uuid,
    request_type           text          NOT NULL DEFAULT 'chat',
    input_tokens           bigint        NOT NULL DEFAULT 0,
    output_tokens          bigint        NOT NULL DEFAULT 0,
    cached_tokens          bigint        NOT NULL DEFAULT 0,
    total_tokens           bigint        NOT NULL DEFAULT 0,
    input_per_1m           numeric(14,6),
    output_per_1m          numeric(14,6),
    cached_input_per_1m    numeric(14,6),
    price_effective_from   timestamptz,
    input_cost             numeric(20,10) NOT NULL DEFAULT 0,
    output_cost            numeric(20,10) NOT NULL DEFAULT 0,
    total_cost             numeric(20,10) NOT NULL DEFAULT 0,
    latency_ms             integer,
    time_to_first_token_ms integer,
    tokens_per_second      numeric(12,3),
    status                 text          NOT NULL DEFAULT 'success',
    error_code             text,
    error_message          text,
    quality_score          numeric(5,4),
    relevance_score        numeric(5,4),
    coherence_score        numeric(5,4),
    user_rating            smallint,
    user_feedback          text,
    reservation_id         uuid,
    idempotency_key        text,
    metadata               jsonb         NOT NULL DEFAULT '{}',
    CONSTRAINT ai_requests_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_ai_requests_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_ai_requests_request_type
        CHECK (request_type IN ('chat', 'completion', 'embedding', 'image', 'audio', 'tool', 'other')),
    CONSTRAINT chk_ai_requests_input_tokens CHECK (input_tokens >= 0),
    CONSTRAINT chk_ai_requests_output_tokens CHECK (output_tokens >= 0),
    CONSTRAINT chk_ai_requests_cached_tokens CHECK (cached_tokens >= 0),
    CONSTRAINT chk_ai_requests_total_tokens CHECK (total_tokens >= 0),
    CONSTRAINT chk_ai_requests_input_cost CHECK (input_cost >= 0),
    CONSTRAINT chk_ai_requests_output_cost CHECK (output_cost >= 0),
    CONSTRAINT chk_ai_requests_total_cost CHECK (total_cost >= 0),
    CONSTRAINT chk_ai_requests_latency_ms CHECK (latency_ms IS NULL OR latency_ms >= 0),
    CONSTRAINT chk_ai_requests_time_to_first_token_ms
        CHECK (time_to_first_token_ms IS NULL OR time_to_first_token_ms >= 0),
    CONSTRAINT chk_ai_requests_tokens_per_second CHECK (tokens_per_second IS NULL OR tokens_per_second >= 0),
    CONSTRAINT chk_ai_requests_status
        CHECK (status IN ('success', 'error', 'timeout', 'cancelled', 'rate_limited')),
    CONSTRAINT chk_ai_requests_quality_score CHECK (quality_score BETWEEN 0 AND 1),
    CONSTRAINT chk_ai_requests_relevance_score CHECK (relevance_score BETWEEN 0 AND 1),
    CONSTRAINT chk_ai_requests_coherence_score CHECK (coherence_score BETWEEN 0 AND 1),
    CONSTRAINT chk_ai_requests_user_rating CHECK (user_rating BETWEEN 1 AND 5)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE agentbase.ai_requests IS
    'one row per LLM call: tokens, the price snapshot it was charged at, cost, latency, status (monthly partitions)';
SELECT pg_temp.comment_columns('agentbase.ai_requests', '{
  "tenant_id": "owning tenant", "id": "request id", "created_at": "when the call was recorded",
  "user_id": "user it was made for", "agent_id": "agent that made it", "conversation_id": "conversation it belongs to",
  "message_id": "message it produced", "provider": "provider name", "model": "model name",
  "model_id": "model id, when known", "request_type": "chat, completion, embedding, image, audio, tool or other",
  "input_tokens": "prompt tokens (>= 0)", "output_tokens": "completion tokens (>= 0)",
  "cached_tokens": "cached prompt tokens (>= 0)", "total_tokens": "all tokens (>= 0)",
  "input_per_1m": "price snapshot: USD per 1M input tokens", "output_per_1m": "price snapshot: USD per 1M output tokens",
  "cached_input_per_1m": "price snapshot: USD per 1M cached tokens", "price_effective_from": "effective date of the price charged",
  "input_cost": "USD for input", "output_cost": "USD for output", "total_cost": "USD in all",
  "latency_ms": "total latency", "time_to_first_token_ms": "time to the first token",
  "tokens_per_second": "output speed", "status": "success, error, timeout, cancelled or rate_limited",
  "error_code": "provider error code", "error_message": "provider error message",
  "quality_score": "quality 0..1", "relevance_score": "relevance 0..1", "coherence_score": "coherence 0..1",
  "user_rating": "user rating 1..5", "user_feedback": "user feedback text",
  "reservation_id": "token hold it settled", "idempotency_key": "client key that made it unique",
  "metadata": "free-form attributes"}');
CREATE INDEX idx_ai_requests_tenant_id_created_at ON agentbase.ai_requests (tenant_id, created_at DESC);
CREATE INDEX idx_ai_requests_tenant_id_user_id_created_at ON agentbase.ai_requests (tenant_id, user_id, created_at DESC);
SELECT agentbase.enable_tenant_rls('agentbase.ai_requests');
SELECT agentbase.restrict_app_to_append('agentbase.ai_requests');
SELECT agentbase.ensure_monthly_partitions('agentbase.ai_requests');

CREATE TABLE agentbase.usage_metrics (
    tenant_id    uuid          NOT NULL,
    id           uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    created_at   timestamptz   NOT NULL DEFAULT now(),
    user_id      uuid,
    agent_id     uuid,
    metric_type  text          NOT NULL,
    value        numeric       NOT NULL DEFAULT 0,
    tokens       bigint        NOT NULL DEFAULT 0,
    cost         numeric(20,10) NOT NULL DEFAULT 0,
    dimensions   jsonb         NOT NULL DEFAULT '{}',
    period_start timestamptz,
    CONSTRAINT usage_metrics_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_usage_metrics_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_usage_metrics_metric_type CHECK (metric_type ~ '^[a-z][a-z0-9_.]{0,63}$'),
    CONSTRAINT chk_usage_metrics_tokens CHECK (tokens >= 0),
    CONSTRAINT chk_usage_metrics_cost CHECK (cost >= 0)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE agentbase.usage_metrics IS 'usage measurements (append-only, monthly partitions)';
SELECT pg_temp.comment_columns('agentbase.usage_metrics', '{
  "tenant_id": "owning tenant", "id": "metric id", "created_at": "when it was recorded",
  "user_id": "user measured", "agent_id": "agent measured", "metric_type": "what is measured (tokens, requests, storage_bytes ...)",
  "value": "the measured value", "tokens": "tokens involved (>= 0)", "cost": "USD involved (>= 0)",
  "dimensions": "further breakdown", "period_start": "period the value belongs to"}');
CREATE INDEX idx_usage_metrics_tenant_id_created_at ON agentbase.usage_metrics (tenant_id, created_at DESC);
SELECT agentbase.enable_tenant_rls('agentbase.usage_metrics');
SELECT agentbase.restrict_app_to_append('agentbase.usage_metrics');
SELECT agentbase.ensure_monthly_partitions('agentbase.usage_metrics');

-- ------------------------------------------------------------------------------------
-- Quotas
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.quotas (
    tenant_id           uuid        NOT NULL,
    id                  uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id             uuid        NOT NULL,
    daily_token_limit   bigint,
    tokens_used_today   bigint      NOT NULL DEFAULT 0,
    daily_request_limit integer,
    requests_today      integer     NOT NULL DEFAULT 0,
    monthly_token_limit bigint,
    tokens_used_month   bigint      NOT NULL DEFAULT 0,
    last_reset_date     date        NOT NULL DEFAULT current_date,
    month_start         date        NOT NULL DEFAULT date_trunc('month', now())::date,
    reset_at            timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quotas_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_quotas_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_quotas_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_quotas_tenant_id_user_id UNIQUE (tenant_id, user_id),
    CONSTRAINT chk_quotas_daily_token_limit CHECK (daily_token_limit IS NULL OR daily_token_limit >= 0),
    CONSTRAINT chk_quotas_tokens_used_today CHECK (tokens_used_today >= 0),
    CONSTRAINT chk_quotas_daily_request_limit CHECK (daily_request_limit IS NULL OR daily_request_limit >= 0),
    CONSTRAINT chk_quotas_requests_today CHECK (requests_today >= 0),
    CONSTRAINT chk_quotas_monthly_token_limit CHECK (monthly_token_limit IS NULL OR monthly_token_limit >= 0),
    CONSTRAINT chk_quotas_tokens_used_month CHECK (tokens_used_month >= 0)
);
COMMENT ON TABLE agentbase.quotas IS 'per-user token and request quotas, reset daily (and monthly)';
SELECT pg_temp.comment_columns('agentbase.quotas', '{
  "tenant_id": "owning tenant", "id": "quota id", "user_id": "the user (one quota each)",
  "daily_token_limit": "tokens a day (NULL: unlimited)", "tokens_used_today": "tokens used since the daily reset",
  "daily_request_limit": "requests a day (NULL: unlimited)", "requests_today": "requests since the daily reset",
  "monthly_token_limit": "tokens a month (NULL: unlimited)", "tokens_used_month": "tokens used since the monthly reset",
  "last_reset_date": "date of the last daily reset", "month_start": "first day of the month being counted",
  "reset_at": "time of the last reset", "created_at": "creation time",
  "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.enable_tenant_rls('agentbase.quotas');
SELECT agentbase.attach_updated_at('agentbase.quotas');
SELECT agentbase.attach_audit_except('agentbase.quotas', 'quota',
    ARRAY['tokens_used_today', 'requests_today', 'tokens_used_month', 'last_reset_date',
          'month_start', 'reset_at', 'updated_at']);

CREATE TABLE agentbase.tenant_quotas (
    tenant_id     uuid        NOT NULL,
    id            uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    resource_type text        NOT NULL,
    period        text        NOT NULL,
    limit_value   bigint      NOT NULL,
    used_value    bigint      NOT NULL DEFAULT 0,
    reset_at      timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenant_quotas_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_tenant_quotas_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_tenant_quotas_tenant_id_resource_type_period UNIQUE (tenant_id, resource_type, period),
    CONSTRAINT chk_tenant_quotas_resource_type CHECK (resource_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    CONSTRAINT chk_tenant_quotas_period CHECK (period IN ('daily', 'monthly', 'total')),
    CONSTRAINT chk_tenant_quotas_limit_value CHECK (limit_value >= 0),
    CONSTRAINT chk_tenant_quotas_used_value CHECK (used_value >= 0)
);
COMMENT ON TABLE agentbase.tenant_quotas IS 'tenant-wide limits per resource and period';
SELECT pg_temp.comment_columns('agentbase.tenant_quotas', '{
  "tenant_id": "owning tenant", "id": "quota id", "resource_type": "what is limited (tokens, requests, agents, storage_bytes ...)",
  "period": "daily, monthly or total", "limit_value": "the limit (>= 0)", "used_value": "used in the current period (>= 0)",
  "reset_at": "time of the last reset", "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.enable_tenant_rls('agentbase.tenant_quotas');
SELECT agentbase.attach_updated_at('agentbase.tenant_quotas');
SELECT agentbase.attach_audit_except('agentbase.tenant_quotas', 'tenant_quota',
    ARRAY['used_value', 'reset_at', 'updated_at']);

-- ------------------------------------------------------------------------------------
-- Token wallets, the ledger, holds, idempotency keys
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.token_wallets (
    tenant_id             uuid        NOT NULL,
    id                    uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id               uuid        NOT NULL,
    balance               bigint      NOT NULL DEFAULT 0,
    held                  bigint      NOT NULL DEFAULT 0,
    overage               bigint      NOT NULL DEFAULT 0,
    lifetime_credited     bigint      NOT NULL DEFAULT 0,
    lifetime_debited      bigint      NOT NULL DEFAULT 0,
    level                 text        NOT NULL DEFAULT 'free',
    monthly_allocation    bigint      NOT NULL DEFAULT 0,
    last_monthly_reset_at timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT token_wallets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_token_wallets_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_token_wallets_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_token_wallets_tenant_id_user_id UNIQUE (tenant_id, user_id),
    CONSTRAINT chk_token_wallets_held CHECK (held >= 0),
    CONSTRAINT chk_token_wallets_available CHECK (balance >= held),
    CONSTRAINT chk_token_wallets_overage CHECK (overage >= 0),
    CONSTRAINT chk_token_wallets_lifetime_credited CHECK (lifetime_credited >= 0),
    CONSTRAINT chk_token_wallets_lifetime_debited CHECK (lifetime_debited >= 0),
    CONSTRAINT chk_token_wallets_monthly_allocation CHECK (monthly_allocation >= 0)
);
COMMENT ON TABLE agentbase.token_wallets IS
    'token balance of a user: available = balance - held, never below zero; changed only with a ledger entry';
SELECT pg_temp.comment_columns('agentbase.token_wallets', '{
  "tenant_id": "owning tenant", "id": "wallet id", "user_id": "the user (one wallet each)",
  "balance": "tokens owned, held ones included", "held": "tokens reserved by open holds",
  "overage": "usage that happened but could not be covered", "lifetime_credited": "all tokens ever credited",
  "lifetime_debited": "all tokens ever debited", "level": "subscription level of the allocation",
  "monthly_allocation": "tokens granted each month", "last_monthly_reset_at": "time of the last monthly reset",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.enable_tenant_rls('agentbase.token_wallets');
SELECT agentbase.attach_updated_at('agentbase.token_wallets');
-- The ledger records every balance change; the audit trail records the rest.
SELECT agentbase.attach_audit_except('agentbase.token_wallets', 'token_wallet',
    ARRAY['balance', 'held', 'overage', 'lifetime_credited', 'lifetime_debited',
          'last_monthly_reset_at', 'updated_at']);

CREATE TABLE agentbase.token_ledger (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    wallet_id       uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    entry_type      text        NOT NULL,
    amount          bigint      NOT NULL,
    balance_after   bigint      NOT NULL,
    held_after      bigint      NOT NULL,
    reason          text,
    source          text,
    reference_type  text,
    reference_id    text,
    execution_id    text,
    idempotency_key text,
    metadata        jsonb       NOT NULL DEFAULT '{}',
    created_by      text,
    CONSTRAINT token_ledger_pkey PRIMARY KEY (tenant_id, id, created_at),
    CONSTRAINT fk_token_ledger_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_token_ledger_entry_type
        CHECK (entry_type IN ('credit', 'debit', 'reserve', 'release', 'adjustment')),
    CONSTRAINT chk_token_ledger_amount
        CHECK (amount > 0 OR (entry_type = 'adjustment' AND amount <> 0)),
    CONSTRAINT chk_token_ledger_held_after CHECK (held_after >= 0),
    CONSTRAINT chk_token_ledger_available_after CHECK (balance_after >= held_after)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE agentbase.token_ledger IS
    'append-only token ledger: one entry per wallet change, with the balance and held amount after it';
SELECT pg_temp.comment_columns('agentbase.token_ledger', '{
  "tenant_id": "owning tenant", "id": "entry id", "created_at": "when the change happened",
  "wallet_id": "the wallet changed", "user_id": "the wallet''s user",
  "entry_type": "credit, debit, reserve, release or adjustment",
  "amount": "tokens (> 0; an adjustment may be negative, never 0)", "balance_after": "wallet balance after the entry",
  "held_after": "wallet held amount after the entry", "reason": "why", "source": "what made it (api, level_allocation, monthly_reset ...)",
  "reference_type": "kind of the object it refers to", "reference_id": "id of that object",
  "execution_id": "workflow or agent execution it belongs to", "idempotency_key": "client key that made it unique",
  "metadata": "free-form attributes", "created_by": "actor that made it"}');
CREATE INDEX idx_token_ledger_tenant_id_wallet_id_created_at
    ON agentbase.token_ledger (tenant_id, wallet_id, created_at);
SELECT agentbase.enable_tenant_rls('agentbase.token_ledger');
SELECT agentbase.restrict_app_to_append('agentbase.token_ledger');
SELECT agentbase.ensure_monthly_partitions('agentbase.token_ledger');

CREATE TABLE agentbase.idempotency_keys (
    tenant_id    uuid        NOT NULL,
    id           uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    scope        text        NOT NULL,
    key          text        NOT NULL,
    request_hash text,
    response     jsonb,
    status       text        NOT NULL DEFAULT 'pending',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL DEFAULT now() + interval '7 days',
    CONSTRAINT idempotency_keys_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_idempotency_keys_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_idempotency_keys_tenant_id_scope_key UNIQUE (tenant_id, scope, key),
    CONSTRAINT chk_idempotency_keys_key CHECK (length(key) BETWEEN 1 AND 255),
    CONSTRAINT chk_idempotency_keys_status CHECK (status IN ('pending', 'completed'))
);
COMMENT ON TABLE agentbase.idempotency_keys IS
    'one row per retried-safe write: a retry with the same key returns the stored response';
SELECT pg_temp.comment_columns('agentbase.idempotency_keys', '{
  "tenant_id": "owning tenant", "id": "row id", "scope": "the operation (adjust_user_tokens, reservation ...)",
  "key": "the client''s Idempotency-Key", "request_hash": "hash of the first request, to refuse a different one",
  "response": "the first response", "status": "pending or completed",
  "created_at": "creation time", "expires_at": "may be purged after this time"}');
SELECT agentbase.enable_tenant_rls('agentbase.idempotency_keys');

CREATE TABLE agentbase.token_holds (
    tenant_id       uuid          NOT NULL,
    id              uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    wallet_id       uuid          NOT NULL,
    user_id         uuid          NOT NULL,
    agent_id        uuid,
    conversation_id uuid,
    amount          bigint        NOT NULL,
    status          text          NOT NULL DEFAULT 'held',
    estimated_cost  numeric(20,10) NOT NULL DEFAULT 0,
    expires_at      timestamptz   NOT NULL DEFAULT now() + interval '10 minutes',
    settled_at      timestamptz,
    released_at     timestamptz,
    ai_request_id   uuid,
    idempotency_key text,
    metadata        jsonb         NOT NULL DEFAULT '{}',
    created_at      timestamptz   NOT NULL DEFAULT now(),
    updated_at      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT token_holds_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_token_holds_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_token_holds_token_wallets FOREIGN KEY (tenant_id, wallet_id)
        REFERENCES agentbase.token_wallets (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_token_holds_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT fk_token_holds_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE SET NULL (agent_id),
    CONSTRAINT fk_token_holds_conversations FOREIGN KEY (tenant_id, conversation_id)
        REFERENCES agentbase.conversations (tenant_id, id) ON DELETE SET NULL (conversation_id),
    CONSTRAINT chk_token_holds_amount CHECK (amount > 0),
    CONSTRAINT chk_token_holds_status CHECK (status IN ('held', 'settled', 'released', 'expired')),
    CONSTRAINT chk_token_holds_estimated_cost CHECK (estimated_cost >= 0)
);
COMMENT ON TABLE agentbase.token_holds IS 'reservations: tokens held for an LLM call until it is settled or released';
SELECT pg_temp.comment_columns('agentbase.token_holds', '{
  "tenant_id": "owning tenant", "id": "hold (reservation) id", "wallet_id": "the wallet holding",
  "user_id": "the wallet''s user", "agent_id": "agent making the call", "conversation_id": "conversation of the call",
  "amount": "tokens held (> 0)", "status": "held, settled, released or expired",
  "estimated_cost": "USD estimated at reservation", "expires_at": "released automatically after this time",
  "settled_at": "when it was settled", "released_at": "when it was released",
  "ai_request_id": "the ai_requests row that settled it", "idempotency_key": "client key that made it unique",
  "metadata": "free-form attributes", "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
CREATE INDEX idx_token_holds_tenant_id_wallet_id ON agentbase.token_holds (tenant_id, wallet_id);
CREATE INDEX idx_token_holds_tenant_id_user_id ON agentbase.token_holds (tenant_id, user_id);
CREATE INDEX idx_token_holds_tenant_id_agent_id ON agentbase.token_holds (tenant_id, agent_id);
CREATE INDEX idx_token_holds_tenant_id_conversation_id ON agentbase.token_holds (tenant_id, conversation_id);
CREATE INDEX idx_token_holds_expires_at ON agentbase.token_holds (expires_at) WHERE status = 'held';
SELECT agentbase.enable_tenant_rls('agentbase.token_holds');
SELECT agentbase.attach_updated_at('agentbase.token_holds');
SELECT agentbase.attach_audit_except('agentbase.token_holds', 'token_hold', ARRAY['updated_at']);

-- ------------------------------------------------------------------------------------
-- Budgets and alerts
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.user_budgets (
    tenant_id        uuid          NOT NULL,
    id               uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    user_id          uuid,
    name             text          NOT NULL,
    period           text          NOT NULL DEFAULT 'monthly',
    amount_usd       numeric(20,10) NOT NULL,
    spent_usd        numeric(20,10) NOT NULL DEFAULT 0,
    period_start     timestamptz   NOT NULL DEFAULT date_trunc('month', now()),
    alert_thresholds integer[]     NOT NULL DEFAULT '{50,80,100}',
    hard_limit       boolean       NOT NULL DEFAULT true,
    is_active        boolean       NOT NULL DEFAULT true,
    created_at       timestamptz   NOT NULL DEFAULT now(),
    updated_at       timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT user_budgets_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_user_budgets_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_user_budgets_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_user_budgets_name CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    CONSTRAINT chk_user_budgets_period CHECK (period IN ('daily', 'weekly', 'monthly', 'yearly', 'total')),
    CONSTRAINT chk_user_budgets_amount_usd CHECK (amount_usd > 0),
    CONSTRAINT chk_user_budgets_spent_usd CHECK (spent_usd >= 0),
    CONSTRAINT chk_user_budgets_alert_thresholds
        CHECK (0 <= ALL (alert_thresholds) AND 100 >= ALL (alert_thresholds))
);
COMMENT ON TABLE agentbase.user_budgets IS 'USD budgets of a user (or, with no user, of the whole tenant) with alert thresholds';
SELECT pg_temp.comment_columns('agentbase.user_budgets', '{
  "tenant_id": "owning tenant", "id": "budget id", "user_id": "the user (NULL: the whole tenant)",
  "name": "label", "period": "daily, weekly, monthly, yearly or total", "amount_usd": "the budget (> 0)",
  "spent_usd": "spent in the current period (>= 0)", "period_start": "start of the current period",
  "alert_thresholds": "percentages (0..100) that raise an alert once per period",
  "hard_limit": "refuse new reservations beyond the budget", "is_active": "whether it applies",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
CREATE INDEX idx_user_budgets_tenant_id_user_id ON agentbase.user_budgets (tenant_id, user_id);
SELECT agentbase.enable_tenant_rls('agentbase.user_budgets');
SELECT agentbase.attach_updated_at('agentbase.user_budgets');
SELECT agentbase.attach_audit_except('agentbase.user_budgets', 'user_budget',
    ARRAY['spent_usd', 'period_start', 'updated_at']);

CREATE TABLE agentbase.budget_alert_events (
    tenant_id    uuid          NOT NULL,
    id           uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    budget_id    uuid          NOT NULL,
    threshold    integer       NOT NULL,
    period_start timestamptz   NOT NULL,
    spent_usd    numeric(20,10) NOT NULL,
    fired_at     timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT budget_alert_events_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_budget_alert_events_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_budget_alert_events_user_budgets FOREIGN KEY (tenant_id, budget_id)
        REFERENCES agentbase.user_budgets (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT uq_budget_alert_events_budget_threshold_period
        UNIQUE (tenant_id, budget_id, threshold, period_start),
    CONSTRAINT chk_budget_alert_events_threshold CHECK (threshold BETWEEN 0 AND 100),
    CONSTRAINT chk_budget_alert_events_spent_usd CHECK (spent_usd >= 0)
);
COMMENT ON TABLE agentbase.budget_alert_events IS
    'each budget threshold crossed, at most once per period (the unique key guarantees it)';
SELECT pg_temp.comment_columns('agentbase.budget_alert_events', '{
  "tenant_id": "owning tenant", "id": "event id", "budget_id": "the budget", "threshold": "percentage crossed (0..100)",
  "period_start": "budget period it belongs to", "spent_usd": "spent when it fired", "fired_at": "when it fired"}');
SELECT agentbase.enable_tenant_rls('agentbase.budget_alert_events');
SELECT agentbase.restrict_app_to_append('agentbase.budget_alert_events');

CREATE TABLE agentbase.system_alerts (
    tenant_id       uuid        NOT NULL,
    id              uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    alert_type      text        NOT NULL,
    severity        text        NOT NULL DEFAULT 'warning',
    title           text        NOT NULL,
    message         text,
    resource_type   text,
    resource_id     text,
    status          text        NOT NULL DEFAULT 'open',
    metadata        jsonb       NOT NULL DEFAULT '{}',
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_alerts_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_system_alerts_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT chk_system_alerts_alert_type CHECK (alert_type IN
        ('budget_threshold', 'quota_exceeded', 'overage', 'error_rate', 'latency', 'security', 'other')),
    CONSTRAINT chk_system_alerts_severity CHECK (severity IN ('info', 'warning', 'critical')),
    CONSTRAINT chk_system_alerts_status CHECK (status IN ('open', 'acknowledged', 'resolved'))
);
COMMENT ON TABLE agentbase.system_alerts IS 'alerts raised for a tenant (budget thresholds, overage, quotas ...)';
SELECT pg_temp.comment_columns('agentbase.system_alerts', '{
  "tenant_id": "owning tenant", "id": "alert id",
  "alert_type": "budget_threshold, quota_exceeded, overage, error_rate, latency, security or other",
  "severity": "info, warning or critical", "title": "short text", "message": "details",
  "resource_type": "kind of the object concerned", "resource_id": "id of that object",
  "status": "open, acknowledged or resolved", "metadata": "free-form attributes",
  "acknowledged_at": "when acknowledged", "resolved_at": "when resolved",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
CREATE INDEX idx_system_alerts_tenant_id_status ON agentbase.system_alerts (tenant_id, status, created_at DESC);
SELECT agentbase.enable_tenant_rls('agentbase.system_alerts');
SELECT agentbase.attach_updated_at('agentbase.system_alerts');
SELECT agentbase.attach_audit('agentbase.system_alerts', 'system_alert');

-- ------------------------------------------------------------------------------------
-- Rollups, billing, metrics
-- ------------------------------------------------------------------------------------

CREATE TABLE agentbase.cost_tracking (
    tenant_id      uuid          NOT NULL,
    id             uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    period_type    text          NOT NULL,
    period_start   timestamptz   NOT NULL,
    user_id        uuid,
    provider       text          NOT NULL DEFAULT '',
    model          text          NOT NULL DEFAULT '',
    request_count  bigint        NOT NULL DEFAULT 0,
    success_count  bigint        NOT NULL DEFAULT 0,
    error_count    bigint        NOT NULL DEFAULT 0,
    input_tokens   bigint        NOT NULL DEFAULT 0,
    output_tokens  bigint        NOT NULL DEFAULT 0,
    cached_tokens  bigint        NOT NULL DEFAULT 0,
    total_tokens   bigint        NOT NULL DEFAULT 0,
    total_cost     numeric(20,10) NOT NULL DEFAULT 0,
    avg_latency_ms numeric(12,3),
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT cost_tracking_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_cost_tracking_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_cost_tracking_users FOREIGN KEY (tenant_id, user_id)
        REFERENCES agentbase.users (tenant_id, id) ON DELETE SET NULL (user_id),
    CONSTRAINT uq_cost_tracking_rollup UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, user_id, provider, model),
    CONSTRAINT chk_cost_tracking_period_type
        CHECK (period_type IN ('hourly', 'daily', 'weekly', 'monthly', 'yearly')),
    CONSTRAINT chk_cost_tracking_request_count CHECK (request_count >= 0),
    CONSTRAINT chk_cost_tracking_success_count CHECK (success_count >= 0),
    CONSTRAINT chk_cost_tracking_error_count CHECK (error_count >= 0),
    CONSTRAINT chk_cost_tracking_input_tokens CHECK (input_tokens >= 0),
    CONSTRAINT chk_cost_tracking_output_tokens CHECK (output_tokens >= 0),
    CONSTRAINT chk_cost_tracking_cached_tokens CHECK (cached_tokens >= 0),
    CONSTRAINT chk_cost_tracking_total_tokens CHECK (total_tokens >= 0),
    CONSTRAINT chk_cost_tracking_total_cost CHECK (total_cost >= 0),
    CONSTRAINT chk_cost_tracking_avg_latency_ms CHECK (avg_latency_ms IS NULL OR avg_latency_ms >= 0)
);
COMMENT ON TABLE agentbase.cost_tracking IS
    'cost and token rollups per period (hourly ... yearly), user, provider and model';
SELECT pg_temp.comment_columns('agentbase.cost_tracking', '{
  "tenant_id": "owning tenant", "id": "rollup id", "period_type": "hourly, daily, weekly, monthly or yearly",
  "period_start": "start of the period", "user_id": "the user (NULL: all users)", "provider": "provider name ('''' : all)",
  "model": "model name ('''' : all)", "request_count": "requests", "success_count": "successful requests",
  "error_count": "failed requests", "input_tokens": "input tokens", "output_tokens": "output tokens",
  "cached_tokens": "cached tokens", "total_tokens": "all tokens", "total_cost": "USD",
  "avg_latency_ms": "average latency", "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
CREATE INDEX idx_cost_tracking_user_id_created_at ON agentbase.cost_tracking (tenant_id, user_id, created_at);
SELECT agentbase.enable_tenant_rls('agentbase.cost_tracking');
SELECT agentbase.attach_updated_at('agentbase.cost_tracking');

CREATE TABLE agentbase.billing_records (
    tenant_id      uuid          NOT NULL,
    id             uuid          NOT NULL DEFAULT agentbase.uuid_v7(),
    period_start   timestamptz   NOT NULL,
    period_end     timestamptz   NOT NULL,
    amount_usd     numeric(20,10) NOT NULL DEFAULT 0,
    tokens         bigint        NOT NULL DEFAULT 0,
    status         text          NOT NULL DEFAULT 'draft',
    invoice_number text,
    line_items     jsonb         NOT NULL DEFAULT '[]',
    paid_at        timestamptz,
    metadata       jsonb         NOT NULL DEFAULT '{}',
    created_at     timestamptz   NOT NULL DEFAULT now(),
    updated_at     timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT billing_records_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_billing_records_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT uq_billing_records_tenant_id_invoice_number UNIQUE (tenant_id, invoice_number),
    CONSTRAINT chk_billing_records_period CHECK (period_end > period_start),
    CONSTRAINT chk_billing_records_amount_usd CHECK (amount_usd >= 0),
    CONSTRAINT chk_billing_records_tokens CHECK (tokens >= 0),
    CONSTRAINT chk_billing_records_status CHECK (status IN ('draft', 'issued', 'paid', 'void', 'overdue')),
    CONSTRAINT chk_billing_records_line_items CHECK (jsonb_typeof(line_items) = 'array')
);
COMMENT ON TABLE agentbase.billing_records IS 'invoices of a tenant per billing period';
SELECT pg_temp.comment_columns('agentbase.billing_records', '{
  "tenant_id": "owning tenant", "id": "record id", "period_start": "start of the billing period",
  "period_end": "end of the billing period (after its start)", "amount_usd": "amount due (>= 0)",
  "tokens": "tokens billed (>= 0)", "status": "draft, issued, paid, void or overdue",
  "invoice_number": "invoice number, unique in the tenant", "line_items": "array of line items",
  "paid_at": "when it was paid", "metadata": "free-form attributes",
  "created_at": "creation time", "updated_at": "last update time (trigger-maintained)"}');
SELECT agentbase.enable_tenant_rls('agentbase.billing_records');
SELECT agentbase.attach_updated_at('agentbase.billing_records');
SELECT agentbase.attach_audit('agentbase.billing_records', 'billing_record');

CREATE TABLE agentbase.performance_metrics (
    tenant_id   uuid        NOT NULL,
    id          uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    agent_id    uuid,
    metric_name text        NOT NULL,
    value       numeric     NOT NULL,
    unit        text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT performance_metrics_pkey PRIMARY KEY (tenant_id, id),
    CONSTRAINT fk_performance_metrics_tenants FOREIGN KEY (tenant_id)
        REFERENCES agentbase.tenants (id) ON DELETE CASCADE,
    CONSTRAINT fk_performance_metrics_agents FOREIGN KEY (tenant_id, agent_id)
        REFERENCES agentbase.agents (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT chk_performance_metrics_metric_name CHECK (metric_name ~ '^[a-z][a-z0-9_.]{0,63}$')
);
COMMENT ON TABLE agentbase.performance_metrics IS 'performance measurements of a tenant''s agents (append-only)';
SELECT pg_temp.comment_columns('agentbase.performance_metrics', '{
  "tenant_id": "owning tenant", "id": "metric id", "agent_id": "agent measured (NULL: the tenant)",
  "metric_name": "what is measured (success_rate, p95_latency_ms ...)", "value": "measured value",
  "unit": "unit of the value", "recorded_at": "when it was measured", "created_at": "creation time"}');
CREATE INDEX idx_performance_metrics_tenant_id_agent_id ON agentbase.performance_metrics (tenant_id, agent_id, recorded_at);
SELECT agentbase.enable_tenant_rls('agentbase.performance_metrics');
SELECT agentbase.restrict_app_to_append('agentbase.performance_metrics');

CREATE TABLE agentbase.system_metrics (
    id          uuid        NOT NULL DEFAULT agentbase.uuid_v7(),
    component   text        NOT NULL,
    metric_name text        NOT NULL,
    value       numeric     NOT NULL,
    labels      jsonb       NOT NULL DEFAULT '{}',
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT system_metrics_pkey PRIMARY KEY (id),
    CONSTRAINT chk_system_metrics_metric_name CHECK (metric_name ~ '^[a-z][a-z0-9_.]{0,63}$')
);
COMMENT ON TABLE agentbase.system_metrics IS 'platform-wide measurements (global; written by the platform)';
SELECT pg_temp.comment_columns('agentbase.system_metrics', '{
  "id": "metric id", "component": "part of the platform measured", "metric_name": "what is measured",
  "value": "measured value", "labels": "further dimensions", "recorded_at": "when it was measured"}');
CREATE INDEX idx_system_metrics_component_recorded_at ON agentbase.system_metrics (component, recorded_at);
SELECT agentbase.restrict_app_to_read('agentbase.system_metrics');

-- ------------------------------------------------------------------------------------
-- Compatibility views of the legacy (Alembic) system
-- ------------------------------------------------------------------------------------

CREATE VIEW agentbase.usage_logs WITH (security_invoker = true) AS
    SELECT id, tenant_id, user_id, agent_id, conversation_id, provider, model,
           input_tokens AS prompt_tokens, output_tokens AS completion_tokens, total_tokens,
           total_cost AS cost, latency_ms AS response_time_ms, status, created_at
      FROM agentbase.ai_requests;
COMMENT ON VIEW agentbase.usage_logs IS 'legacy usage_logs: one row per LLM call, over ai_requests';
SELECT pg_temp.comment_columns('agentbase.usage_logs', '{
  "id": "request id", "tenant_id": "owning tenant", "user_id": "user", "agent_id": "agent",
  "conversation_id": "conversation", "provider": "provider name", "model": "model name",
  "prompt_tokens": "input tokens", "completion_tokens": "output tokens", "total_tokens": "all tokens",
  "cost": "USD", "response_time_ms": "latency", "status": "outcome", "created_at": "when"}');

CREATE VIEW agentbase.token_transactions WITH (security_invoker = true) AS
    SELECT id, tenant_id, user_id, wallet_id, entry_type AS transaction_type, amount,
           balance_after, reason AS description, reference_type, reference_id, created_at
      FROM agentbase.token_ledger;
COMMENT ON VIEW agentbase.token_transactions IS 'legacy token_transactions: the token ledger';
SELECT pg_temp.comment_columns('agentbase.token_transactions', '{
  "id": "entry id", "tenant_id": "owning tenant", "user_id": "user", "wallet_id": "wallet",
  "transaction_type": "credit, debit, reserve, release or adjustment", "amount": "tokens",
  "balance_after": "balance after it", "description": "reason", "reference_type": "kind of referenced object",
  "reference_id": "id of the referenced object", "created_at": "when"}');

CREATE VIEW agentbase.user_quotas WITH (security_invoker = true) AS
    SELECT id, tenant_id, user_id, daily_token_limit AS daily_limit, tokens_used_today AS used_today,
           last_reset_date AS reset_date, created_at, updated_at
      FROM agentbase.quotas;
COMMENT ON VIEW agentbase.user_quotas IS 'legacy user_quotas: the daily token quota of each user';
SELECT pg_temp.comment_columns('agentbase.user_quotas', '{
  "id": "quota id", "tenant_id": "owning tenant", "user_id": "user", "daily_limit": "tokens a day",
  "used_today": "tokens used today", "reset_date": "date of the last reset",
  "created_at": "creation time", "updated_at": "last update time"}');

-- ------------------------------------------------------------------------------------
-- Token functions (SECURITY INVOKER: the service's calls stay inside its tenant by RLS)
-- ------------------------------------------------------------------------------------

-- One change of a user's wallet, with its ledger entry, under the wallet's row lock.
-- Returns the entry (and "available"); the same idempotency key returns the first result.
CREATE FUNCTION agentbase.adjust_user_tokens(
    p_user_id uuid, p_amount bigint, p_direction text, p_reason text DEFAULT NULL,
    p_source text DEFAULT NULL, p_reference_type text DEFAULT NULL,
    p_reference_id text DEFAULT NULL, p_execution_id text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}', p_idempotency_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_tenant uuid;
    v_w agentbase.token_wallets;
    v_entry agentbase.token_ledger;
    v_result jsonb;
    v_available bigint;
BEGIN
    IF p_direction IS NULL OR p_direction NOT IN ('credit', 'debit', 'reserve', 'release', 'adjustment') THEN
        RAISE EXCEPTION 'invalid p_direction %: expected credit, debit, reserve, release or adjustment',
              coalesce(p_direction, 'NULL') USING ERRCODE = '22023';
    END IF;
    IF p_amount IS NULL OR p_amount = 0 OR (p_amount < 0 AND p_direction <> 'adjustment') THEN
        RAISE EXCEPTION 'invalid p_amount %: must be positive (an adjustment may be negative, not zero)',
              coalesce(p_amount::text, 'NULL') USING ERRCODE = '22023';
    END IF;
    SELECT tenant_id INTO v_tenant FROM agentbase.users WHERE id = p_user_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
    END IF;

    IF p_idempotency_key IS NOT NULL THEN
        -- A concurrent call with the same key waits here until the first one ends.
        INSERT INTO agentbase.idempotency_keys (tenant_id, scope, key)
        VALUES (v_tenant, 'adjust_user_tokens', p_idempotency_key)
        ON CONFLICT (tenant_id, scope, key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT response INTO v_result FROM agentbase.idempotency_keys
             WHERE tenant_id = v_tenant AND scope = 'adjust_user_tokens' AND key = p_idempotency_key;
            RETURN v_result;
        END IF;
    END IF;

    INSERT INTO agentbase.token_wallets (tenant_id, user_id) VALUES (v_tenant, p_user_id)
    ON CONFLICT (tenant_id, user_id) DO NOTHING;
    SELECT * INTO v_w FROM agentbase.token_wallets
     WHERE tenant_id = v_tenant AND user_id = p_user_id FOR UPDATE;
    v_available := v_w.balance - v_w.held;

    CASE p_direction
    WHEN 'credit' THEN
        v_w.balance := v_w.balance + p_amount;
        v_w.lifetime_credited := v_w.lifetime_credited + p_amount;
    WHEN 'debit' THEN
        IF v_available < p_amount THEN
            RAISE EXCEPTION 'insufficient tokens: available %, requested %', v_available, p_amount
                  USING ERRCODE = 'AB001';
        END IF;
        v_w.balance := v_w.balance - p_amount;
        v_w.lifetime_debited := v_w.lifetime_debited + p_amount;
    WHEN 'reserve' THEN
        IF v_available < p_amount THEN
            RAISE EXCEPTION 'insufficient tokens: available %, requested %', v_available, p_amount
                  USING ERRCODE = 'AB001';
        END IF;
        v_w.held := v_w.held + p_amount;
    WHEN 'release' THEN
        IF v_w.held < p_amount THEN
            RAISE EXCEPTION 'cannot release % tokens: only % are held', p_amount, v_w.held
                  USING ERRCODE = 'AB002';
        END IF;
        v_w.held := v_w.held - p_amount;
    WHEN 'adjustment' THEN
        IF v_available + p_amount < 0 THEN
            RAISE EXCEPTION 'insufficient tokens: available %, adjustment %', v_available, p_amount
                  USING ERRCODE = 'AB001';
        END IF;
        v_w.balance := v_w.balance + p_amount;
    END CASE;

    UPDATE agentbase.token_wallets
       SET balance = v_w.balance, held = v_w.held,
           lifetime_credited = v_w.lifetime_credited, lifetime_debited = v_w.lifetime_debited
     WHERE tenant_id = v_w.tenant_id AND id = v_w.id;
    INSERT INTO agentbase.token_ledger
        (tenant_id, wallet_id, user_id, entry_type, amount, balance_after, held_after, reason,
         source, reference_type, reference_id, execution_id, idempotency_key, metadata, created_by)
    VALUES
        (v_tenant, v_w.id, p_user_id, p_direction, p_amount, v_w.balance, v_w.held, p_reason,
         p_source, p_reference_type, p_reference_id, p_execution_id, p_idempotency_key,
         coalesce(p_metadata, '{}'), agentbase.current_actor_id())
    RETURNING * INTO v_entry;
    v_result := to_jsonb(v_entry) || jsonb_build_object('available', v_w.balance - v_w.held);

    IF p_idempotency_key IS NOT NULL THEN
        UPDATE agentbase.idempotency_keys SET response = v_result, status = 'completed'
         WHERE tenant_id = v_tenant AND scope = 'adjust_user_tokens' AND key = p_idempotency_key;
    END IF;
    RETURN v_result;
END
$$;
COMMENT ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text) IS
    'credit, debit, reserve, release or adjust a user''s tokens with one ledger entry; never below zero; idempotent by key';

-- Gives a user the wallet level and monthly allocation of a plan, and credits this month's
-- allocation once (a second call in the same month credits nothing).
CREATE FUNCTION agentbase.auto_allocate_tokens_for_level(p_user_id uuid, p_level text)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_plan agentbase.subscription_plans;
    v_tenant uuid;
BEGIN
    SELECT * INTO v_plan FROM agentbase.subscription_plans WHERE level = p_level AND is_active;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'invalid p_level %: no active plan has it', coalesce(p_level, 'NULL')
              USING ERRCODE = '22023';
    END IF;
    SELECT tenant_id INTO v_tenant FROM agentbase.users WHERE id = p_user_id AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'AB404';
    END IF;
    INSERT INTO agentbase.token_wallets (tenant_id, user_id) VALUES (v_tenant, p_user_id)
    ON CONFLICT (tenant_id, user_id) DO NOTHING;
    UPDATE agentbase.token_wallets SET level = p_level, monthly_allocation = v_plan.monthly_token_allocation
     WHERE tenant_id = v_tenant AND user_id = p_user_id;
    UPDATE agentbase.users SET level = p_level WHERE tenant_id = v_tenant AND id = p_user_id;
    IF v_plan.monthly_token_allocation = 0 THEN
        RETURN jsonb_build_object('level', p_level, 'credited', 0);
    END IF;
    RETURN agentbase.adjust_user_tokens(
        p_user_id, v_plan.monthly_token_allocation, 'credit', 'monthly allocation of level ' || p_level,
        'level_allocation', 'subscription_plan', v_plan.id::text, NULL,
        jsonb_build_object('level', p_level),
        format('level:%s:%s:%s', p_user_id, p_level, to_char(now(), 'YYYY-MM')));
END
$$;
COMMENT ON FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text) IS
    'sets a user''s level and credits the plan''s monthly allocation once per month';

-- The monthly reset: every wallet with an allocation that was not reset this month gets an
-- adjustment making its available tokens the allocation (plus what rolls over when the
-- plan's token policy says so, up to max_balance). Returns how many wallets it reset;
-- running it again in the same month resets none.
CREATE FUNCTION agentbase.reset_monthly_tokens() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_w agentbase.token_wallets;
    v_policy jsonb;
    v_target bigint;
    v_count integer := 0;
BEGIN
    FOR v_w IN SELECT * FROM agentbase.token_wallets
                WHERE monthly_allocation > 0
                  AND (last_monthly_reset_at IS NULL OR last_monthly_reset_at < date_trunc('month', now()))
                ORDER BY tenant_id, id
                  FOR UPDATE LOOP
        SELECT token_policy INTO v_policy FROM agentbase.subscription_plans WHERE level = v_w.level;
        v_target := v_w.monthly_allocation;
        IF coalesce((v_policy ->> 'rollover')::boolean, false) THEN
            v_target := v_target + (v_w.balance - v_w.held);
        END IF;
        IF v_policy ? 'max_balance' THEN
            v_target := least(v_target, (v_policy ->> 'max_balance')::bigint);
        END IF;
        IF v_w.held + v_target <> v_w.balance THEN
            PERFORM agentbase.adjust_user_tokens(
                v_w.user_id, v_w.held + v_target - v_w.balance, 'adjustment', 'monthly reset',
                'monthly_reset', 'token_wallet', v_w.id::text, NULL, '{}',
                format('monthly:%s:%s', v_w.id, to_char(now(), 'YYYY-MM')));
        END IF;
        UPDATE agentbase.token_wallets SET last_monthly_reset_at = now()
         WHERE tenant_id = v_w.tenant_id AND id = v_w.id;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.reset_monthly_tokens() IS
    'monthly token reset per the plans'' token policies; returns the wallets reset (0 when run twice in a month)';

-- The daily quota reset (and the monthly one of tokens_used_month): returns how many quotas
-- it reset for the new day; running it again the same day resets none.
CREATE FUNCTION agentbase.reset_daily_quotas() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE agentbase.quotas
       SET tokens_used_month = 0, month_start = date_trunc('month', now())::date
     WHERE month_start < date_trunc('month', now())::date;
    UPDATE agentbase.quotas
       SET tokens_used_today = 0, requests_today = 0, last_reset_date = current_date, reset_at = now()
     WHERE last_reset_date < current_date;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END
$$;
COMMENT ON FUNCTION agentbase.reset_daily_quotas() IS
    'daily quota reset (and monthly token counts); returns the quotas reset (0 when run twice a day)';
