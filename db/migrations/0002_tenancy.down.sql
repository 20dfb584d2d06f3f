-- Reverts 0002_tenancy: drops what the up migration created, in reverse order. Dropping a
-- table drops its partitions, indexes, triggers, policies and grants with it.

DROP FUNCTION agentbase.auth_touch_key(uuid, uuid, inet);
DROP FUNCTION agentbase.auth_lookup_login(text, text);
DROP FUNCTION agentbase.auth_lookup_key(text);
DROP TABLE agentbase.platform_api_keys;
DROP TABLE agentbase.api_keys;
DROP TABLE agentbase.users;
DROP TABLE agentbase.tenants;
DROP FUNCTION agentbase.tenants_guard();
DROP TABLE agentbase.audit_logs;
DROP FUNCTION agentbase.attach_audit_except(regclass, text, text[], text, text[]);
