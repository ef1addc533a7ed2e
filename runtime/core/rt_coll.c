/* rt_coll.c - the one definition of a collective's bytes, shared by
 * `dtc report` (passes/report.c) and the compiled program's --profile and
 * --trace (runtime/comm.c), so the two always agree.
 *
 * The bytes of a collective on a rank are the bytes that rank sends over
 * the wire under ring algorithms (what the cost model charges for):
 *   all_reduce      2 (n - floor(n / k)) elements of its n-element buffer
 *                   (reduce-scatter then all-gather of k pieces)
 *   all_gather      everything it receives: out - in elements
 *   reduce_scatter  everything but its own piece: in - out elements
 *   all_to_all      its block but the part it keeps
 *   broadcast       its n-element buffer (a ring forwards it once)
 *   collective_permute  its n-element buffer, sent once to one member
 *                   (0 when it keeps it: a shift of 0 mod the group)
 * Uneven and empty pieces count exactly. */
#include "runtime/core/rt_core.h"

static const char *const coll_names[] = {"all_reduce", "all_gather", "reduce_scatter",
                                         "all_to_all", "broadcast", "collective_permute"};

const char *rt_coll_name(rt_coll kind)
{
    return (unsigned)kind <= RT_COLL_COLLECTIVE_PERMUTE ? coll_names[kind] : "?";
}

int64_t rt_coll_bytes(rt_coll kind, int group, int64_t in, int64_t out, int64_t kept, int esize)
{
    if (group <= 1) /* the rank alone: nothing moves */
        return 0;
    switch (kind) {
    case RT_COLL_ALL_REDUCE:
        return 2 * (in - in / group) * esize;
    case RT_COLL_ALL_GATHER:
        return (out - in) * esize;
    case RT_COLL_REDUCE_SCATTER:
        return (in - out) * esize;
    case RT_COLL_ALL_TO_ALL:
    case RT_COLL_COLLECTIVE_PERMUTE:
        return (in - kept) * esize;
    case RT_COLL_BROADCAST:
        return in * esize;
    }
    return 0;
}
