/* The kernel's row loops split across OpenMP threads, with results that do not depend
   on the number of threads.  Rows are cut into fixed blocks of HD_CHUNK (the cut
   depends on n alone); each block runs the loops of _simd.h, and block sums are
   added in block order.  With one block (n <= HD_CHUNK) every result is exactly
   the plain loop's.  Element-wise loops (updates) change nothing by being split.

   Blocks are handed out dynamically, so a thread that the machine's load holds
   back delays one block rather than its fixed share; which thread sums a block
   never changes the sum.

   Every driver takes nt, the threads to use (1: no parallel region), and a
   column view: the column data, and with cm non-NULL the on-the-fly
   standardisation (x - cm) / cs of its entries. */
#ifndef HDTWEEDIE_PAR_H
#define HDTWEEDIE_PAR_H

#include <stdlib.h>
#include "_simd.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* Rows per block; a multiple of HD_BLOCK, large enough that a block outweighs the
   cost of handing it to a thread. */
#define HD_CHUNK 16384
/* Gram blocks whose partial products are held at once (bounds that memory). */
#define HD_WAVE 64
/* Doubles of scratch per block for the scalar sums. */
#define HD_PART 3

static inline int hd_nchunks(int n)
{ return n > HD_CHUNK ? (n + HD_CHUNK - 1) / HD_CHUNK : 1; }

/* Rows of block b: returns how many, with the first in *i0. */
static inline int hd_chunk(int n, int b, int *i0)
{
    *i0 = b * HD_CHUNK;
    return n - *i0 < HD_CHUNK ? n - *i0 : HD_CHUNK;
}

static inline int hd_thread(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* One column of the design: its entries, and its centre and scale when standardised. */
typedef struct {
    const double *x;
    double m, s;
    int std;
} hd_col;

static inline double hd_col_dot(int n, const hd_col *c, const double *v)
{ return c->std ? hd_dot_c(n, c->x, c->m, c->s, v) : hd_dot(n, c->x, v); }

/* The data pointers of four columns into x, and if all four are standardised their
   centres and scales into m and sc: returns 0 (raw), 1 (standardised) or -1 (mixed). */
static inline int hd_cols4(const hd_col *c, const double **x, double *m, double *sc)
{
    int nstd = 0;
    for (int b = 0; b < 4; b++) {
        x[b] = c[b].x;
        m[b] = c[b].m;
        sc[b] = c[b].s;
        nstd += c[b].std != 0;
    }
    return nstd == 0 ? 0 : (nstd == 4 ? 1 : -1);
}

/* The first columns of cols, four at a time while their layouts agree: out[a] = x_a' v,
   or with h non-NULL sum h x_a x_a (each value exactly the one-column loop's).
   Returns how many were done; the caller does the rest one by one. */
static int hd_sweep4(int n, int k, const hd_col *cols, const double *h, const double *v,
                     double *out)
{
    const double *x[4];
    double m[4], sc[4];
    int a = 0;
    for (; a + 4 <= k; a += 4) {
        int kind = hd_cols4(cols + a, x, m, sc);
        if (kind < 0)
            break;
        if (h)
            kind ? hd_wdot4_c(n, h, x, m, sc, out + a) : hd_wdot4(n, h, x, out + a);
        else
            kind ? hd_dot4_c(n, x, m, sc, v, out + a) : hd_dot4(n, x, v, out + a);
    }
    return a;
}

/* out[a] = x_a' v for k columns, four at a time (each value exactly hd_col_dot's). */
static void hd_col_dots(int n, int k, const hd_col *cols, const double *v, double *out)
{
    for (int a = hd_sweep4(n, k, cols, NULL, v, out); a < k; a++)
        out[a] = hd_col_dot(n, &cols[a], v);
}

/* x' v over n rows. */
static double hd_pdot(int n, hd_col c, const double *v, int nt, double *part)
{
    int nb = hd_nchunks(n);
    if (nb == 1)
        return hd_col_dot(n, &c, v);
    double s = 0.0;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        hd_col cb = c;
        cb.x += i0;
        part[b] = hd_col_dot(m, &cb, v + i0);
    }
    for (int b = 0; b < nb; b++)
        s += part[b];
    return s;
}

/* out[a] = x_a' v over n rows for k columns, in one sweep (each as hd_pdot). */
static void hd_pdots(int n, int k, const hd_col *cols, const double *v, double *out, int nt,
                     double *part)
{
    int nb = hd_nchunks(n);
    if (nb == 1) {
        hd_col_dots(n, k, cols, v, out);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && k > 0)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        for (int a = 0; a < k; a++) {
            hd_col cb = cols[a];
            cb.x += i0;
            part[(ptrdiff_t)b * k + a] = hd_col_dot(m, &cb, v + i0);
        }
    }
    for (int a = 0; a < k; a++) {
        double s = 0.0;
        for (int b = 0; b < nb; b++)
            s += part[(ptrdiff_t)b * k + a];
        out[a] = s;
    }
}

/* sum h x y over n rows. */
static double hd_pwdot(int n, const double *h, hd_col x, hd_col y, int nt, double *part)
{
    int nb = hd_nchunks(n);
    double s = 0.0;
    if (nb == 1)  /* no parallel region: its entry costs more than a short column */
        return s + (x.std ? hd_wdot_c(n, h, x.x, x.m, x.s, y.x, y.m, y.s) : hd_wdot(n, h, x.x, y.x));
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && nb > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        part[b] = x.std ? hd_wdot_c(m, h + i0, x.x + i0, x.m, x.s, y.x + i0, y.m, y.s)
                        : hd_wdot(m, h + i0, x.x + i0, y.x + i0);
    }
    for (int b = 0; b < nb; b++)
        s += part[b];
    return s;
}

/* out[a] = sum h x_a x_a over n rows for k columns (each as hd_pwdot with y = x), four
   at a time when n is one block. */
static void hd_pwdots(int n, int k, const hd_col *cols, const double *h, double *out, int nt,
                      double *part)
{
    int a = hd_nchunks(n) == 1 ? hd_sweep4(n, k, cols, h, NULL, out) : 0;
    for (; a < k; a++)
        out[a] = hd_pwdot(n, h, cols[a], cols[a], nt, part);
}

/* v -= d h x */
static void hd_pupdate(int n, hd_col c, const double *h, double *v, double d, int nt)
{
    int nb = hd_nchunks(n);
    if (nb == 1) {
        if (c.std)
            hd_update_c(n, c.x, c.m, c.s, h, v, d);
        else
            hd_update(n, c.x, h, v, d);
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && nb > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        if (c.std)
            hd_update_c(m, c.x + i0, c.m, c.s, h + i0, v + i0, d);
        else
            hd_update(m, c.x + i0, h + i0, v + i0, d);
    }
}

/* hd_pupdate(x), then hd_pdot(y) on the updated v: in one pass over v when n is one
   block (the same values). */
static double hd_pupdate_dot(int n, hd_col x, const double *h, double *v, double d, hd_col y,
                             int nt, double *part)
{
    if (hd_nchunks(n) > 1 || x.std != y.std) {
        hd_pupdate(n, x, h, v, d, nt);
        return hd_pdot(n, y, v, nt, part);
    }
    if (x.std)
        return hd_update_dot_c(n, x.x, x.m, x.s, h, v, d, y.x, y.m, y.s);
    return hd_update_dot(n, x.x, h, v, d, y.x);
}

/* r += sum_a d[a] x_a, column by column, then r += shift (when not 0): the order of
   the serial loops, per entry. */
static void hd_peta(int n, int k, const hd_col *cols, const double *d, double shift,
                    double *r, int nt)
{
    int nb = hd_nchunks(n);
    if (nb == 1) {
        for (int a = 0; a < k; a++) {
            if (cols[a].std)
                hd_axpy_c(n, cols[a].x, cols[a].m, cols[a].s, r, d[a]);
            else
                hd_axpy(n, cols[a].x, r, d[a]);
        }
        if (shift != 0.0)
            for (int i = 0; i < n; i++)
                r[i] += shift;
        return;
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && nb > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        for (int a = 0; a < k; a++) {
            if (cols[a].std)
                hd_axpy_c(m, cols[a].x + i0, cols[a].m, cols[a].s, r + i0, d[a]);
            else
                hd_axpy(m, cols[a].x + i0, r + i0, d[a]);
        }
        if (shift != 0.0)
            for (int i = i0; i < i0 + m; i++)
                r[i] += shift;
    }
}

/* hd_working over n rows; returns the clipped rows. */
static long hd_pworking(int n, double rho, double lim, const double *y, const double *w,
                        const double *r, double *h, double *v, double *sum_h, double *sum_v,
                        int nt, double *part)
{
    int nb = hd_nchunks(n);
    if (nb == 1)
        return hd_working(n, rho, lim, y, w, r, h, v, sum_h, sum_v);
    long clipped = 0;
    double sh = 0.0, sv = 0.0;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        double *pb = part + (ptrdiff_t)HD_PART * b;
        pb[2] = (double)hd_working(m, rho, lim, y + i0, w + i0, r + i0, h + i0, v + i0,
                                   pb, pb + 1);
    }
    for (int b = 0; b < nb; b++) {
        sh += part[HD_PART * b];
        sv += part[HD_PART * b + 1];
        clipped += (long)part[HD_PART * b + 2];
    }
    *sum_h = sh;
    *sum_v = sv;
    return clipped;
}

/* hd_working_from over n rows. */
static void hd_pworking_from(int n, double rho, const double *r, double *h, double *v,
                             double *sum_h, double *sum_v, int nt, double *part)
{
    int nb = hd_nchunks(n);
    if (nb == 1) {
        hd_working_from(n, rho, r, h, v, sum_h, sum_v);
        return;
    }
    double sh = 0.0, sv = 0.0;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        double *pb = part + (ptrdiff_t)HD_PART * b;
        hd_working_from(m, rho, r + i0, h + i0, v + i0, pb, pb + 1);
    }
    for (int b = 0; b < nb; b++) {
        sh += part[HD_PART * b];
        sv += part[HD_PART * b + 1];
    }
    *sum_h = sh;
    *sum_v = sv;
}

/* hd_gradient_residual over n rows. */
static double hd_pgradient_residual(int n, double rho, double lim, const double *y,
                                    const double *w, const double *r, double *q,
                                    double *r1_out, double *r2_out, long *clipped, int nt,
                                    double *part)
{
    int nb = hd_nchunks(n);
    if (nb == 1)
        return hd_gradient_residual(n, rho, lim, y, w, r, q, r1_out, r2_out, clipped);
    double s = 0.0;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
    for (int b = 0; b < nb; b++) {
        int i0, m = hd_chunk(n, b, &i0);
        double *pb = part + (ptrdiff_t)HD_PART * b;
        long c = 0;
        pb[0] = hd_gradient_residual(m, rho, lim, y + i0, w + i0, r + i0, q + i0,
                                     r1_out + i0, r2_out + i0, &c);
        pb[1] = (double)c;
    }
    for (int b = 0; b < nb; b++) {
        s += part[HD_PART * b];
        *clipped += (long)part[HD_PART * b + 1];
    }
    return s;
}

/* ||q - qprev|| over n rows, with qprev then set to q and ||q|| in *qnorm. */
static double hd_pdrift(int n, const double *q, double *qprev, double *qnorm, int nt,
                        double *part)
{
    int nb = hd_nchunks(n);
    double d = 0.0, a = 0.0;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && nb > 1)
    for (int b = 0; b < nb; b++) {
        int i0, i1 = hd_chunk(n, b, &i0);
        i1 += i0;
        double db = 0.0, ab = 0.0;
        for (int i = i0; i < i1; i++) {
            db += (q[i] - qprev[i]) * (q[i] - qprev[i]);
            ab += q[i] * q[i];
            qprev[i] = q[i];
        }
        part[HD_PART * b] = db;
        part[HD_PART * b + 1] = ab;
    }
    for (int b = 0; b < nb; b++) {
        d += part[HD_PART * b];
        a += part[HD_PART * b + 1];
    }
    *qnorm = sqrt(a);
    return sqrt(d);
}

/* Scratch of hd_pgram: per thread a product buffer, an unpack buffer and k column
   pointers; per block of a wave its partial G (k x k), xh and xv. */
typedef struct {
    double *buf;        /* nt * HD_BLOCK * kmax */
    double *xbuf;       /* nt * HD_BLOCK * kmax */
    const double **x;   /* nt * kmax */
    double *wave;       /* HD_WAVE * (kmax * kmax + 2 kmax) */
    int kmax;
} hd_gram_scratch;

/* Covariance mode on dense columns: G (lower triangle) = X_S' diag(h) X_S, xh = X_S' h,
   xv = X_S' v over n rows (column j at X + j n), in fixed blocks. */
static void hd_pgram(int n, int k, const double *X, const int *cols, const double *cm,
                     const double *cs, const double *h, const double *v, double *G, int ldg,
                     double *xh, double *xv, hd_gram_scratch *S, int nt)
{
    int nb = hd_nchunks(n), kk = S->kmax, stride = k * k + 2 * k;
    if (nb == 1) {
        hd_gram(n, n, k, X, cols, cm, cs, h, v, G, ldg, xh, xv, S->buf, S->xbuf, S->x);
        return;
    }
    for (int a = 0; a < k; a++) {
        xh[a] = 0.0;
        xv[a] = 0.0;
        for (int b = 0; b <= a; b++)
            G[a * ldg + b] = 0.0;
    }
    for (int w0 = 0; w0 < nb; w0 += HD_WAVE) {
        int w1 = nb - w0 < HD_WAVE ? nb : w0 + HD_WAVE;
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1)
        for (int b = w0; b < w1; b++) {
            int t = hd_thread(), i0, m = hd_chunk(n, b, &i0);
            double *pg = S->wave + (ptrdiff_t)(b - w0) * stride;
            hd_gram(m, n, k, X + i0, cols, cm, cs, h + i0, v + i0, pg, k, pg + k * k,
                    pg + k * k + k, S->buf + (ptrdiff_t)t * HD_BLOCK * kk,
                    S->xbuf + (ptrdiff_t)t * HD_BLOCK * kk, S->x + (ptrdiff_t)t * kk);
        }
        for (int b = w0; b < w1; b++) {
            const double *pg = S->wave + (ptrdiff_t)(b - w0) * stride;
            for (int a = 0; a < k; a++) {
                xh[a] += pg[k * k + a];
                xv[a] += pg[k * k + k + a];
                for (int c = 0; c <= a; c++)
                    G[a * ldg + c] += pg[a * k + c];
            }
        }
    }
}

/* out[a] = x_c' v for the k CSC columns c = cols[a], spread over nt threads by column:
   each dot is the serial loop over its column's entries, so the results are those of
   one thread.  Below HD_CHUNK stored entries in all, one thread. */
static void hd_pcsc_dots(int k, const int *cols, const double *data, const int *indices,
                         const int *indptr, const double *v, double *out, int nt)
{
    long nnz = 0;
    for (int a = 0; a < k; a++)
        nnz += indptr[cols[a] + 1] - indptr[cols[a]];
#pragma omp parallel for num_threads(nt) schedule(dynamic) if (nt > 1 && k > 1 && nnz > HD_CHUNK)
    for (int a = 0; a < k; a++) {
        double s = 0.0;
        for (int kk = indptr[cols[a]]; kk < indptr[cols[a] + 1]; kk++)
            s += data[kk] * v[indices[kk]];
        out[a] = s;
    }
}

#endif
