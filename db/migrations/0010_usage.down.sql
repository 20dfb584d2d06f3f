-- Reverts 0010_usage: drops the usage functions, then gives the accounting tables back
-- their 0004 shape (columns, constraints, comments and the audit of holds).

DROP FUNCTION agentbase.usage_summary(timestamptz, timestamptz, text);
DROP FUNCTION agentbase.usage_rollup();
DROP FUNCTION agentbase.usage_expire_holds(integer);
DROP FUNCTION agentbase.usage_apply(jsonb);
DROP FUNCTION agentbase.usage_apply_tenant(uuid, jsonb, integer[]);
DROP FUNCTION agentbase.usage_flush(uuid, jsonb);
DROP FUNCTION agentbase.usage_expired_ops(integer);
DROP FUNCTION agentbase.usage_event(agentbase.usage_state, jsonb, text);
DROP FUNCTION agentbase.usage_expire(agentbase.usage_state, jsonb);
DROP FUNCTION agentbase.usage_release(agentbase.usage_state, jsonb);
DROP FUNCTION agentbase.usage_settle(agentbase.usage_state, jsonb);
DROP FUNCTION agentbase.usage_take_hold(agentbase.usage_state, uuid, text);
DROP FUNCTION agentbase.usage_charge(agentbase.usage_state, jsonb, agentbase.ai_model_prices, uuid, text, boolean);
DROP FUNCTION agentbase.usage_close_hold(agentbase.token_holds, text, jsonb, uuid);
DROP FUNCTION agentbase.usage_unhold(agentbase.usage_state, agentbase.token_holds, text);
DROP FUNCTION agentbase.usage_reserve(agentbase.usage_state, jsonb, text);
DROP FUNCTION agentbase.usage_cover_overage(agentbase.usage_state);
DROP FUNCTION agentbase.usage_check_refs(agentbase.usage_state, jsonb);
DROP FUNCTION agentbase.usage_ledger(agentbase.token_wallets, text, bigint, text, uuid, text);
DROP FUNCTION agentbase.usage_save_tenant(agentbase.usage_state);
DROP FUNCTION agentbase.usage_save_user(agentbase.usage_state);
DROP FUNCTION agentbase.usage_save_budgets(agentbase.user_budgets[]);
DROP FUNCTION agentbase.usage_load_user(agentbase.usage_state, uuid);
DROP FUNCTION agentbase.usage_load_tenant(uuid);
DROP FUNCTION agentbase.usage_roll_budgets(agentbase.user_budgets[]);
DROP FUNCTION agentbase.usage_counter(uuid, text, text);
DROP TYPE agentbase.usage_state;
DROP FUNCTION agentbase.usage_remember(uuid, text, text, text, jsonb);
DROP FUNCTION agentbase.usage_replay(uuid, text, text, text);
DROP FUNCTION agentbase.usage_price(uuid);
DROP FUNCTION agentbase.usage_model(text, text);
DROP FUNCTION agentbase.usage_error(integer, text, text, jsonb, integer);
DROP FUNCTION agentbase.usage_seconds_left(text);
DROP FUNCTION agentbase.usage_period_start(text);

-- The key lookup of 0002, as it was.
CREATE OR REPLACE FUNCTION agentbase.auth_lookup_key(p_key_hash text)
RETURNS TABLE (key_id uuid, tenant_id uuid, user_id uuid, scopes text[], expires_at timestamptz,
               revoked_at timestamptz, is_platform boolean, tenant_status text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
    SELECT k.id, k.tenant_id, k.user_id, k.scopes, k.expires_at, k.revoked_at, false, t.status
      FROM agentbase.api_keys k
      JOIN agentbase.tenants t ON t.id = k.tenant_id
      LEFT JOIN agentbase.users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
     WHERE k.key_hash = p_key_hash
       AND t.deleted_at IS NULL AND t.status <> 'deleted'
       AND (k.user_id IS NULL OR (u.deleted_at IS NULL AND u.status = 'active'))
    UNION ALL
    SELECT p.id, NULL, NULL, p.scopes, p.expires_at, p.revoked_at, true, NULL
      FROM agentbase.platform_api_keys p
     WHERE p.key_hash = p_key_hash
    LIMIT 1
$$;

-- The audit triggers of 0004, with its lists of unaudited counter columns.
DROP TRIGGER trg_audit ON agentbase.quotas;
DROP TRIGGER trg_audit_update ON agentbase.quotas;
SELECT agentbase.attach_audit_except('agentbase.quotas', 'quota',
    ARRAY['tokens_used_today', 'requests_today', 'tokens_used_month', 'last_reset_date',
          'month_start', 'reset_at', 'updated_at']);
DROP TRIGGER trg_audit ON agentbase.tenant_quotas;
DROP TRIGGER trg_audit_update ON agentbase.tenant_quotas;
SELECT agentbase.attach_audit_except('agentbase.tenant_quotas', 'tenant_quota',
    ARRAY['used_value', 'reset_at', 'updated_at']);
DROP TRIGGER trg_audit ON agentbase.user_budgets;
DROP TRIGGER trg_audit_update ON agentbase.user_budgets;
SELECT agentbase.attach_audit_except('agentbase.user_budgets', 'user_budget',
    ARRAY['spent_usd', 'period_start', 'updated_at']);

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
DROP INDEX agentbase.idx_token_holds_wallet_id;
DROP INDEX agentbase.idx_token_holds_user_id;
DROP INDEX agentbase.idx_token_holds_agent_id;
DROP INDEX agentbase.idx_token_holds_conversation_id;
CREATE INDEX idx_token_holds_tenant_id_wallet_id ON agentbase.token_holds (tenant_id, wallet_id);
CREATE INDEX idx_token_holds_tenant_id_user_id ON agentbase.token_holds (tenant_id, user_id);
CREATE INDEX idx_token_holds_tenant_id_agent_id ON agentbase.token_holds (tenant_id, agent_id);
CREATE INDEX idx_token_holds_tenant_id_conversation_id ON agentbase.token_holds (tenant_id, conversation_id);
SELECT agentbase.attach_audit_except('agentbase.token_holds', 'token_hold', ARRAY['updated_at']);
