-- Reverts 0013_secrets: drops what the up migration created, in reverse order, and gives
-- mcp_server_configs back its 0007 shape.

DROP FUNCTION agentbase.audit_secret_read(text, uuid, text, text[]);
DELETE FROM agentbase.role_access WHERE resource = 'ai-provider-keys';
DROP TABLE agentbase.ai_provider_keys;
DROP TRIGGER trg_refuse_secret_config ON agentbase.mcp_server_configs;
DROP FUNCTION agentbase.mcp_server_configs_refuse_secret_config();
DROP FUNCTION agentbase.mcp_server_configs_check_config(uuid, uuid, uuid, text[]);
ALTER TABLE agentbase.mcp_server_configs
    DROP CONSTRAINT chk_mcp_server_configs_secrets_hint,
    DROP COLUMN secrets_hint;
