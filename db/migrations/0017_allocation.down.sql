-- Back to 0016: the leases and their functions go, adjust_user_tokens and the level
-- allocation return to 0011's forms. The six plan rows 0017 made sure of stay: they are
-- data the seed owns, and users may be on them.

REVOKE ALL ON agentbase.ai_executions FROM agentbase_app;
DROP VIEW agentbase.ai_executions;

CREATE OR REPLACE FUNCTION agentbase.auto_allocate_tokens_for_level(p_user_id uuid, p_level text) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    RETURN agentbase.auto_allocate_tokens_for_level_unchecked(p_user_id, p_level);
END
$$;
COMMENT ON FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, text) IS
    'sets a user''s level and grants its monthly tokens once a month (platform-governed)';
DROP FUNCTION agentbase.auto_allocate_tokens_for_level(uuid, uuid);

DROP FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, uuid, uuid, jsonb, text);
DROP FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text);
CREATE FUNCTION agentbase.adjust_user_tokens(
    p_user_id uuid, p_amount bigint, p_direction text, p_reason text DEFAULT NULL,
    p_source text DEFAULT NULL, p_reference_type text DEFAULT NULL,
    p_reference_id text DEFAULT NULL, p_execution_id text DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}', p_idempotency_key text DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = agentbase, pg_temp AS $$
BEGIN
    PERFORM agentbase.billing_check(p_user_id);
    RETURN agentbase.adjust_user_tokens_unchecked(p_user_id, p_amount, p_direction, p_reason, p_source,
                                                  p_reference_type, p_reference_id, p_execution_id,
                                                  p_metadata, p_idempotency_key);
END
$$;
COMMENT ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text) IS
    'credits, debits, reserves, releases or adjusts a user''s wallet with its ledger entry (platform-governed; see adjust_user_tokens_unchecked)';
GRANT EXECUTE ON FUNCTION agentbase.adjust_user_tokens(uuid, bigint, text, text, text, text, text, text, jsonb, text)
    TO agentbase_app;

DROP FUNCTION agentbase.agent_leases_expire(integer);
DROP FUNCTION agentbase.agent_lease_release(uuid);
DROP FUNCTION agentbase.agent_lease_acquire(uuid, text, integer);
DROP FUNCTION agentbase.agent_lease_json(agentbase.agent_leases);
DROP FUNCTION agentbase.agent_lease_tenant(uuid);
DROP TRIGGER trg_load_guard ON agentbase.agents;
DROP FUNCTION agentbase.agents_load_guard();
DROP TABLE agentbase.agent_leases;
DROP FUNCTION agentbase.agent_leases_load();
DELETE FROM agentbase.role_access WHERE resource = 'agent-leases';

DROP INDEX agentbase.idx_usage_metrics_tenant_id_metric_type_period;
DROP INDEX agentbase.idx_usage_metrics_tenant_id_agent_id_created_at;
DROP INDEX agentbase.idx_usage_metrics_tenant_id_user_id_created_at;
ALTER TABLE agentbase.usage_metrics
    DROP CONSTRAINT fk_usage_metrics_agents,
    DROP CONSTRAINT fk_usage_metrics_users,
    DROP CONSTRAINT chk_usage_metrics_period_end,
    DROP COLUMN period_end;
COMMENT ON COLUMN agentbase.usage_metrics.user_id IS 'user measured';
COMMENT ON COLUMN agentbase.usage_metrics.agent_id IS 'agent measured';

DROP INDEX agentbase.idx_users_level;
ALTER TABLE agentbase.users DROP CONSTRAINT fk_users_subscription_plans;
COMMENT ON COLUMN agentbase.users.level IS 'subscription level name (plans of the accounting module), default free';

DROP FUNCTION agentbase.update_updated_at_column();
