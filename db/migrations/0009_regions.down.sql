-- Reverts 0009_regions: drops what the up migration created, in reverse order. Dropping a
-- table drops its partitions, indexes, triggers, policies and grants with it.

DROP TABLE agentbase.cross_region_sync_logs;
DROP TABLE agentbase.replication_status;
DROP TABLE agentbase.tenant_regions;
DROP TABLE agentbase.regions;
