-- usage_metrics' references checked once for the accounting (issue 15).
--
-- Since 0017, usage_metrics' user_id and agent_id are composite foreign keys to the users and
-- agents of the row's tenant, so 0011's trg_refs, which looks the same ids up again with a
-- dynamic statement per row, only gives a client a message that names the field. The
-- accounting batch (usage_flush, as the owner) writes one row per user and agent of each
-- batch from references usage_check_refs has already checked, and that lookup was most of
-- the cost of its insert (3.0 of 4.8 ms for 32 rows; bench/usage.sh, BENCH_PROFILE=1). As for
-- ai_requests (0018), the owner skips the trigger; the foreign keys still hold every writer.

DROP TRIGGER trg_refs ON agentbase.usage_metrics;
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.usage_metrics
    FOR EACH ROW WHEN (current_user <> 'agentbase_owner')
    EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents');
