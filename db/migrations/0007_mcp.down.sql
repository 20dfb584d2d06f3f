-- Reverts 0007_mcp: drops what the up migration created, in reverse order. Dropping a
-- table drops its partitions, indexes, triggers, policies and grants with it.

DROP TABLE agentbase.mcp_tool_executions;
DROP TABLE agentbase.mcp_server_configs;
DROP VIEW agentbase.mcp_server_catalog;
DROP TABLE agentbase.tenant_mcp_servers;
DROP TABLE agentbase.mcp_servers;
