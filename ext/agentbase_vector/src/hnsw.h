/*
 * The hnsw index access method: a Hierarchical Navigable Small World graph (Malkov &
 * Yashunin) stored in the index relation's pages, every change WAL-logged with generic WAL
 * records. See README.md ("The hnsw index") for the on-disk format and its limits.
 *
 * Files by phase: hnsw.c (the handler, options, setting, cost, validation), hnswgraph.c
 * (pages, elements, the layer search and the insertion of algorithm 1), hnswbuild.c
 * (ambuild, ambuildempty, aminsert), hnswscan.c (the iterative ordered scan), hnswvacuum.c.
 *
 * Locking: writers (aminsert, the build) serialize on a heavyweight page lock on the meta
 * page (LockPage, not a buffer lock), so that one graph change runs at a time; every page is
 * changed under an exclusive buffer lock, one page at a time, so scans run beside a writer.
 * Neighbour lists are read under a share lock; element tuples, which never change once
 * written but for their deleted byte, under the pin alone (hnswgraph.c, fetch_batch). A
 * writer makes an element reachable only after its tuples are on their pages, so a scan
 * never follows a link to a tuple that is not there.
 */
#ifndef AB_HNSW_H
#define AB_HNSW_H

#include "postgres.h"

#include "access/amapi.h"
#include "access/generic_xlog.h"
#include "fmgr.h"
#include "nodes/execnodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/relcache.h"
#include "vector.h"

#define HNSW_MAX_DIM                 2000
#define HNSW_DEFAULT_M               16
#define HNSW_MIN_M                   2
#define HNSW_MAX_M                   100
#define HNSW_DEFAULT_EF_CONSTRUCTION 64
#define HNSW_MIN_EF_CONSTRUCTION     4
#define HNSW_MAX_EF_CONSTRUCTION     1000
#define HNSW_DEFAULT_EF_SEARCH       40
#define HNSW_MAX_EF_SEARCH           1000
#define HNSW_MAX_LEVEL               16

/* Support functions: 1 the distance (float8 of two vectors), 2 optional, a norm: elements
 * whose norm is zero are not indexed (the cosine distance of a zero vector is NaN), and
 * from version 2 the index stores the vectors, and searches the queries, divided by their
 * norm (so that cosine's kernel is one dot product). */
#define HNSW_DISTANCE_PROC 1
#define HNSW_NORM_PROC     2

#define HNSW_METAPAGE 0
#define HNSW_MAGIC    0xab4e5357
#define HNSW_VERSION  2 /* 1: vectors stored as given (still read) */
#define HNSW_PAGE_ID  0xab57

/* The subphase reported in pg_stat_progress_create_index while the graph is built. */
#define HNSW_PHASE_LOAD 2

/* The special space of every page. */
typedef struct HnswPageOpaqueData {
    uint16 unused;
    uint16 page_id; /* HNSW_PAGE_ID */
} HnswPageOpaqueData;

/* Block 0, in the page contents. entry_level -1: the graph is empty. */
typedef struct HnswMetaPageData {
    uint32 magic;
    uint32 version;
    uint16 dims;
    uint16 m;
    uint16 ef_construction;
    int16 entry_level;
    BlockNumber entry_blkno;
    OffsetNumber entry_offno;
    BlockNumber insert_page; /* the last page tuples were added to */
} HnswMetaPageData;

#define HNSW_ELEMENT_TUPLE  1
#define HNSW_NEIGHBOR_TUPLE 2

/* One per indexed heap row: where its neighbour lists are, and the vector. */
typedef struct HnswElementTupleData {
    uint8 type; /* HNSW_ELEMENT_TUPLE */
    uint8 level;
    uint8 deleted; /* VACUUM found the heap row dead: never returned again */
    uint8 unused;
    ItemPointerData heaptid;
    ItemPointerData neighbortid;
    char data[FLEXIBLE_ARRAY_MEMBER]; /* a Vector, MAXALIGNed */
} HnswElementTupleData;

#define HNSW_ELEMENT_HEADER     MAXALIGN(offsetof(HnswElementTupleData, data))
#define HNSW_ELEMENT_VECTOR(t)  ((Vector *)((char *)(t) + HNSW_ELEMENT_HEADER))
#define HNSW_ELEMENT_SIZE(dims) (HNSW_ELEMENT_HEADER + VECTOR_SIZE(dims))

/*
 * The neighbour lists of one element: level 0 has 2m slots, each level l >= 1 has m, at
 * 2m + (l - 1) m. An empty slot is an invalid item pointer. Fixed in size when the
 * element is added, so a list is rewritten in place.
 */
typedef struct HnswNeighborTupleData {
    uint8 type; /* HNSW_NEIGHBOR_TUPLE */
    uint8 unused;
    uint16 count;
    ItemPointerData slots[FLEXIBLE_ARRAY_MEMBER];
} HnswNeighborTupleData;

#define HNSW_NEIGHBOR_SIZE(n)                                                                      \
    (offsetof(HnswNeighborTupleData, slots) + sizeof(ItemPointerData) * (n))

typedef struct HnswOptions {
    int32 vl_len_;
    int m;
    int ef_construction;
} HnswOptions;

/* An element as a search has met it; the entry of the search's hash table (key tid). */
typedef struct HnswElement {
    ItemPointerData tid; /* of its element tuple */
    ItemPointerData heaptid;
    ItemPointerData neighbortid;
    int level;
    bool deleted;
    uint32 mark;     /* the number of the layer search that visited it last */
    double distance; /* to the search's query */
    Vector *vec;     /* a copy when the search keeps vectors, else NULL */
} HnswElement;

/* What graph operations need of an index. */
typedef struct HnswGraph {
    Relation index;
    FmgrInfo *distance;
    /* the distance computed directly when the operator class's function is one of this
     * extension's (no function-call overhead per element), else NULL: through distance */
    double (*kernel)(const Vector *a, const Vector *b);
    FmgrInfo *norm; /* or NULL */
    Oid collation;
    int dims;
    int m;
    int ef_construction;
    bool normalized; /* vectors are stored and searched divided by their norm */
    bool building;   /* pages are WAL-logged at the end of the build, not one by one */
} HnswGraph;

/* One search for one query: the elements it has met, by tid (hnswgraph.c's hash table). */
typedef struct HnswSearch {
    HnswGraph *graph;
    Vector *query;
    struct met_hash *elements;
    HnswElement *arena; /* where the next elements met are allocated, arena_left of them */
    int arena_left;
    uint32 mark;
    bool keep_vectors;
    void *resume; /* hnsw_search_more's state between rounds */
} HnswSearch;

extern int hnsw_ef_search;

/* hnsw.c */
void hnsw_graph_init(HnswGraph *g, Relation index, const HnswMetaPageData *meta);
HnswOptions *hnsw_options_of(Relation index);

/* hnswgraph.c */
Page hnsw_page_init(Page page);
void hnsw_meta_read(Relation index, HnswMetaPageData *meta);
void hnsw_meta_init(Relation index, ForkNumber fork, int dims, int m, int ef_construction,
                    bool building);
double hnsw_distance(HnswGraph *g, Vector *a, Vector *b);
Vector *hnsw_index_form(HnswGraph *g, Vector *v);
void hnsw_search_begin(HnswSearch *s, HnswGraph *g, Vector *query, bool keep_vectors);
/*
 * Layer 0's ef nearest elements met from the entry point, nearest first, *n of them (fewer
 * than ef: the search has met every element it can reach). Called again on the same search
 * with a larger ef, it goes on where it stopped; what it answers then includes what it
 * answered before.
 */
HnswElement **hnsw_search_more(HnswSearch *s, const HnswMetaPageData *meta, int ef, int *n);
void hnsw_insert(HnswGraph *g, Vector *v, ItemPointer heaptid);
int64 hnsw_relink_unreachable(Relation index);

/* hnswbuild.c */
IndexBuildResult *hnswbuild(Relation heap, Relation index, struct IndexInfo *info);
void hnswbuildempty(Relation index);
bool hnswinsert(Relation index, Datum *values, bool *isnull, ItemPointer heaptid, Relation heap,
                IndexUniqueCheck checkUnique, bool indexUnchanged, struct IndexInfo *info);

/* hnswscan.c */
IndexScanDesc hnswbeginscan(Relation index, int nkeys, int norderbys);
void hnswrescan(IndexScanDesc scan, ScanKey keys, int nkeys, ScanKey orderbys, int norderbys);
bool hnswgettuple(IndexScanDesc scan, ScanDirection dir);
void hnswendscan(IndexScanDesc scan);

/* hnswvacuum.c */
IndexBulkDeleteResult *hnswbulkdelete(IndexVacuumInfo *info, IndexBulkDeleteResult *stats,
                                      IndexBulkDeleteCallback callback, void *state);
IndexBulkDeleteResult *hnswvacuumcleanup(IndexVacuumInfo *info, IndexBulkDeleteResult *stats);

#endif
