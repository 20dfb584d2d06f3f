DROP INDEX agentbase.idx_agents_model_name;
DROP INDEX agentbase.idx_agents_model;
DROP INDEX agentbase.idx_agents_agent_type;
DROP INDEX agentbase.idx_agents_created_at;
DROP FUNCTION agentbase.idempotency_complete(text, integer, text);
DROP FUNCTION agentbase.idempotency_claim(text, text);
DROP FUNCTION agentbase.idempotency_scope();
DROP FUNCTION agentbase.idempotency_tenant();
