-- Reverts 0005_workflows: drops its tables (with their indexes, triggers and policies)
-- and functions, in reverse order of creation.

DROP TABLE agentbase.orchestration_runs;
DROP TABLE agentbase.workers;
DROP TABLE agentbase.routing_strategies;
DROP TABLE agentbase.engine_assignments;
DROP TABLE agentbase.engines;
DROP TABLE agentbase.quality_gate_results;
DROP FUNCTION agentbase.quality_gate_results_update_gate();
DROP TABLE agentbase.tasks;
DROP TABLE agentbase.quality_gates;
DROP TABLE agentbase.workflow_step_executions;
DROP TABLE agentbase.workflow_executions;
DROP FUNCTION agentbase.workflow_executions_fill_version();
DROP TABLE agentbase.workflows;
DROP FUNCTION agentbase.workflow_definition_problem(jsonb);
