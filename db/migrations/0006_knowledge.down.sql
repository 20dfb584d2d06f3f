-- Reverts 0006_knowledge: drops its tables (with their partitions, indexes, triggers and
-- policies) and functions, in reverse order of creation.

DROP TABLE agentbase.rag_queries;
DROP TABLE agentbase.chunks;
DROP FUNCTION agentbase.chunks_maintain_counts();
DROP FUNCTION agentbase.chunks_check();
DROP TABLE agentbase.documents;
DROP FUNCTION agentbase.documents_maintain_counts();
DROP FUNCTION agentbase.documents_guard();
DROP TABLE agentbase.collections;
DROP FUNCTION agentbase.collections_guard();
