-- Reverts 0003_agents: drops what the up migration created, in reverse order. Dropping a
-- table drops its partitions, indexes, triggers, policies and grants with it.

DROP TABLE agentbase.generated_content;
DROP TABLE agentbase.tool_executions;
DROP TABLE agentbase.messages;
DROP FUNCTION agentbase.messages_guard();
DROP FUNCTION agentbase.messages_append();
DROP TABLE agentbase.conversations;
DROP FUNCTION agentbase.conversations_guard();
DROP TABLE agentbase.agent_assignments;
DROP TABLE agentbase.agents;
