/* rt_mesh.c - the one copy of the mesh arithmetic: torch.chunk, nested
 * splits, rank <-> coordinates and groups over a set of mesh axes.
 *
 * The compiler (ir, interp, passes, codegen) and the runtime (threads, MPI,
 * CUDA) all call these, so a rank's box, its group and its member index are
 * the same wherever they are computed.  The contract is in rt_core.h; no
 * state, no allocation.
 */
#include "runtime/core/rt_core.h"

/* ---- torch.chunk -------------------------------------------------------------- */

int64_t rt_chunk_size(int64_t n, int k) { return k > 0 ? (n + k - 1) / k : n; }

void rt_chunk(int64_t n, int k, int i, int64_t *off, int64_t *len)
{
    if (k <= 0) { /* no split */
        *off = 0;
        *len = n;
        return;
    }
    int64_t chunk = rt_chunk_size(n, k);
    int64_t start = (int64_t)i * chunk;
    if (start > n)
        start = n;
    int64_t end = start + chunk;
    if (end > n)
        end = n;
    *off = start;
    *len = end - start;
}

void rt_chunk_nested(int64_t n, int naxes, const int *size, unsigned split,
                     const int coords[RT_MAX_AXES], int64_t *off, int64_t *len)
{
    int64_t o = 0, l = n;
    /* each split cuts what the one on the lower axis left */
    for (int a = 0; a < naxes; a++) {
        if (!(split >> a & 1))
            continue;
        int64_t so, sl;
        rt_chunk(l, size[a], coords[a], &so, &sl);
        o += so;
        l = sl;
    }
    *off = o;
    *len = l;
}

/* ---- ranks, coordinates, groups ---------------------------------------------- */

unsigned rt_grid_all(int naxes) { return (1u << naxes) - 1u; }

int rt_grid_count(int naxes, const int *size, unsigned axes)
{
    int n = 1;
    for (int a = 0; a < naxes; a++)
        if (axes >> a & 1)
            n *= size[a];
    return n;
}

void rt_grid_coords(int naxes, const int *size, int rank, int coords[RT_MAX_AXES])
{
    for (int a = 0; a < RT_MAX_AXES; a++)
        coords[a] = 0;
    for (int a = naxes - 1; a >= 0; a--) {
        coords[a] = rank % size[a];
        rank /= size[a];
    }
}

int rt_grid_member(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES])
{
    int i = 0;
    for (int a = 0; a < naxes; a++)
        if (axes >> a & 1)
            i = i * size[a] + coords[a];
    return i;
}

bool rt_permute_pair(int n, int member, const int64_t *perm, int nperm, int *dest, int *src)
{
    if (n < 1 || member < 0 || member >= n || !perm)
        return false;
    if (nperm == 1) {
        int s = (int)((perm[0] % n + n) % n);
        *dest = (member + s) % n;
        *src = (member - s + n) % n;
        return true;
    }
    if (nperm != n)
        return false;
    *src = -1;
    unsigned char seen[256] = {0};
    for (int k = 0; k < n; k++) {
        if (perm[k] < 0 || perm[k] >= n || (n <= 256 && seen[perm[k]]++))
            return false;
        if (perm[k] == member)
            *src = k;
    }
    *dest = (int)perm[member];
    return *src >= 0;
}

int rt_grid_rank(int naxes, const int *size, const int coords[RT_MAX_AXES])
{
    return rt_grid_member(naxes, size, rt_grid_all(naxes), coords);
}

int rt_grid_group(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES])
{
    return rt_grid_member(naxes, size, rt_grid_all(naxes) & ~axes, coords);
}

void rt_grid_member_coords(int naxes, const int *size, unsigned axes,
                           const int coords[RT_MAX_AXES], int member, int out[RT_MAX_AXES])
{
    for (int a = 0; a < RT_MAX_AXES; a++)
        out[a] = a < naxes ? coords[a] : 0;
    for (int a = naxes - 1; a >= 0; a--)
        if (axes >> a & 1) {
            out[a] = member % size[a];
            member /= size[a];
        }
}

int rt_grid_member_rank(int naxes, const int *size, unsigned axes, const int coords[RT_MAX_AXES],
                        int member)
{
    int c[RT_MAX_AXES];
    rt_grid_member_coords(naxes, size, axes, coords, member, c);
    return rt_grid_rank(naxes, size, c);
}

bool rt_grid_next(int naxes, const int *size, unsigned axes, int coords[RT_MAX_AXES])
{
    for (int a = naxes - 1; a >= 0; a--) {
        if (!(axes >> a & 1))
            continue;
        if (++coords[a] < size[a])
            return true;
        coords[a] = 0;
    }
    return false;
}
