-- Reverts 0014_dag_check: workflow_definition_problem() as 0005 defined it (the same
-- answers, found with joins whose method the planner chooses). CREATE OR REPLACE keeps the
-- function's owner, comment and grants.

CREATE OR REPLACE FUNCTION agentbase.workflow_definition_problem(p_definition jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    v_nodes text[];
    v_src text[];
    v_dst text[];
    v_bad text;
    v_count int;
    v_from int[];      -- edges as node numbers (positions in v_nodes), by source
    v_to int[];
    v_first int[];     -- v_first[k] .. v_first[k + 1] - 1: the edges leaving node k
    v_indeg int[];     -- edges into each node from nodes not yet taken
    v_queue int[];     -- nodes taken, in order
    v_pos int := 1;
    v_j int;
    v_k int;
BEGIN
    IF p_definition IS NULL OR jsonb_typeof(p_definition) <> 'object' THEN
        RETURN 'definition must be a JSON object';
    END IF;
    IF jsonb_typeof(p_definition -> 'nodes') IS DISTINCT FROM 'array'
       OR jsonb_typeof(p_definition -> 'edges') IS DISTINCT FROM 'array' THEN
        RETURN 'definition must have "nodes" and "edges" arrays';
    END IF;

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v)
                WHERE jsonb_typeof(n.v) <> 'object'
                   OR coalesce(jsonb_typeof(n.v -> 'id'), '') NOT IN ('string', 'number')
                   OR n.v ->> 'id' = '') THEN
        RETURN 'every node must be an object with a non-empty "id"';
    END IF;
    SELECT n.v ->> 'id' INTO v_bad
      FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v)
     GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN format('duplicate node id "%s"', v_bad);
    END IF;
    v_nodes := ARRAY(SELECT n.v ->> 'id' FROM jsonb_array_elements(p_definition -> 'nodes') AS n(v));

    IF EXISTS (SELECT 1 FROM jsonb_array_elements(p_definition -> 'edges') AS e(v)
                WHERE jsonb_typeof(e.v) <> 'object'
                   OR coalesce(e.v ->> 'from', e.v ->> 'source') IS NULL
                   OR coalesce(e.v ->> 'to', e.v ->> 'target') IS NULL) THEN
        RETURN 'every edge must be an object with "from" and "to" (or "source" and "target")';
    END IF;
    SELECT array_agg(coalesce(e.v ->> 'from', e.v ->> 'source') ORDER BY e.i),
           array_agg(coalesce(e.v ->> 'to', e.v ->> 'target') ORDER BY e.i)
      INTO v_src, v_dst
      FROM jsonb_array_elements(p_definition -> 'edges') WITH ORDINALITY AS e(v, i);
    SELECT format('edge %s -> %s names an unknown node', e.s, e.d) INTO v_bad
      FROM unnest(v_src, v_dst) WITH ORDINALITY AS e(s, d, i)
      LEFT JOIN unnest(v_nodes) AS a(n) ON a.n = e.s
      LEFT JOIN unnest(v_nodes) AS b(n) ON b.n = e.d
     WHERE a.n IS NULL OR b.n IS NULL
     ORDER BY e.i LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN v_bad;
    END IF;
    SELECT format('edge %s -> %s is a self-loop', e.s, e.d) INTO v_bad
      FROM unnest(v_src, v_dst) AS e(s, d) WHERE e.s = e.d LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN v_bad;
    END IF;

    -- Kahn, on node numbers: take nodes no remaining edge points to, removing their
    -- outgoing edges; nodes never taken lie on (or behind) a cycle. Edges are sorted by
    -- source, and v_first[k] is the first edge of node k, so the walk is linear.
    SELECT coalesce(array_agg(a.i::int ORDER BY a.i, b.i), '{}'),
           coalesce(array_agg(b.i::int ORDER BY a.i, b.i), '{}')
      INTO v_from, v_to
      FROM unnest(v_src, v_dst) AS e(s, d)
      JOIN unnest(v_nodes) WITH ORDINALITY AS a(n, i) ON a.n = e.s
      JOIN unnest(v_nodes) WITH ORDINALITY AS b(n, i) ON b.n = e.d;
    v_count := cardinality(v_nodes);
    v_indeg := array_fill(0, ARRAY[v_count]);
    v_first := array_fill(0, ARRAY[v_count + 1]);
    FOR v_j IN 1 .. cardinality(v_to) LOOP
        v_indeg[v_to[v_j]] := v_indeg[v_to[v_j]] + 1;
        v_first[v_from[v_j] + 1] := v_first[v_from[v_j] + 1] + 1;
    END LOOP;
    v_first[1] := 1;
    FOR v_k IN 2 .. v_count + 1 LOOP
        v_first[v_k] := v_first[v_k] + v_first[v_k - 1];
    END LOOP;
    v_queue := '{}';
    FOR v_k IN 1 .. v_count LOOP
        IF v_indeg[v_k] = 0 THEN
            v_queue := array_append(v_queue, v_k);
        END IF;
    END LOOP;
    WHILE v_pos <= cardinality(v_queue) LOOP
        v_k := v_queue[v_pos];
        FOR v_j IN v_first[v_k] .. v_first[v_k + 1] - 1 LOOP
            v_indeg[v_to[v_j]] := v_indeg[v_to[v_j]] - 1;
            IF v_indeg[v_to[v_j]] = 0 THEN
                v_queue := array_append(v_queue, v_to[v_j]);
            END IF;
        END LOOP;
        v_pos := v_pos + 1;
    END LOOP;
    IF cardinality(v_queue) < cardinality(v_nodes) THEN
        RETURN 'edges form a cycle';
    END IF;
    RETURN NULL;
END
$$;
