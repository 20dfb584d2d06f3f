/*
 * VACUUM: an element whose heap row is dead is marked deleted in place (one generic WAL
 * record per page changed). It stays in the graph as a waypoint, so that no neighbour list
 * loses a link and the graph stays as connected as it was; scans walk through it but never
 * return it, and never will, even after the heap reuses its tid. Its space is not reused
 * (see README.md, limits).
 */
#include "hnsw.h"

#include "commands/vacuum.h"
#include "storage/bufmgr.h"

/* Walks every element; with a callback, marks the dead ones deleted. */
static void walk(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                 IndexBulkDeleteCallback callback, void *state)
{
    Relation index = info->index;
    BlockNumber nblocks = RelationGetNumberOfBlocks(index);

    stats->num_index_tuples = 0;
    for (BlockNumber blk = HNSW_METAPAGE + 1; blk < nblocks; blk++) {
        Buffer buf = ReadBufferExtended(index, MAIN_FORKNUM, blk, RBM_NORMAL, info->strategy);
        Page page;
        GenericXLogState *xlog = NULL;
        OffsetNumber maxoff;

        vacuum_delay_point();
        LockBuffer(buf, callback ? BUFFER_LOCK_EXCLUSIVE : BUFFER_LOCK_SHARE);
        page = BufferGetPage(buf);
        maxoff = PageGetMaxOffsetNumber(page);
        for (OffsetNumber off = FirstOffsetNumber; off <= maxoff; off++) {
            HnswElementTupleData *t =
                (HnswElementTupleData *)PageGetItem(page, PageGetItemId(page, off));

            if (t->type != HNSW_ELEMENT_TUPLE || t->deleted)
                continue;
            if (callback && callback(&t->heaptid, state)) {
                if (xlog == NULL) {
                    xlog = GenericXLogStart(index);
                    page = GenericXLogRegisterBuffer(xlog, buf, 0);
                    t = (HnswElementTupleData *)PageGetItem(page, PageGetItemId(page, off));
                }
                t->deleted = 1;
                stats->tuples_removed++;
                continue;
            }
            stats->num_index_tuples++;
        }
        if (xlog)
            GenericXLogFinish(xlog);
        UnlockReleaseBuffer(buf);
    }
    stats->num_pages = nblocks;
}

IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                      IndexBulkDeleteCallback callback, void *state)
{
    if (stats == NULL)
        stats = palloc0(sizeof(IndexBulkDeleteResult));
    walk(info, stats, callback, state);
    return stats;
}

IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats)
{
    if (info->analyze_only)
        return stats;
    if (stats == NULL) {
        stats = palloc0(sizeof(IndexBulkDeleteResult));
        walk(info, stats, NULL, NULL);
    }
    return stats;
}
