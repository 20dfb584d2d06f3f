/*
 * CREATE INDEX, the init fork of an unlogged index, and the insertion of one row.
 *
 * The build inserts the table's rows one by one into the graph on the index's own pages,
 * through shared buffers, as aminsert does: what it keeps in backend memory is one row's
 * searches (a memory context reset per row), never the graph, so a build of any size stays
 * within maintenance_work_mem (and work_mem) whatever they are set to; the buffer manager
 * decides what of the graph stays in memory. Pages are not WAL-logged one change at a time
 * during the build: the whole relation is logged once at its end (log_newpage_range), as
 * PostgreSQL's own index builds do.
 */
#include "hnsw.h"

#include "access/tableam.h"
#include "access/xloginsert.h"
#include "catalog/index.h"
#include "commands/progress.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/rel.h"

typedef struct BuildState {
    HnswGraph graph;
    double tuples;
    MemoryContext tmp;
} BuildState;

/* The dimension count of the indexed column, checked against the index's limits. */
static int column_dims(Relation index)
{
    int dims = TupleDescAttr(RelationGetDescr(index), 0)->atttypmod;

    if (dims < 0)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("column does not have dimensions"),
                        errhint("An hnsw index needs a column of type vector(n).")));
    if (dims > HNSW_MAX_DIM)
        ereport(ERROR, (errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
                        errmsg("column cannot have more than %d dimensions for hnsw index",
                               HNSW_MAX_DIM)));
    return dims;
}

static void build_callback(Relation index, ItemPointer tid, Datum *values, bool *isnull,
                           bool tupleIsAlive, void *arg)
{
    BuildState *bs = arg;
    MemoryContext old;
    Vector *v;

    if (isnull[0])
        return;
    old = MemoryContextSwitchTo(bs->tmp);
    v = DatumGetVector(values[0]);
    if ((v = hnsw_index_form(&bs->graph, v)) != NULL) {
        hnsw_insert(&bs->graph, v, tid);
        bs->tuples++;
        pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_DONE, (int64)bs->tuples);
    }
    MemoryContextSwitchTo(old);
    MemoryContextReset(bs->tmp);
}

IndexBuildResult *hnswbuild(Relation heap, Relation index, IndexInfo *info)
{
    IndexBuildResult *result = palloc(sizeof(IndexBuildResult));
    HnswOptions *opts = hnsw_options_of(index);
    BuildState bs;
    HnswMetaPageData meta;
    double heap_tuples;

    if (RelationGetNumberOfBlocks(index) != 0)
        elog(ERROR, "index \"%s\" already contains data", RelationGetRelationName(index));
    if (opts->ef_construction < 2 * opts->m)
        ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
                        errmsg("ef_construction must be greater than or equal to 2 * m")));
    hnsw_meta_init(index, MAIN_FORKNUM, column_dims(index), opts->m, opts->ef_construction, true);
    hnsw_meta_read(index, &meta);
    hnsw_graph_init(&bs.graph, index, &meta);
    bs.graph.building = true;
    bs.tuples = 0;
    bs.tmp = AllocSetContextCreate(CurrentMemoryContext, "hnsw build row", ALLOCSET_DEFAULT_SIZES);

    pgstat_progress_update_param(PROGRESS_CREATEIDX_SUBPHASE, HNSW_PHASE_LOAD);
    pgstat_progress_update_param(PROGRESS_CREATEIDX_TUPLES_TOTAL,
                                 (int64)Max(heap->rd_rel->reltuples, 0));
    heap_tuples = table_index_build_scan(heap, index, info, true, true, build_callback, &bs, NULL);
    if (RelationNeedsWAL(index))
        log_newpage_range(index, MAIN_FORKNUM, 0, RelationGetNumberOfBlocks(index), true);
    MemoryContextDelete(bs.tmp);

    result->heap_tuples = heap_tuples;
    result->index_tuples = bs.tuples;
    return result;
}

void hnswbuildempty(Relation index)
{
    HnswOptions *opts = hnsw_options_of(index);

    hnsw_meta_init(index, INIT_FORKNUM, column_dims(index), opts->m, opts->ef_construction, false);
}

bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heaptid, Relation heap,
                IndexUniqueCheck checkUnique, bool indexUnchanged, IndexInfo *info)
{
    MemoryContext tmp, old;
    HnswGraph g;
    HnswMetaPageData meta;
    Vector *v;

    if (isnull[0])
        return false;
    tmp = AllocSetContextCreate(CurrentMemoryContext, "hnsw insert row", ALLOCSET_DEFAULT_SIZES);
    old = MemoryContextSwitchTo(tmp);
    v = DatumGetVector(values[0]);
    hnsw_meta_read(index, &meta);
    hnsw_graph_init(&g, index, &meta);
    if (v->dim != g.dims)
        ereport(ERROR, (errcode(ERRCODE_DATA_EXCEPTION),
                        errmsg("expected %d dimensions, not %d", g.dims, v->dim)));
    if ((v = hnsw_index_form(&g, v)) != NULL)
        hnsw_insert(&g, v, heaptid);
    MemoryContextSwitchTo(old);
    MemoryContextDelete(tmp);
    return false;
}
