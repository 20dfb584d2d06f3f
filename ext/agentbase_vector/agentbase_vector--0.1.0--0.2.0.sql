-- agentbase_vector 0.2.0: the index access method hnsw and its operator classes.
\echo Use "ALTER EXTENSION agentbase_vector UPDATE TO '0.2.0'" to load this file. \quit

CREATE FUNCTION hnswhandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME' LANGUAGE C;
CREATE ACCESS METHOD hnsw TYPE INDEX HANDLER hnswhandler;
COMMENT ON ACCESS METHOD hnsw IS 'hierarchical navigable small world graph (approximate nearest neighbours)';

-- Function 1 is the distance the graph is built on; it orders as the operator does
-- (the squared L2 distance orders as <->). Function 2, a norm: a row whose vector has
-- norm 0 is not indexed (its cosine distance is NaN).
CREATE OPERATOR CLASS vector_l2_ops FOR TYPE vector USING hnsw AS
    OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 vector_l2_squared_distance(vector, vector);
CREATE OPERATOR CLASS vector_ip_ops FOR TYPE vector USING hnsw AS
    OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 vector_negative_inner_product(vector, vector);
CREATE OPERATOR CLASS vector_cosine_ops FOR TYPE vector USING hnsw AS
    OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 cosine_distance(vector, vector),
    FUNCTION 2 vector_norm(vector);

-- What amcheck would check of an hnsw index (links, list sizes, the entry point), with
-- inserts held off; the number of elements not deleted. For superusers.
CREATE FUNCTION hnsw_index_check(regclass) RETURNS bigint
    AS 'MODULE_PATHNAME' LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION hnsw_index_check(regclass) FROM PUBLIC;
