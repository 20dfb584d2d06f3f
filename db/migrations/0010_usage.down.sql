-- Reverts 0010_usage: drops the usage functions, then gives the accounting tables back
-- their 0004 shape (columns, constraints, comments and the audit of holds).

DROP FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text);
DROP FUNCTION agentbase.usage_apply(jsonb);
DROP FUNCTION agentbase.usage_flush(jsonb);
DROP FUNCTION agentbase.usage_expire_holds(integer);
DROP FUNCTION agentbase.usage_event(jsonb, text);
DROP FUNCTION agentbase.usage_release(jsonb);
DROP FUNCTION agentbase.usage_settle(jsonb);
DROP FUNCTION agentbase.usage_resolve(uuid, text);
DROP FUNCTION agentbase.usage_charge(jsonb, agentbase.ai_model_prices, uuid, text, boolean);
DROP FUNCTION agentbase.usage_unhold(agentbase.token_holds, text, jsonb);
DROP FUNCTION agentbase.usage_reserve(jsonb, text);
DROP FUNCTION agentbase.usage_remember(uuid, text, text, text, jsonb);
DROP FUNCTION agentbase.usage_replay(uuid, text, text, text);
DROP FUNCTION agentbase.usage_check_refs(uuid, jsonb);
DROP FUNCTION agentbase.usage_price(text, text);
DROP FUNCTION agentbase.usage_cover_overage(agentbase.token_wallets);
DROP FUNCTION agentbase.usage_ledger(agentbase.token_wallets, text, bigint, text, uuid, text);
DROP FUNCTION agentbase.usage_wallet(uuid, uuid);
DROP FUNCTION agentbase.usage_save_quota(agentbase.quotas);
DROP FUNCTION agentbase.usage_quota(uuid, uuid);
DROP FUNCTION agentbase.usage_save_counter(agentbase.tenant_quotas);
DROP FUNCTION agentbase.usage_counter(uuid, text, text);
DROP FUNCTION agentbase.usage_lock_tenant(uuid);
DROP FUNCTION agentbase.usage_error(integer, text, text, jsonb, integer);
DROP FUNCTION agentbase.usage_seconds_left(text);
DROP FUNCTION agentbase.usage_period_start(text);

ALTER TABLE agentbase.cost_tracking
    DROP CONSTRAINT chk_cost_tracking_latency_count,
    DROP CONSTRAINT chk_cost_tracking_latency_sum_ms,
    DROP CONSTRAINT uq_cost_tracking_rollup,
    DROP COLUMN latency_count,
    DROP COLUMN latency_sum_ms,
    DROP COLUMN agent_id,
    ADD CONSTRAINT uq_cost_tracking_rollup UNIQUE NULLS NOT DISTINCT
        (tenant_id, period_type, period_start, user_id, provider, model);

ALTER TABLE agentbase.tenant_quotas
    DROP CONSTRAINT chk_tenant_quotas_reserved_value,
    DROP COLUMN period_start,
    DROP COLUMN reserved_value,
    ALTER COLUMN limit_value SET NOT NULL;
COMMENT ON COLUMN agentbase.tenant_quotas.limit_value IS 'the limit (>= 0)';

ALTER TABLE agentbase.user_budgets DROP CONSTRAINT chk_user_budgets_reserved_usd, DROP COLUMN reserved_usd;
ALTER TABLE agentbase.quotas DROP CONSTRAINT chk_quotas_tokens_reserved, DROP COLUMN tokens_reserved;

ALTER TABLE agentbase.token_holds
    DROP CONSTRAINT chk_token_holds_max_output_tokens,
    DROP CONSTRAINT chk_token_holds_input_tokens,
    DROP COLUMN outcome,
    DROP COLUMN budget_ids,
    DROP COLUMN max_output_tokens,
    DROP COLUMN input_tokens,
    DROP COLUMN model_id,
    DROP COLUMN model,
    DROP COLUMN provider,
    ALTER COLUMN wallet_id SET NOT NULL;
COMMENT ON COLUMN agentbase.token_holds.wallet_id IS 'the wallet holding';
SELECT agentbase.attach_audit_except('agentbase.token_holds', 'token_hold', ARRAY['updated_at']);
