-- Back to 0024: the owner's writes of usage_metrics checked by trg_refs too.

DROP TRIGGER trg_refs ON agentbase.usage_metrics;
CREATE TRIGGER trg_refs BEFORE INSERT OR UPDATE ON agentbase.usage_metrics
    FOR EACH ROW EXECUTE FUNCTION agentbase.refs_check('user_id:users', 'agent_id:agents');
