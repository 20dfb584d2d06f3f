/*
 * VACUUM: an element whose heap row is dead is marked deleted in place (one generic WAL
 * record per page changed). It stays in the graph as a waypoint, so that no neighbour list
 * loses a link and the graph stays as connected as it was; scans walk through it but never
 * return it, and never will, even after the heap reuses its tid. Its space is not reused
 * (see README.md, limits). Last, the cleanup links again the live elements that no search
 * reaches any more (hnsw_relink_unreachable, hnswgraph.c).
 */
#include "hnsw.h"

#include <math.h>

#include "distance.h"

#include "access/relation.h"
#include "catalog/index.h"
#include "commands/vacuum.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
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
    {
        int64 relinked = hnsw_relink_unreachable(info->index);

        if (relinked > 0)
            ereport(info->message_level,
                    (errmsg("index \"%s\": %lld elements no search reached were linked again",
                            RelationGetRelationName(info->index), (long long)relinked)));
    }
    return stats;
}

/* ---- hnsw_index_check: what amcheck would check of the graph ------------------------------ */

/* Reads the tuple at tid: its type, and for an element its level, for a list its count. */
static int tuple_at(Relation index, BlockNumber nblocks, ItemPointer tid, int *level, int *count)
{
    BlockNumber blk = ItemPointerGetBlockNumber(tid);
    OffsetNumber off = ItemPointerGetOffsetNumber(tid);
    Buffer buf;
    Page page;
    int type = 0;

    if (blk == HNSW_METAPAGE || blk >= nblocks)
        return 0;
    buf = ReadBuffer(index, blk);
    LockBuffer(buf, BUFFER_LOCK_SHARE);
    page = BufferGetPage(buf);
    if (off >= FirstOffsetNumber && off <= PageGetMaxOffsetNumber(page)) {
        char *t = PageGetItem(page, PageGetItemId(page, off));

        type = (uint8)t[0];
        if (type == HNSW_ELEMENT_TUPLE)
            *level = ((HnswElementTupleData *)t)->level;
        else if (type == HNSW_NEIGHBOR_TUPLE)
            *count = ((HnswNeighborTupleData *)t)->count;
    }
    UnlockReleaseBuffer(buf);
    return type;
}

static void corrupt(Relation index, const char *what, BlockNumber blk, OffsetNumber off)
{
    ereport(ERROR, (errcode(ERRCODE_INDEX_CORRUPTED),
                    errmsg("index \"%s\": %s at (%u,%u)", RelationGetRelationName(index), what, blk,
                           off)));
}

/*
 * Checks, with the writers held off (the meta page's heavyweight lock in share mode): the
 * meta page; every page's special space; that each element's list is a neighbour tuple
 * of the size its level gives; that every link leads to an element of a level at least the
 * link's; that the entry point is an element of the entry level; where the index stores
 * vectors divided by their norm, that each is of norm 1. Returns the number of elements not
 * deleted.
 */
PG_FUNCTION_INFO_V1(hnsw_index_check);
Datum hnsw_index_check(PG_FUNCTION_ARGS)
{
    Relation index = index_open(PG_GETARG_OID(0), AccessShareLock);
    HnswMetaPageData meta;
    HnswGraph g;
    BlockNumber nblocks;
    int64 live = 0;
    char *copy = palloc(BLCKSZ);
    ItemPointerData *links;

    if (index->rd_indam->amgettuple != hnswgettuple)
        ereport(ERROR, (errcode(ERRCODE_WRONG_OBJECT_TYPE),
                        errmsg("\"%s\" is not an hnsw index", RelationGetRelationName(index))));
    LockPage(index, HNSW_METAPAGE, ShareLock);
    hnsw_meta_read(index, &meta);
    hnsw_graph_init(&g, index, &meta);
    nblocks = RelationGetNumberOfBlocks(index);
    links = palloc(sizeof(ItemPointerData) * (2 * meta.m + HNSW_MAX_LEVEL * meta.m));
    if (meta.entry_level >= 0) {
        ItemPointerData ep;
        int level = -1, count;

        ItemPointerSet(&ep, meta.entry_blkno, meta.entry_offno);
        if (tuple_at(index, nblocks, &ep, &level, &count) != HNSW_ELEMENT_TUPLE ||
            level != meta.entry_level)
            corrupt(index, "the entry point is not an element of the entry level", meta.entry_blkno,
                    meta.entry_offno);
    }
    for (BlockNumber blk = HNSW_METAPAGE + 1; blk < nblocks; blk++) {
        Buffer buf = ReadBuffer(index, blk);
        Page page = (Page)copy;

        LockBuffer(buf, BUFFER_LOCK_SHARE);
        memcpy(copy, BufferGetPage(buf), BLCKSZ);
        UnlockReleaseBuffer(buf);
        if (((HnswPageOpaqueData *)PageGetSpecialPointer(page))->page_id != HNSW_PAGE_ID)
            corrupt(index, "a page that is not an hnsw page", blk, 0);
        for (OffsetNumber off = FirstOffsetNumber; off <= PageGetMaxOffsetNumber(page); off++) {
            HnswElementTupleData *t =
                (HnswElementTupleData *)PageGetItem(page, PageGetItemId(page, off));
            int level, count = -1, slots = 2 * meta.m + t->level * meta.m;
            Buffer nbuf;
            Page npage;
            HnswNeighborTupleData *nt;

            if (t->type == HNSW_NEIGHBOR_TUPLE)
                continue;
            if (t->type != HNSW_ELEMENT_TUPLE)
                corrupt(index, "a tuple of unknown type", blk, off);
            if (HNSW_ELEMENT_VECTOR(t)->dim != meta.dims)
                corrupt(index, "an element of another dimension", blk, off);
            if (g.normalized && fabs(ab_vec_norm(HNSW_ELEMENT_VECTOR(t)->x, meta.dims) - 1) > 1e-4)
                corrupt(index, "an element whose vector is not of norm 1", blk, off);
            if (tuple_at(index, nblocks, &t->neighbortid, &level, &count) != HNSW_NEIGHBOR_TUPLE ||
                count != slots)
                corrupt(index, "an element whose neighbour list is missing or of the wrong size",
                        blk, off);
            if (!t->deleted)
                live++;
            /* the list is copied first: one buffer lock at a time */
            nbuf = ReadBuffer(index, ItemPointerGetBlockNumber(&t->neighbortid));
            LockBuffer(nbuf, BUFFER_LOCK_SHARE);
            npage = BufferGetPage(nbuf);
            nt = (HnswNeighborTupleData *)PageGetItem(
                npage, PageGetItemId(npage, ItemPointerGetOffsetNumber(&t->neighbortid)));
            memcpy(links, nt->slots, sizeof(ItemPointerData) * slots);
            UnlockReleaseBuffer(nbuf);
            for (int i = 0; i < slots; i++) {
                int at = i < 2 * meta.m ? 0 : 1 + (i - 2 * meta.m) / meta.m, tlevel = -1;

                if (!ItemPointerIsValid(&links[i]))
                    continue;
                if (tuple_at(index, nblocks, &links[i], &tlevel, &count) != HNSW_ELEMENT_TUPLE ||
                    tlevel < at)
                    corrupt(index, "a link to what is not an element of that level", blk, off);
            }
        }
    }
    UnlockPage(index, HNSW_METAPAGE, ShareLock);
    index_close(index, AccessShareLock);
    PG_RETURN_INT64(live);
}
