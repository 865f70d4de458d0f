# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""IRLS with blockwise majorisation descent over a whole lambda path.

The kernel does arithmetic only: every input is validated and laid out by
``hdtweedie._path`` (Fortran-ordered float64 X or CSC arrays, normalised
weights, contiguous int32 group pointers).  The algorithm is the one in
docs/architecture.md (R HDtweedie 1.2); the numbered steps below refer to it.
"""

from libc.math cimport sqrt, fabs, frexp, ldexp, isfinite, INFINITY as INF
from libc.string cimport memcpy, memset
from cython.parallel cimport prange
from scipy.linalg.cython_lapack cimport dsyevr

import numpy as np
cimport numpy as cnp

cnp.import_array()

# The kernel's constants, defined here once; Python reads the module attributes.
# The "infinite" first lambda of a default path, as in the reference.
cdef double C_BIG = 9.9e30
# The first default lambda is at least this multiple of the largest starting gradient.
cdef double C_FIRST_MARGIN = 1e10
# |eta| beyond this would overflow exp((2-p) eta) or exp(-(p-1) eta).
cdef double C_ETA_MAX = 700.0
# A change smaller than this is no change (the reference's threshold).
cdef double C_SMALL = 1e-16
# Where sqrt(u * u) == |u| is exact: u * u is a normal number.
cdef double C_SQRT_EXACT_MIN = 1e-150
cdef double C_SQRT_EXACT_MAX = 1e150
# Largest strong set (in columns) solved in covariance mode.  Forming G costs about
# k/2 passes over the data, and saves every pass of the descent.
cdef enum:
    C_GRAM_MAX = 64
# Sparse strong sets at least this dense (stored fraction) are unpacked block by block
# for the Gram product; sparser ones are multiplied entry by entry through a scatter.
cdef double C_UNPACK_DENSITY = 0.02
# Groups whose columns have a root mean square outside [2^-SCALE_EXP, 2^SCALE_EXP]
# are solved on columns rescaled by a power of two (exact), see group_scales.
cdef int C_SCALE_EXP = 10
# A descent has stalled when its passes (or IRLS steps) go this many times without
# a new smallest change, and that change is below the rounding noise of the
# coefficients, STALL_RESOLUTION * max(1, |b0|, |b|): tol is then out of reach.
cdef long C_STALL_PASSES = 1000
cdef long C_STALL_STEPS = 100
cdef double C_STALL_RESOLUTION = 1e-11
# stopping="kkt": each failed KKT test divides the working tol by at least 100 (by
# more when the residual is far above its bound, since it falls about as sqrt(tol)),
# down to this floor, where a remaining violation is a stall.
cdef double C_KKT_SHRINK_MIN = 1e-6
cdef double C_KKT_SHRINK_MAX = 1e-2
cdef double C_KKT_EPS_FLOOR = 1e-24
# Gradient screening: a group's gradient norm moves by at most ||X_g||_F ||q - q'||, so
# a group far enough below a threshold needs no new gradient.  Rounding allowance per
# row (a dot product of n terms errs by at most about n eps |x|'|q|), with room.
cdef double C_SCREEN_ROUND = 1e-15
# Extrapolated screening (fit_bound): at most C_RING anchors are kept, and no more than
# a sweep's cost / C_RING_SHARE passes over n (memory 1/16 of a dense X); the smallest
# problem that uses it, as the cost of a full gradient sweep in passes over n rows.
cdef enum:
    C_RING = 32
cdef double C_RING_SHARE = 16.0
cdef double C_EXTRAP_MIN_SWEEP = 64.0
# Relative slack on the extrapolated bound, far above the rounding of its sums.
cdef double C_EXTRAP_REL = 1e-6

BIG = C_BIG
ETA_MAX = C_ETA_MAX
SMALL = C_SMALL
GRAM_MAX = C_GRAM_MAX
UNPACK_DENSITY = C_UNPACK_DENSITY
SCALE_EXP = C_SCALE_EXP
STALL_PASSES = C_STALL_PASSES
STALL_STEPS = C_STALL_STEPS
STALL_RESOLUTION = C_STALL_RESOLUTION
KKT_EPS_FLOOR = C_KKT_EPS_FLOOR
STOPPING_RULES = ("r", "kkt")
# Rows per fixed block of the threaded row loops (sums are added block by block).
ROW_BLOCK = HD_CHUNK


cdef extern from "_par.h":
    ctypedef struct hd_col:
        const double *x
        double m
        double s
        int std
    ctypedef struct hd_gram_scratch:
        double *buf
        double *xbuf
        const double **x
        double *wave
        int kmax
    enum: HD_CHUNK
    enum: HD_WAVE
    enum: HD_PART
    int hd_nchunks(int n) noexcept nogil
    double hd_pdot(int n, hd_col c, const double *v, int nt, double *part) noexcept nogil
    void hd_pdots(int n, int k, const hd_col *cols, const double *v, double *out, int nt,
                  double *part) noexcept nogil
    double hd_pwdot(int n, const double *h, hd_col x, hd_col y, int nt,
                    double *part) noexcept nogil
    void hd_pwdots(int n, int k, const hd_col *cols, const double *h, double *out, int nt,
                   double *part) noexcept nogil
    void hd_pupdate(int n, hd_col c, const double *h, double *v, double d,
                    int nt) noexcept nogil
    double hd_pupdate_dot(int n, hd_col x, const double *h, double *v, double d, hd_col y,
                          int nt, double *part) noexcept nogil
    void hd_peta(int n, int k, const hd_col *cols, const double *d, double shift, double *r,
                 int nt) noexcept nogil
    long hd_pworking(int n, double rho, double lim, const double *y, const double *w,
                     const double *r, double *h, double *v, double *sum_h, double *sum_v,
                     int nt, double *part) noexcept nogil
    void hd_pworking_from(int n, double rho, const double *r, double *h, double *v,
                          double *sum_h, double *sum_v, int nt, double *part) noexcept nogil
    double hd_pgradient_residual(int n, double rho, double lim, const double *y,
                                 const double *w, const double *r, double *q, double *r1_out,
                                 double *r2_out, long *clipped, int nt,
                                 double *part) noexcept nogil
    double hd_pdrift(int n, const double *q, double *qprev, double *qnorm, int nt,
                     double *part) noexcept nogil
    void hd_pgram(int n, int k, const double *X, const int *cols, const double *cm,
                  const double *cs, const double *h, const double *v, double *G, int ldg,
                  double *xh, double *xv, hd_gram_scratch *S, int nt) noexcept nogil
    void hd_pcsc_dots(int k, const int *cols, const double *data, const int *indices,
                      const int *indptr, const double *v, double *out, int nt) noexcept nogil


cdef struct Design:
    int n
    int sparse
    int nt              # threads for the row loops (results do not depend on it)
    int shortcuts       # exact shortcuts in the descent (Options.shortcuts)
    double *part        # per row block: partial sums (HD_PART * blocks)
    double *dpart       # per row block and column: partial products (blocks * p)
    hd_gram_scratch gs  # dense covariance mode: per-thread and per-block buffers
    # dense: column-major data, column j at data + j * n; with cm non-NULL the columns
    # are standardised on the fly, (x - cm) / cs, entry by entry
    const double *dense
    const double *cm
    const double *cs
    # sparse CSC (raw columns) and the implicit standardisation x~ = (x - m) / s
    const double *sp_data
    const int *sp_indices
    const int *sp_indptr
    const double *xm
    const double *xs


cdef struct Work:
    const double *y
    const double *w
    double *r        # linear predictor, brought up to date after each descent
    double *v        # weighted working residual h (z - r), less the pending shift c h
    double *h
    double *q        # r1 - r2 scratch for gradients
    double *xh       # x_j' h per column of the strong set (raw columns)
    double *hxx      # dense residual mode: sum h x_j^2 per column of the strong set
    double *scatter  # sparse: dense scratch of length n for Gram products
    double c         # constant shift of eta since the working quantities were formed
    double sum_h
    double sum_v     # sum of the stored v
    double rho
    long n_clipped
    int fresh           # h and v hold r1 and r2 at the current eta
    # Dense residual mode, inside a descent: the last column move, v -= h x_pend
    # pend_a, is applied with the next product x_j' v, in the same pass over v.
    int pend            # that column, or -1
    double pend_a
    # Covariance ("Gram") mode for a small dense strong set: the passes work on
    # G = X_S' H X_S and the products gv = X_S' v instead of on the n rows.
    int gram
    int ks              # columns in the strong set, in column order
    int *scols          # those columns
    int *spos           # column -> position in scols, or -1
    double *G           # C_GRAM_MAX x C_GRAM_MAX, row-major, symmetric
    double *gv          # x_j' v at the current eta, j in scols
    double g0           # sum(v) at the current eta


cdef extern from "_simd.h":
    double hd_dot(int n, const double *x, const double *v) noexcept nogil
    void hd_update(int n, const double *x, const double *h, double *v, double d) noexcept nogil
    void hd_axpy(int n, const double *x, double *r, double d) noexcept nogil
    double hd_wdot(int n, const double *h, const double *x, const double *y) noexcept nogil
    long hd_working(int n, double rho, double lim, const double *y, const double *w,
                    const double *r, double *h, double *v, double *sum_h,
                    double *sum_v) noexcept nogil
    double hd_gradient_residual(int n, double rho, double lim, const double *y,
                                const double *w, const double *r, double *q,
                                double *r1_out, double *r2_out, long *clipped) noexcept nogil
    void hd_working_from(int n, double rho, const double *r, double *h, double *v,
                         double *sum_h, double *sum_v) noexcept nogil
    void hd_gram_csc(int n, int k, const double *data, const int *indices,
                     const int *indptr, const int *cols, const double *h, const double *v,
                     double *G, int ldg, double *xh, double *xv, double *buf, double *xbuf,
                     int *cursor, const double **x) noexcept nogil
    void hd_cv_deviance(int n, int m, double rho, double lim, const double *y,
                        const double *w, const double *eta, double *dsum,
                        double *wsum) noexcept nogil
    enum: HD_BLOCK
    enum: HD_N_LEVELS
    const char *const hd_level_names[]
    int hd_active_level
    int hd_simd_best() noexcept nogil
    void hd_simd_select(int level) noexcept nogil


cdef inline hd_col dense_col(Design *D, int j) noexcept nogil:
    """Dense column j as the row loops see it (standardised on the fly or not)."""
    cdef hd_col c
    c.x = D.dense + <Py_ssize_t>j * D.n
    c.std = D.cm != NULL
    c.m = D.cm[j] if c.std else 0.0
    c.s = D.cs[j] if c.std else 1.0
    return c


cdef inline double raw_dot(Design *D, int j, const double *vec) noexcept nogil:
    """x_j' vec for the raw (unstandardised) column j."""
    cdef int k
    cdef double s = 0.0
    if not D.sparse:
        return hd_pdot(D.n, dense_col(D, j), vec, D.nt, D.part)
    for k in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
        s += D.sp_data[k] * vec[D.sp_indices[k]]
    return s


cdef inline double resid_dot(Design *D, Work *W, int j) noexcept nogil:
    """x~_j' h (z - eta) at the current eta, with x~_j = (x_j - m_j) / s_j.

    The stored v lags eta by the constant shift c (intercept steps, and the
    centring of sparse columns), so the product is corrected by c x_j' h.
    """
    cdef double s
    if W.gram:
        return W.gv[W.spos[j]]
    if W.pend >= 0:
        s = hd_pupdate_dot(D.n, dense_col(D, W.pend), W.h, W.v, W.pend_a, dense_col(D, j),
                           D.nt, D.part)
        W.pend = -1
    else:
        s = raw_dot(D, j, W.v)
    s = s - W.c * W.xh[j]
    if D.shortcuts and D.xm[j] == 0.0 and D.xs[j] == 1.0:
        # A raw column: (s - 0 t) / 1 is s (up to the sign of a zero s, which gives the
        # same update), without a division on the path from one column to the next.
        return s
    return (s - D.xm[j] * (W.sum_v - W.c * W.sum_h)) / D.xs[j]


cdef inline void col_update(Design *D, Work *W, int j, double d) noexcept nogil:
    """The residual after eta += x~_j d: v -= h x_j d / s_j, and the centring into c."""
    cdef int i, k
    cdef double a = d if D.shortcuts and D.xs[j] == 1.0 else d / D.xs[j]  # d / 1 is d
    cdef double *gcol
    if W.gram:
        # gv -= G[:, j] d and sum(v) -= x~_j'h d (W.xh holds x~'h in this mode).
        gcol = W.G + W.spos[j]
        for k in range(W.ks):
            W.gv[k] -= gcol[k * C_GRAM_MAX] * d
        W.g0 -= W.xh[j] * d
        return
    if not D.sparse:
        flush_update(D, W)
        W.pend = j
        W.pend_a = a
    else:
        for k in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
            i = D.sp_indices[k]
            W.v[i] -= a * (W.h[i] * D.sp_data[k])
    W.sum_v -= a * W.xh[j]
    W.c -= D.xm[j] * a


cdef inline void flush_update(Design *D, Work *W) noexcept nogil:
    """Apply the pending column move to v (see Work.pend)."""
    if W.pend >= 0:
        hd_pupdate(D.n, dense_col(D, W.pend), W.h, W.v, W.pend_a, D.nt)
        W.pend = -1


cdef void eta_update(Design *D, Work *W, int nc, const int *js, const double *ds,
                     double shift, hd_col *cbuf, double *abuf) noexcept nogil:
    """r += sum x~_j d_j over the nc columns js, then the constant shift (the intercept's
    move, with the centring of each column): entry by entry in column order."""
    cdef int a, k, j
    cdef double c
    for a in range(nc):
        j = js[a]
        abuf[a] = ds[a] / D.xs[j]
        shift -= D.xm[j] * abuf[a]
        if D.sparse:
            c = abuf[a]
            for k in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
                W.r[D.sp_indices[k]] += c * D.sp_data[k]
        else:
            cbuf[a] = dense_col(D, j)
    if not D.sparse:
        hd_peta(D.n, nc, cbuf, abuf, shift, W.r, D.nt)
    elif shift != 0.0:
        for k in range(D.n):
            W.r[k] += shift


cdef inline void working_quantities(Design *D, Work *W) noexcept nogil:
    """Step 2: r1, r2, h and v = h (z - r) at the current r."""
    W.c = 0.0
    if W.fresh:
        # eta has not moved since the last gradient: reuse its exponentials.
        hd_pworking_from(D.n, W.rho, W.r, W.h, W.v, &W.sum_h, &W.sum_v, D.nt, D.part)
    else:
        W.n_clipped += hd_pworking(D.n, W.rho, C_ETA_MAX, W.y, W.w, W.r, W.h, W.v,
                                   &W.sum_h, &W.sum_v, D.nt, D.part)
    W.fresh = 0


cdef inline void gradient_residual(Design *D, Work *W, double *qsum) noexcept nogil:
    """q = r1 - r2 at the current r (minus the loss gradient in eta); r1 and r2 are
    left in h and v for the next working quantities."""
    qsum[0] = hd_pgradient_residual(D.n, W.rho, C_ETA_MAX, W.y, W.w, W.r, W.q, W.h, W.v,
                                    &W.n_clipped, D.nt, D.part)
    W.fresh = 1


cdef void column_dots(Design *D, int k, const int *js, const double *vec, double *out,
                      hd_col *view) noexcept nogil:
    """out[a] = x_j' vec for the raw columns js[a], in one parallel sweep (dense: by row
    blocks; sparse: by column)."""
    cdef int a
    if D.sparse:
        hd_pcsc_dots(k, js, D.sp_data, D.sp_indices, D.sp_indptr, vec, out, D.nt)
        return
    for a in range(k):
        view[a] = dense_col(D, js[a])
    hd_pdots(D.n, k, view, vec, out, D.nt, D.dpart)


cdef void column_hxx(Design *D, int k, const int *js, const double *h, double *hxx,
                     double *tmp, hd_col *view) noexcept nogil:
    """hxx[j] = sum h x_j^2 for the dense columns js[:k] (step 3's diagonal entries), in
    one sweep; tmp holds k doubles."""
    cdef int a
    for a in range(k):
        view[a] = dense_col(D, js[a])
    hd_pwdots(D.n, k, view, h, tmp, D.nt, D.part)
    for a in range(k):
        hxx[js[a]] = tmp[a]


cdef int group_columns(Path *P, Scratch *S, const int *gl, int ng) noexcept nogil:
    """The columns of the groups gl[:ng], in order, into S.gcols; returns how many."""
    cdef int a, k, nc = 0
    for a in range(ng):
        for k in range(P.gptr[gl[a]], P.gptr[gl[a] + 1]):
            S.gcols[nc] = P.cols[k]
            nc += 1
    return nc


cdef int grad_norms(Design *D, Work *W, Path *P, Scratch *S, int ng,
                    double qsum, double drift) noexcept nogil:
    """||grad_g|| = ||X~_g' q|| into S.gnorm for the groups S.glist[:ng], computed at
    drift (S.dref); with P.extrap the columns' gradients are kept too, and those of the
    group's computation before when this one is at a new q.  Returns the column count."""
    cdef int a, k, j, g, shift, nc = group_columns(P, S, S.glist, ng)
    cdef double s, gk
    column_dots(D, nc, S.gcols, W.q, S.gdots, S.mview)
    nc = 0
    for a in range(ng):
        g = S.glist[a]
        shift = P.extrap and S.dref[g] != drift
        if shift:
            S.dref2[g] = S.dref[g]
            S.dslot2[g] = S.dslot[g]
        if P.extrap:
            S.dslot[g] = (S.ring_next + S.ring_k - 1) % S.ring_k  # the newest anchor, q's
        s = 0.0
        for k in range(P.gptr[g], P.gptr[g + 1]):
            j = P.cols[k]
            gk = (S.gdots[nc] - D.xm[j] * qsum) / D.xs[j]
            s += gk * gk
            nc += 1
            if P.extrap:
                if shift:
                    S.gold[j] = S.gcur[j]
                S.gcur[j] = gk
        S.gnorm[g] = sqrt(s)
        S.dref[g] = drift
    return nc


cdef double diagonal_gamma(Design *D, Work *W, const int *cols, int g0,
                           int g1) noexcept nogil:
    """Step 3 for a group whose X~_g' diag(h) X~_g is diagonal (uncentred columns with
    disjoint supports): its largest diagonal entry, in one pass over the entries.

    Each entry is formed as the general Gram product forms it, so it is bit for bit the
    same; only the eigenvalue solver's rounding is saved.  -1 when an entry is NaN.
    """
    cdef int a, kk, ja
    cdef double s, best = 0.0
    for a in range(g1 - g0):
        ja = cols[g0 + a]
        if W.gram:
            s = W.G[W.spos[ja] * C_GRAM_MAX + W.spos[ja]]
        elif D.sparse:
            s = 0.0
            for kk in range(D.sp_indptr[ja], D.sp_indptr[ja + 1]):
                s += (W.h[D.sp_indices[kk]] * D.sp_data[kk]) * D.sp_data[kk]
            s = s / (D.xs[ja] * D.xs[ja])
        else:
            s = W.hxx[ja] / (D.xs[ja] * D.xs[ja])
        if s != s:
            return -1.0
        if a == 0 or s > best:
            best = s
    return best


cdef double group_gamma(Design *D, Work *W, const int *cols, int g0, int g1,
                        double *gram, double *ev, double *zdummy,
                        int *isuppz, double *lwork_buf, int lwork,
                        int *iwork, int liwork, int diagonal) noexcept nogil:
    """Step 3: largest eigenvalue of X~_g' diag(h) X~_g (scalar path for size 1).

    With ``diagonal`` set (Path.diag) the matrix is diagonal and its largest entry
    is taken instead: O(n k) dense or O(nnz) sparse rather than O(n k^2 + k^3).
    Dense columns in the residual mode take their diagonal sums from W.hxx.
    """
    cdef int k = g1 - g0, a, b, kk, ja, jb
    cdef double s
    cdef char jobz = b'N', rng = b'I', uplo = b'L'
    cdef double vl = 0.0, vu = 0.0, abstol = 0.0
    cdef int il, iu, m = 0, info = 0, ldz = 1
    if diagonal and k > 1:
        return diagonal_gamma(D, W, cols, g0, g1)
    for a in range(k):
        ja = cols[g0 + a]
        if W.gram:
            for b in range(a, k):
                gram[a * k + b] = W.G[W.spos[ja] * C_GRAM_MAX + W.spos[cols[g0 + b]]]
            continue
        if D.sparse:
            # Scatter h * x_a, then dot with each x_b.
            for kk in range(D.sp_indptr[ja], D.sp_indptr[ja + 1]):
                W.scatter[D.sp_indices[kk]] = W.h[D.sp_indices[kk]] * D.sp_data[kk]
        for b in range(a, k):
            jb = cols[g0 + b]
            if D.sparse:
                s = 0.0
                for kk in range(D.sp_indptr[jb], D.sp_indptr[jb + 1]):
                    s += W.scatter[D.sp_indices[kk]] * D.sp_data[kk]
            elif b == a:
                s = W.hxx[ja]
            else:
                s = hd_pwdot(D.n, W.h, dense_col(D, ja), dense_col(D, jb), D.nt, D.part)
            gram[a * k + b] = (s - D.xm[ja] * W.xh[jb] - D.xm[jb] * W.xh[ja]
                               + D.xm[ja] * D.xm[jb] * W.sum_h) / (D.xs[ja] * D.xs[jb])
        if D.sparse:
            for kk in range(D.sp_indptr[ja], D.sp_indptr[ja + 1]):
                W.scatter[D.sp_indices[kk]] = 0.0
    if k == 1:
        return gram[0]
    il = k
    iu = k
    # gram holds the lower triangle in column-major order.
    dsyevr(&jobz, &rng, &uplo, &k, gram, &k, &vl, &vu, &il, &iu, &abstol,
           &m, ev, zdummy, &ldz, isuppz, lwork_buf, &lwork, iwork, &liwork, &info)
    if info != 0 or m < 1:
        return -1.0
    return ev[0]


cdef void sparse_gram(Design *D, Work *W, double *xh_raw) noexcept nogil:
    """Raw X_S' H X_S (lower triangle), X_S' h and X_S' v for sparse columns, by scatter."""
    cdef int a, b, kk, ja, jb
    cdef double s, sh, sv
    for a in range(W.ks):
        ja = W.scols[a]
        sh = 0.0
        sv = 0.0
        for kk in range(D.sp_indptr[ja], D.sp_indptr[ja + 1]):
            W.scatter[D.sp_indices[kk]] = W.h[D.sp_indices[kk]] * D.sp_data[kk]
            sh += W.scatter[D.sp_indices[kk]]
            sv += W.v[D.sp_indices[kk]] * D.sp_data[kk]
        xh_raw[a] = sh
        W.gv[a] = sv
        for b in range(a + 1):
            jb = W.scols[b]
            s = 0.0
            for kk in range(D.sp_indptr[jb], D.sp_indptr[jb + 1]):
                s += W.scatter[D.sp_indices[kk]] * D.sp_data[kk]
            W.G[a * C_GRAM_MAX + b] = s
        for kk in range(D.sp_indptr[ja], D.sp_indptr[ja + 1]):
            W.scatter[D.sp_indices[kk]] = 0.0


cdef void standardize_gram(Design *D, Work *W, double *xh_raw) noexcept nogil:
    """Raw products to those of x~ = (x - m) / s, and G made symmetric.

    In covariance mode W.xh holds x~_j' h (what the intercept and column steps need).
    With m = 0 and s = 1 (dense input) every value is unchanged.
    """
    cdef int a, b, ja, jb
    for a in range(W.ks):
        ja = W.scols[a]
        for b in range(a + 1):
            jb = W.scols[b]
            W.G[a * C_GRAM_MAX + b] = (W.G[a * C_GRAM_MAX + b] - D.xm[ja] * xh_raw[b]
                                     - D.xm[jb] * xh_raw[a]
                                     + D.xm[ja] * D.xm[jb] * W.sum_h) / (D.xs[ja] * D.xs[jb])
            W.G[b * C_GRAM_MAX + a] = W.G[a * C_GRAM_MAX + b]
    for a in range(W.ks):
        ja = W.scols[a]
        W.gv[a] = (W.gv[a] - D.xm[ja] * W.sum_v) / D.xs[ja]
        W.xh[ja] = (xh_raw[a] - D.xm[ja] * W.sum_h) / D.xs[ja]


cdef int bmd_update(Design *D, Work *W, const int *cols, int g0, int g1,
                    double *beta, double gamma, double thresh, double ridge,
                    double *unew, double *dif) noexcept nogil:
    """One group update of a pass; returns 1 when the group moved."""
    cdef int k, j, moved = 0
    cdef double unorm = 0.0, scale, d, dd = 0.0
    if g1 - g0 == 1 and D.shortcuts:
        return single_update(D, W, cols[g0], beta, gamma, thresh, ridge, dif)
    for k in range(g0, g1):
        j = cols[k]
        unew[k - g0] = resid_dot(D, W, j) + gamma * beta[j]
        unorm += unew[k - g0] * unew[k - g0]
    unorm = sqrt(unorm)
    if unorm > thresh:
        scale = (unorm - thresh) / ((gamma + ridge) * unorm)
        for k in range(g1 - g0):
            unew[k] = unew[k] * scale
    else:
        for k in range(g1 - g0):
            unew[k] = 0.0
    for k in range(g0, g1):
        if fabs(unew[k - g0] - beta[cols[k]]) > C_SMALL:
            moved = 1
    for k in range(g0, g1):
        j = cols[k]
        d = unew[k - g0] - beta[j]
        beta[j] = unew[k - g0]
        if moved:
            dd += d * d
            col_update(D, W, j, d)
    if moved and dd > dif[0]:
        dif[0] = dd
    return moved


cdef inline int single_update(Design *D, Work *W, int j, double *beta, double gamma,
                              double thresh, double ridge, double *dif) noexcept nogil:
    """bmd_update of a one-column group, with the same arithmetic.

    sqrt(u * u) is |u| exactly in binary floating point while u * u neither
    overflows nor underflows, which saves the square root's latency on the
    path from one column's product to the next."""
    cdef double u = resid_dot(D, W, j) + gamma * beta[j], unorm, unew = 0.0, d
    unorm = fabs(u)
    if not C_SQRT_EXACT_MIN < unorm < C_SQRT_EXACT_MAX:
        unorm = sqrt(u * u)
    if unorm > thresh:
        unew = u * ((unorm - thresh) / ((gamma + ridge) * unorm))
    if not fabs(unew - beta[j]) > C_SMALL:
        beta[j] = unew
        return 0
    d = unew - beta[j]
    beta[j] = unew
    col_update(D, W, j, d)
    if d * d > dif[0]:
        dif[0] = d * d
    return 1


cdef void intercept_step(Work *W, double *b0, double *dif) noexcept nogil:
    """d0 = sum h (z - eta) / sum h, applied through the shift c (O(1), not O(n))."""
    cdef double d0
    cdef int k
    if W.sum_h <= 0.0:
        return
    if W.gram:
        d0 = W.g0 / W.sum_h
    else:
        d0 = (W.sum_v - W.c * W.sum_h) / W.sum_h
    if fabs(d0) > C_SMALL:
        b0[0] += d0
        if W.gram:
            for k in range(W.ks):
                W.gv[k] -= W.xh[W.scols[k]] * d0
            W.g0 -= W.sum_h * d0
        else:
            W.c += d0
        if d0 * d0 > dif[0]:
            dif[0] = d0 * d0


cdef struct Path:
    int p
    int G
    const int *cols
    const int *gptr
    const double *pf        # per group, for columns rescaled by 2^sexp
    const double *pf_raw    # as given: which groups are penalised
    const int *sexp         # per group: its columns are divided by 2^sexp
    const int *cexp         # the same per column
    const int *diag         # per group: X~_g' H X~_g is diagonal (step 3 without eigenvalues)
    int scaled              # any sexp != 0
    double alpha
    int nlam
    double flmin
    const double *ulam
    int user_lambda
    int dfmax
    int pmax
    double eps              # working bound on squared changes (tightened by stopping="kkt")
    double tol              # the bound on the KKT residual under stopping="kkt"
    int kkt_stop            # 1: stop on the KKT residual; 0: R's rule
    long maxit
    int gram_max
    double unpack_density
    int screen              # skip gradients that cannot cross a threshold (same iterates)
    int extrap              # screening also by extrapolation from earlier gradients


cdef struct Scratch:
    double *beta
    double *bold
    double *unew
    double *gamma
    double *gnorm
    double *dref            # screening: the drift when gnorm[g] was computed
    double *xnorm           # screening: ||X~_g||_F
    double *xerr            # screening: the rounding scale of grad_g per unit ||q||
    double *msq             # column_mean_square per column (group_scales)
    double *qprev           # screening: q at the last gradient
    # extrapolated screening: q at the last C_RING anchors (distinct q at which gradients
    # were computed, named by the drift then) and, per column, its gradient at the group's
    # last two computations (dref, dref2); per group a bound gub valid at drift gubref
    double *ring
    double ring_id[C_RING]
    int ring_k              # slots in use (at most C_RING)
    int ring_next
    double ring_gram[C_RING * C_RING]  # inner products of the anchors' q
    double qdot[C_RING]     # of the current q with each anchor's, and ||q||^2 (qdot_ok)
    double qq
    int qdot_ok
    double *gcur
    double *gold
    double *dref2
    int *dslot              # the ring slots that held dref's and dref2's anchors
    int *dslot2
    double *gub
    double *gubref
    # per anchor pair (ia, ib) and single anchor: coefficients and ||r||, for the current q
    double pair_a[C_RING * C_RING]
    double pair_b[C_RING * C_RING]
    double pair_r[C_RING * C_RING]
    int pair_state[C_RING * C_RING]
    double one_a[C_RING]
    double one_r[C_RING]
    int one_state[C_RING]
    double *ridge
    int *strong
    int *slist              # the strong groups in increasing order (strong_list)
    int ns
    int *in_e
    int *elist
    double *gram
    double *ev
    double *zd
    int *isuppz
    double *lw
    int lwork
    int *iw
    int liwork
    double *xhbuf
    double *blockbuf
    double *xblock
    int *cursor
    const double **colptr
    # step 5: the columns that moved, their moves, and scratch for eta_update
    int *mcols
    double *mdelta
    # gradients: groups to compute, their columns, the products, a marker per group
    int *glist
    int *gcols
    double *gdots
    int *gmark
    double *mamt
    hd_col *mview


cdef struct Out:
    double *alam
    double *b0
    double *beta            # n_lambdas x p, row-major
    double *kkt             # KKT residual per lambda
    int nalam
    long npass
    int jerr
    int stalled
    double lam_max
    long steps[4]           # IRLS steps per mode, indexed by STEP_*
    long ngrad              # gradients of columns computed in the screened loops


cdef enum:
    STEP_RESIDUAL = 0
    STEP_GRAM = 1
    STEP_UNPACKED = 2
    STEP_SCATTER = 3


cdef inline double dense_entry(Design *D, int j, int i) noexcept nogil:
    """Entry i of dense column j, standardised as the row loops do."""
    cdef double x = D.dense[<Py_ssize_t>j * D.n + i]
    return (x - D.cm[j]) / D.cs[j] if D.cm != NULL else x


cdef double column_mean_square(Design *D, int j) noexcept nogil:
    """mean((x_j - m_j)^2) / s_j^2, without overflow or underflow."""
    cdef int i, k, n = D.n
    cdef long nnz = 0
    cdef double s = 0.0, amax = 0.0, m = D.xm[j], x
    for k in range(2):
        s = 0.0
        if not D.sparse:
            for i in range(n):
                x = dense_entry(D, j, i) - m
                if k:
                    x = x / amax
                s += x * x
        else:
            nnz = D.sp_indptr[j + 1] - D.sp_indptr[j]
            for i in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
                x = D.sp_data[i] - m
                if k:
                    x = x / amax
                s += x * x
            x = m / amax if k else m
            s += (n - nnz) * x * x
        if k or (isfinite(s) and s > 1e-280) or s == 0.0:
            break
        # Second round on x / max|x| when the plain sum over- or underflows.
        amax = fabs(m)
        if not D.sparse:
            for i in range(n):
                amax = max(amax, fabs(dense_entry(D, j, i) - m))
        else:
            for i in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
                amax = max(amax, fabs(D.sp_data[i] - m))
    if k:
        return (s / n) * (amax / D.xs[j]) * (amax / D.xs[j])
    return (s / n) / (D.xs[j] * D.xs[j])


cdef void column_mean_squares(Design *D, int p, double *out) noexcept nogil:
    """column_mean_square of every column, the columns shared out among the threads."""
    cdef int j
    for j in prange(p, num_threads=D.nt, schedule="dynamic"):
        out[j] = column_mean_square(D, j)


cdef int group_scales(Design *D, const int *cols, const int *gptr, int G, int *sexp,
                      int *cexp, double *xs_eff, double *ms) noexcept nogil:
    """Power-of-two column scales for groups far from unit scale; returns 1 if any.

    A group whose largest column root mean square lies outside
    [2^-C_SCALE_EXP, 2^C_SCALE_EXP] is solved on its columns divided by 2^e (rms then
    in [1/2, 1)), its coefficients multiplied by 2^e, its penalty factor divided by 2^e
    and its ridge term by 4^e: the same problem, exactly, since powers of two scale
    without rounding.  The thresholds that are absolute (C_SMALL, tol) then act on
    unit-scale coefficients, so the path is the same for X and c X.  Groups in the band
    keep R's iterates.
    """
    cdef int g, k, e, any_scaled = 0
    cdef double rms, gmax
    column_mean_squares(D, gptr[G], ms)
    for g in range(G):
        gmax = 0.0
        for k in range(gptr[g], gptr[g + 1]):
            rms = sqrt(ms[cols[k]])
            if rms > gmax:
                gmax = rms
        e = 0
        if isfinite(gmax) and gmax > 0.0 and (gmax > ldexp(1.0, C_SCALE_EXP)
                                              or gmax < ldexp(1.0, -C_SCALE_EXP)):
            frexp(gmax, &e)
            any_scaled = 1
        sexp[g] = e
        for k in range(gptr[g], gptr[g + 1]):
            cexp[cols[k]] = e
            xs_eff[cols[k]] = ldexp(D.xs[cols[k]], e)
    return any_scaled


cdef int form_working_set(Design *D, Work *W, Path *P, Scratch *S) noexcept nogil:
    """Steps 2-3 of an IRLS step: working quantities, covariance mode if the strong
    set is small enough, and gamma per strong group.  Returns the mode (STEP_*)."""
    cdef int g, k, a, ncols_s = 0, mode = STEP_RESIDUAL
    cdef long nnz_s = 0
    cdef const int *cols = P.cols
    working_quantities(D, W)
    for a in range(S.ns):
        g = S.slist[a]
        ncols_s += P.gptr[g + 1] - P.gptr[g]
    for a in range(W.ks):
        W.spos[W.scols[a]] = -1
    W.ks = 0
    # gram_max = 0 means the residual mode throughout, even for an empty strong set.
    W.gram = ncols_s <= P.gram_max and ncols_s <= C_GRAM_MAX and P.gram_max > 0
    if W.gram:
        for a in range(S.ns):
            g = S.slist[a]
            for k in range(P.gptr[g], P.gptr[g + 1]):
                W.scols[W.ks] = cols[k]
                W.spos[cols[k]] = W.ks
                W.ks += 1
        if D.sparse:
            for a in range(W.ks):
                nnz_s += D.sp_indptr[W.scols[a] + 1] - D.sp_indptr[W.scols[a]]
        if W.ks == 0:
            mode = STEP_GRAM  # nothing to multiply
        elif D.sparse and nnz_s < P.unpack_density * D.n * W.ks:
            sparse_gram(D, W, S.xhbuf)
            mode = STEP_SCATTER
        elif D.sparse:
            hd_gram_csc(D.n, W.ks, D.sp_data, D.sp_indices, D.sp_indptr, W.scols,
                        W.h, W.v, W.G, C_GRAM_MAX, S.xhbuf, W.gv, S.blockbuf, S.xblock,
                        S.cursor, S.colptr)
            mode = STEP_UNPACKED
        else:
            hd_pgram(D.n, W.ks, D.dense, W.scols, D.cm, D.cs, W.h, W.v, W.G, C_GRAM_MAX,
                     S.xhbuf, W.gv, &D.gs, D.nt)
            mode = STEP_GRAM
        standardize_gram(D, W, S.xhbuf)
        W.g0 = W.sum_v
    else:
        # x_j' h (and for dense columns sum h x_j^2) of the strong columns, in sweeps.
        ncols_s = group_columns(P, S, S.slist, S.ns)
        column_dots(D, ncols_s, S.gcols, W.h, S.gdots, S.mview)
        for a in range(ncols_s):
            W.xh[S.gcols[a]] = S.gdots[a]
        if not D.sparse:
            column_hxx(D, ncols_s, S.gcols, W.h, W.hxx, S.gdots, S.mview)
    for a in range(S.ns):
        g = S.slist[a]
        S.gamma[g] = group_gamma(D, W, cols, P.gptr[g], P.gptr[g + 1], S.gram, S.ev,
                                 S.zd, S.isuppz, S.lw, S.lwork, S.iw, S.liwork, P.diag[g])
    return mode


cdef int descent(Design *D, Work *W, Path *P, Scratch *S, Out *R, double al, int m,
                 int *ni, double *b0) noexcept nogil:
    """Step 4: full passes over the strong set, inner passes over the entered list.

    Returns 0 when a pass changed nothing by tol or more; otherwise R.jerr is set
    (pmax exceeded, max_iter passes, or a stall at rounding noise).  v is up to date
    on return (no column move pending)."""
    cdef int ret = descent_passes(D, W, P, S, R, al, m, ni, b0)
    flush_update(D, W)
    return ret


cdef int descent_passes(Design *D, Work *W, Path *P, Scratch *S, Out *R, double al, int m,
                        int *ni, double *b0) noexcept nogil:
    """The passes of descent; the last column move may be left pending."""
    cdef int g, k, a
    cdef long since, since_full = 0
    cdef double dif, best, best_full = INF
    cdef const int *cols = P.cols
    while True:  # full pass, then inner passes
        R.npass += 1
        dif = 0.0
        for a in range(S.ns):
            g = S.slist[a]
            if bmd_update(D, W, cols, P.gptr[g], P.gptr[g + 1], S.beta, S.gamma[g],
                          P.pf[g] * al * P.alpha, S.ridge[g], S.unew, &dif):
                if S.in_e[g] == 0:
                    S.in_e[g] = 1
                    S.elist[ni[0]] = g
                    ni[0] += 1
                    if ni[0] > P.pmax:
                        R.jerr = -10000 - (m + 1)
                        return 1
        intercept_step(W, b0, &dif)
        if dif < P.eps:
            return 0
        if R.npass > P.maxit or stalled(dif, &best_full, &since_full, C_STALL_STEPS,
                                           S, P.p, b0[0]):
            return stop(R, m, R.npass <= P.maxit)
        best = INF
        since = 0
        while True:  # inner passes over the entered groups
            R.npass += 1
            dif = 0.0
            for k in range(ni[0]):
                g = S.elist[k]
                bmd_update(D, W, cols, P.gptr[g], P.gptr[g + 1], S.beta, S.gamma[g],
                           P.pf[g] * al * P.alpha, S.ridge[g], S.unew, &dif)
            intercept_step(W, b0, &dif)
            if dif < P.eps:
                break
            if R.npass > P.maxit or stalled(dif, &best, &since, C_STALL_PASSES,
                                               S, P.p, b0[0]):
                return stop(R, m, R.npass <= P.maxit)


cdef inline int stop(Out *R, int m, int stall) noexcept nogil:
    R.jerr = -(m + 1)
    R.stalled = stall
    return 1


cdef int stalled(double dif, double *best, long *since, long limit, Scratch *S, int p,
                 double b0) noexcept nogil:
    """Count steps without a new smallest change dif; true once there are limit of
    them and dif is at the rounding noise of the coefficients (else count again)."""
    cdef int j
    cdef double scale = max(1.0, b0 * b0)
    if dif < best[0]:
        best[0] = dif
        since[0] = 0
        return 0
    since[0] += 1
    if since[0] < limit:
        return 0
    since[0] = 0
    for j in range(p):
        scale = max(scale, S.beta[j] * S.beta[j])
    return dif <= C_STALL_RESOLUTION * C_STALL_RESOLUTION * scale


cdef double kkt_residual(Design *D, Work *W, Path *P, Scratch *S, double lam,
                         double qsum, double drift) noexcept nogil:
    """The largest KKT violation at the current eta, over lam (docs/architecture.md).

    Needs q = r1 - r2 at the current eta (gradient_residual) and, for the groups
    outside the strong set (all zero), their gradient norms in S.gnorm; a group
    whose norm was not recomputed (screened) was certified below lam alpha pf_g
    by the KKT check just made, so it violates nothing.  A group
    solved on columns divided by 2^e has every term 2^-e times the original one,
    so its violation is multiplied back.  lam = 0: the violation itself.
    """
    cdef int g, k, j, n_g, nc = 0
    cdef double worst = fabs(qsum), bn, gn, t, ridge, pen
    cdef const int *cols = P.cols
    column_dots(D, group_columns(P, S, S.slist, S.ns), S.gcols, W.q, S.gdots, S.mview)
    for g in range(P.G):
        pen = lam * P.alpha * P.pf[g]
        if not S.strong[g]:
            if S.dref[g] != drift:
                continue
            t = S.gnorm[g] - pen
        else:
            n_g = P.gptr[g + 1] - P.gptr[g]
            bn = 0.0
            gn = 0.0
            for k in range(n_g):
                j = cols[P.gptr[g] + k]
                # minus the loss gradient of the column
                S.unew[k] = (S.gdots[nc] - D.xm[j] * qsum) / D.xs[j]
                nc += 1
                bn += S.beta[j] * S.beta[j]
                gn += S.unew[k] * S.unew[k]
            if bn == 0.0:
                t = sqrt(gn) - pen
            else:
                bn = sqrt(bn)
                ridge = ldexp(lam * (1.0 - P.alpha), -2 * P.sexp[g])
                t = 0.0
                for k in range(n_g):
                    j = cols[P.gptr[g] + k]
                    gn = S.beta[j] * (pen / bn + ridge) - S.unew[k]
                    t += gn * gn
                t = sqrt(t)
        t = ldexp(t, P.sexp[g])
        if t > worst:
            worst = t
    return worst / lam if lam > 0.0 else worst


cdef void screen_norms(Design *D, Path *P, Scratch *S) noexcept nogil:
    """||X~_g||_F and the rounding scale of grad_g, per group, for gnorm_below."""
    cdef int g, k, j
    cdef double s, e, ms
    if P.scaled:
        # S.msq was measured before the columns were rescaled.
        column_mean_squares(D, P.p, S.msq)
    for g in range(P.G):
        s = 0.0
        e = 0.0
        for k in range(P.gptr[g], P.gptr[g + 1]):
            j = P.cols[k]
            ms = S.msq[j]
            s += ms
            e += (sqrt(ms) + fabs(D.xm[j]) / D.xs[j]) ** 2
        S.xnorm[g] = sqrt(D.n * s)
        S.xerr[g] = C_SCREEN_ROUND * (D.n + 2.0) * sqrt(D.n * e)


cdef double q_drift(Design *D, const double *q, double *qprev, double *qn_max) noexcept nogil:
    """||q - qprev||, with qprev then set to q and qn_max raised to ||q||."""
    cdef double qn, d = hd_pdrift(D.n, q, qprev, &qn, D.nt, D.part)
    if qn > qn_max[0]:
        qn_max[0] = qn
    return d


cdef inline int gnorm_below(Scratch *S, int g, double thresh, double drift,
                            double qn_max) noexcept nogil:
    """True when ||grad_g|| at the current eta, as computed, is certainly <= thresh.

    Since it was computed, q has moved by at most drift (triangle inequality), so
    the gradient norm by at most ||X~_g||_F drift; the rounding of both values is
    added on.  Skipping the gradient then changes no decision."""
    return (S.gnorm[g] + S.xnorm[g] * (drift - S.dref[g]) * (1.0 + 1e-10)
            + S.xerr[g] * qn_max) <= thresh


cdef inline int ring_slot(Scratch *S, int slot, double anchor) noexcept nogil:
    """slot if it still holds the anchor named anchor, else -1."""
    return slot if anchor >= 0.0 and S.ring_id[slot] == anchor else -1


cdef inline double ring_dot(Design *D, const double *a, const double *b) noexcept nogil:
    """a' b over the n rows, by the kernel's dot product (vectorised, row blocks in order)."""
    cdef hd_col c
    c.x = a
    c.std = 0
    c.m = 0.0
    c.s = 1.0
    return hd_pdot(D.n, c, b, D.nt, D.part)


cdef void ring_push(Design *D, Scratch *S, const double *q, double anchor) noexcept nogil:
    """Keep q, the current q, as the anchor named anchor (the drift at it), over the
    oldest, with its inner products with the others; q's products with the anchors are
    formed again when next needed (q may have moved below the drift's rounding)."""
    cdef int k, m = S.ring_next, K = S.ring_k
    cdef double *slot = S.ring + <Py_ssize_t>m * D.n
    S.qdot_ok = 0
    if S.ring_id[(m + K - 1) % K] == anchor:
        return
    memcpy(slot, q, D.n * sizeof(double))
    S.ring_id[m] = anchor
    for k in range(K):
        if S.ring_id[k] >= 0.0:
            S.ring_gram[m * C_RING + k] = ring_dot(D, slot, S.ring + <Py_ssize_t>k * D.n)
            S.ring_gram[k * C_RING + m] = S.ring_gram[m * C_RING + k]
    S.ring_next = (m + 1) % K


cdef void ring_fits(Design *D, Scratch *S, const double *q) noexcept nogil:
    """Inner products of q with the anchors' q, once per screening loop; the fits restart."""
    cdef int k
    for k in range(S.ring_k):
        if S.ring_id[k] >= 0.0:
            S.qdot[k] = ring_dot(D, q, S.ring + <Py_ssize_t>k * D.n)
        S.one_state[k] = 0
    for k in range(S.ring_k * C_RING):
        S.pair_state[k] = 0
    S.qq = ring_dot(D, q, q)
    S.qdot_ok = 1


cdef inline double residual_norm(double rr, double cn, int n, double qn_max) noexcept nogil:
    """||r|| from ||r||^2 = rr formed out of inner products, with their rounding added:
    each is within (n + 12) C_SCREEN_ROUND of the product of the norms, at most qn_max
    each, and the form sums them with coefficients of total size cn."""
    return sqrt(max(rr, 0.0) + C_SCREEN_ROUND * (n + 12.0) * cn * cn * qn_max * qn_max)


cdef int pair_fit(Design *D, Scratch *S, int ia, int ib, double qn_max) noexcept nogil:
    """q = a qa + b qb + r for the anchors in slots ia, ib: a, b by least squares
    (S.pair_a, S.pair_b) and a bound on ||r|| (S.pair_r), from inner products.  False
    when qa, qb are (numerically) dependent."""
    cdef int k = ia * C_RING + ib
    cdef double aa = S.ring_gram[ia * C_RING + ia], ab = S.ring_gram[ia * C_RING + ib]
    cdef double bb = S.ring_gram[ib * C_RING + ib], qa_q = S.qdot[ia], qb_q = S.qdot[ib]
    cdef double det = aa * bb - ab * ab, a, b, rr
    if S.pair_state[k] == 0:
        S.pair_state[k] = -1
        if det > 1e-12 * aa * bb:
            a = (bb * qa_q - ab * qb_q) / det
            b = (aa * qb_q - ab * qa_q) / det
            rr = S.qq - 2.0 * a * qa_q - 2.0 * b * qb_q + a * a * aa + 2.0 * a * b * ab + b * b * bb
            if isfinite(a) and isfinite(b) and isfinite(rr):
                S.pair_a[k] = a
                S.pair_b[k] = b
                S.pair_r[k] = residual_norm(rr, 1.0 + fabs(a) + fabs(b), D.n, qn_max)
                S.pair_state[k] = 1
    return S.pair_state[k] == 1


cdef int one_fit(Design *D, Scratch *S, int ib, double qn_max) noexcept nogil:
    """q = a qb + r for the anchor in slot ib: a by least squares (S.one_a) and a bound on
    ||r|| (S.one_r), from inner products.  False when qb = 0."""
    cdef double bb = S.ring_gram[ib * C_RING + ib], qb_q = S.qdot[ib], a, rr
    if S.one_state[ib] == 0:
        S.one_state[ib] = -1
        if bb > 0.0 and isfinite(qb_q / bb):
            a = qb_q / bb
            rr = S.qq - 2.0 * a * qb_q + a * a * bb
            if isfinite(rr):
                S.one_a[ib] = a
                S.one_r[ib] = residual_norm(rr, 1.0 + fabs(a), D.n, qn_max)
                S.one_state[ib] = 1
    return S.one_state[ib] == 1


cdef double fit_bound(Design *D, Path *P, Scratch *S, const double *q, int g,
                      double qn_max) noexcept nogil:
    """An upper bound on ||grad_g|| at q, as it would be computed, from the group's
    gradients at its last two computations (docs/architecture.md); INF without them.

    The gradient is linear in q, so with q = a qa + b qb + r (pair_fit) it is
    a grad(qa) + b grad(qb) + X~_g' r, whose last term is at most ||X~_g||_F ||r||;
    with q = a qb + r (one_fit, one anchor) it is a grad(qb) + X~_g' r.  The stored
    gradients and the one to be computed are each within the rounding bound xerr qn_max
    of the exact ones; the bounds on ||r|| include the rounding of the inner products
    they are formed from; and C_EXTRAP_REL covers the rounding of the sums here."""
    cdef int k, j, ia, ib = ring_slot(S, S.dslot[g], S.dref[g])
    cdef double a, c, t, s, na, nb, e = S.xerr[g] * qn_max, best = INF
    if ib < 0:
        return INF
    if not S.qdot_ok:
        ring_fits(D, S, q)
    ia = ring_slot(S, S.dslot2[g], S.dref2[g])
    if ia >= 0 and ia != ib and pair_fit(D, S, ia, ib, qn_max):
        a = S.pair_a[ia * C_RING + ib]
        c = S.pair_b[ia * C_RING + ib]
        s = 0.0
        na = 0.0
        nb = 0.0
        for k in range(P.gptr[g], P.gptr[g + 1]):
            j = P.cols[k]
            t = a * S.gold[j] + c * S.gcur[j]
            s += t * t
            na += S.gold[j] * S.gold[j]
            nb += S.gcur[j] * S.gcur[j]
        best = ((1.0 + C_EXTRAP_REL) * (sqrt(s) + S.xnorm[g] * S.pair_r[ia * C_RING + ib])
                + C_EXTRAP_REL * (fabs(a) * sqrt(na) + fabs(c) * sqrt(nb))
                + (1.0 + fabs(a) + fabs(c)) * e)
    if one_fit(D, S, ib, qn_max):
        a = S.one_a[ib]
        t = ((1.0 + C_EXTRAP_REL) * (fabs(a) * S.gnorm[g] + S.xnorm[g] * S.one_r[ib])
             + C_EXTRAP_REL * fabs(a) * S.gnorm[g] + (1.0 + fabs(a)) * e)
        if t < best:
            best = t
    return best


cdef inline int screened(Design *D, Path *P, Scratch *S, const double *q, int g,
                         double thresh, double drift, double qn_max) noexcept nogil:
    """True when ||grad_g|| at q, as computed, is certainly <= thresh: by gnorm_below,
    or with P.extrap by extrap_below (inlined here: it runs for every group outside the
    strong set at every check)."""
    if gnorm_below(S, g, thresh, drift, qn_max):
        return 1
    return P.extrap and extrap_below(D, P, S, q, g, thresh, drift, qn_max)


cdef int extrap_below(Design *D, Path *P, Scratch *S, const double *q, int g, double thresh,
                      double drift, double qn_max) noexcept nogil:
    """screened's bounds with P.extrap: a bound kept from an earlier q (moved on as
    gnorm_below moves gnorm), else fit_bound (then kept).  Anchors are named by the
    drift, which a change of q below its rounding leaves unchanged: ||X~_g||_F drift
    1e-15 covers that."""
    cdef double b, e = S.xerr[g] * qn_max, slack = S.xnorm[g] * drift * 1e-15
    if S.gubref[g] >= 0.0:
        if (S.gub[g] + S.xnorm[g] * (drift - S.gubref[g]) * (1.0 + 1e-10) + 2.0 * e + slack
                <= thresh):
            return 1
        if S.gubref[g] == drift:  # fit_bound was taken at this q already
            return 0
    b = fit_bound(D, P, S, q, g, qn_max) + slack
    if b < INF and (S.gubref[g] != drift or b < S.gub[g]):
        S.gub[g] = b
        S.gubref[g] = drift
    return b <= thresh


cdef double null_lambda_max(Path *P, Scratch *S) noexcept nogil:
    """lambda_max = max ||grad_g|| / (pf_g alpha) over penalised groups (S.gnorm)."""
    cdef int g
    cdef double gn, lmax = 0.0
    for g in range(P.G):
        if P.pf_raw[g] > C_SMALL:
            gn = S.gnorm[g] / (P.pf[g] * P.alpha)
            if gn > lmax:
                lmax = gn
    return lmax


cdef void strong_list(Path *P, Scratch *S) noexcept nogil:
    """S.slist[:S.ns] from S.strong, after groups joined the strong set."""
    cdef int g
    S.ns = 0
    for g in range(P.G):
        if S.strong[g]:
            S.slist[S.ns] = g
            S.ns += 1


cdef void run_path(Design *D, Work *W, Path *P, Scratch *S, Out *R, double b0) noexcept nogil:
    """The whole lambda path (docs/architecture.md, steps P1-P4); results and counts in R."""
    cdef int G = P.G, p = P.p
    cdef int g, k, j, m, i, ni = 0, me, any_new, mode, over, nmoved, ng
    cdef long since_irls
    cdef double al = 0.0, al0 = 0.0, alf = 1.0, tlam, qsum, gn, maxdiff, b0_old
    cdef double best_irls, first, lam_ref, res = 0.0, drift = 0.0, qn_max = 0.0
    cdef int exact
    cdef const int *cols = P.cols
    if not P.user_lambda:
        alf = P.flmin ** (1.0 / (P.nlam - 1.0)) if P.nlam > 1 else 1.0
    # Gradient norms at the start (b = 0, eta = offset + b0).
    gradient_residual(D, W, &qsum)
    if P.screen:
        screen_norms(D, P, S)
        q_drift(D, W.q, S.qprev, &qn_max)
        if P.extrap:
            ring_push(D, S, W.q, drift)
    first = C_BIG
    for g in range(G):
        S.glist[g] = g
    R.ngrad += grad_norms(D, W, P, S, G, qsum, drift)
    for g in range(G):
        # The first default lambda stands for infinity (the null model); data whose
        # gradients approach it (X or y on extreme scales) need a larger one.
        if P.pf_raw[g] > C_SMALL and S.gnorm[g] / (P.pf[g] * P.alpha) * C_FIRST_MARGIN > first:
            first = S.gnorm[g] / (P.pf[g] * P.alpha) * C_FIRST_MARGIN

    for m in range(P.nlam):
        al0 = al
        if P.user_lambda:
            al = P.ulam[m]
        elif m == 0:
            al = first
        elif m == 1:
            al0 = R.lam_max
            al = al0 * alf
        else:
            al = al * alf
        tlam = 2.0 * al - al0
        # Sequential strong rule (no alpha factor: a quirk of the reference).  The
        # gradients it needs are computed together, then the groups decided.
        ng = 0
        for g in range(G):
            S.gmark[g] = 0
            if S.strong[g] == 0 and S.dref[g] != drift:
                # Screened at the last check: q is still that check's.
                if screened(D, P, S, W.q, g, P.pf[g] * tlam, drift, qn_max):
                    S.gmark[g] = 1
                else:
                    S.glist[ng] = g
                    ng += 1
        R.ngrad += grad_norms(D, W, P, S, ng, qsum, drift)
        for g in range(G):
            if S.strong[g] == 0 and not S.gmark[g] and S.gnorm[g] > P.pf[g] * tlam:
                S.strong[g] = 1
        if P.alpha != 1.0:  # the lasso's ridge terms stay 0
            for g in range(G):
                S.ridge[g] = ldexp(al * (1.0 - P.alpha), -2 * P.sexp[g])
        strong_list(P, S)
        best_irls = INF
        since_irls = 0
        while True:  # IRLS
            over = R.npass > P.maxit
            b0_old = b0
            for i in range(S.ns):
                g = S.slist[i]
                for k in range(P.gptr[g], P.gptr[g + 1]):
                    S.bold[cols[k]] = S.beta[cols[k]]
            mode = form_working_set(D, W, P, S)
            R.steps[mode] += 1
            if descent(D, W, P, S, R, al, m, &ni, &b0):
                break
            # Step 5: did any coefficient move by a squared amount >= eps?
            # The same loop brings eta up to date with the descent's moves.
            maxdiff = (b0 - b0_old) * (b0 - b0_old)
            nmoved = 0
            for i in range(S.ns):
                g = S.slist[i]
                for k in range(P.gptr[g], P.gptr[g + 1]):
                    j = cols[k]
                    gn = S.beta[j] - S.bold[j]
                    if gn != 0.0:
                        S.mcols[nmoved] = j
                        S.mdelta[nmoved] = gn
                        nmoved += 1
                    if gn * gn > maxdiff:
                        maxdiff = gn * gn
            eta_update(D, W, nmoved, S.mcols, S.mdelta, b0 - b0_old, S.mview, S.mamt)
            if maxdiff >= P.eps:
                # Another IRLS step; R checks max_iter only inside the descent, which
                # a step whose passes all end at once never reaches.
                if over or stalled(maxdiff, &best_irls, &since_irls, C_STALL_STEPS, S, p, b0):
                    stop(R, m, not over)
                    break
                continue
            # Step 6: KKT check over groups outside the strong set.
            gradient_residual(D, W, &qsum)
            # lambda_max needs every gradient of the first default solution.
            exact = not P.screen or (m == 0 and not P.user_lambda)
            if P.screen:
                drift += q_drift(D, W.q, S.qprev, &qn_max)
                if P.extrap:
                    ring_push(D, S, W.q, drift)
            any_new = 0
            ng = 0
            for g in range(G):
                if S.strong[g]:
                    continue
                if not exact and screened(D, P, S, W.q, g, al * P.pf[g] * P.alpha, drift, qn_max):
                    continue
                S.glist[ng] = g
                ng += 1
            R.ngrad += grad_norms(D, W, P, S, ng, qsum, drift)
            for k in range(ng):
                g = S.glist[k]
                if S.gnorm[g] > al * P.pf[g] * P.alpha:
                    S.strong[g] = 1
                    any_new = 1
            if any_new:
                strong_list(P, S)
            if not any_new:
                # The end of this lambda, or with stopping="kkt" a tighter working tol.
                # The first default lambda is reported (and measured) at lambda_max.
                lam_ref = al
                if m == 0 and not P.user_lambda:
                    R.lam_max = null_lambda_max(P, S)
                    lam_ref = R.lam_max
                res = kkt_residual(D, W, P, S, lam_ref, qsum, drift)
                if not P.kkt_stop or res <= P.tol:
                    break
                if P.eps <= C_KKT_EPS_FLOOR or over:
                    stop(R, m, not over)
                    break
                gn = 0.1 * (P.tol / res) * (P.tol / res)
                P.eps = max(C_KKT_EPS_FLOOR,
                            P.eps * min(C_KKT_SHRINK_MAX, max(C_KKT_SHRINK_MIN, gn)))
            elif over:
                stop(R, m, 0)
                break
            best_irls = INF
            since_irls = 0
        if R.jerr != 0:
            break
        R.alam[m] = al
        R.b0[m] = b0
        R.kkt[m] = res
        for j in range(p):
            R.beta[<Py_ssize_t>m * p + j] = ldexp(S.beta[j], -P.cexp[j]) if P.scaled else S.beta[j]
        R.nalam = m + 1
        # dfmax: from the min(6, nlam)-th lambda on.
        if m + 1 >= (6 if P.nlam > 6 else P.nlam):
            me = 0
            for k in range(ni):
                g = S.elist[k]
                for i in range(P.gptr[g], P.gptr[g + 1]):
                    if fabs(S.beta[cols[i]]) > C_SMALL:
                        me += 1
                        break
            if me > P.dfmax:
                break


cdef class Problem:
    """The penalised problem in the kernel's terms (the objective of ``HDTweedie``).

    Parameters
    ----------
    y : ndarray of shape (n_rows,)
        Response, float64.
    w : ndarray of shape (n_rows,)
        Observation weights normalised to sum to one.
    offset : ndarray of shape (n_rows,)
        Offset on the linear predictor.
    power : float
        Tweedie power.
    cols, ptr : ndarray of int32
        Group ``g`` holds the columns ``cols[ptr[g]:ptr[g + 1]]``.
    pf : ndarray of shape (n_groups,)
        Penalty factor per group.
    alpha : float
        Elastic-net mixing, in (0, 1].
    disjoint : ndarray of bool of shape (n_groups,), optional
        Groups whose columns are non-zero in disjoint sets of rows
        (``_groups.disjoint_support``).  Where such a group's columns are also not
        centred, its majorisation matrix is diagonal and step 3 takes its largest
        diagonal entry instead of solving an eigenvalue problem.  None: no group.

    Raises
    ------
    ValueError
        When the array lengths disagree.
    """

    cdef readonly object y, w, offset, cols, ptr, pf, disjoint
    cdef readonly double power, alpha

    def __init__(self, y, w, offset, double power, cols, ptr, pf, double alpha,
                 disjoint=None):
        self.y = np.ascontiguousarray(y, dtype=np.float64)
        self.w = np.ascontiguousarray(w, dtype=np.float64)
        self.offset = np.ascontiguousarray(offset, dtype=np.float64)
        self.cols = np.ascontiguousarray(cols, dtype=np.int32)
        self.ptr = np.ascontiguousarray(ptr, dtype=np.int32)
        self.pf = np.ascontiguousarray(pf, dtype=np.float64)
        self.power = power
        self.alpha = alpha
        n = self.y.shape[0]
        if self.w.shape[0] != n or self.offset.shape[0] != n:
            raise ValueError(f"y, w and offset must have one length, got {n}, "
                             f"{self.w.shape[0]} and {self.offset.shape[0]}")
        if self.ptr.shape[0] != self.pf.shape[0] + 1:
            raise ValueError(f"ptr must have len(pf) + 1 = {self.pf.shape[0] + 1} entries, "
                             f"got {self.ptr.shape[0]}")
        if disjoint is None:
            self.disjoint = np.zeros(self.pf.shape[0], dtype=np.int32)
        else:
            self.disjoint = np.ascontiguousarray(np.asarray(disjoint, dtype=bool),
                                                 dtype=np.int32)
        if self.disjoint.shape != self.pf.shape:
            raise ValueError(f"disjoint must have one entry per group ({self.pf.shape[0]}), "
                             f"got shape {self.disjoint.shape}")


cdef class Options:
    """How the kernel runs the path.

    Parameters
    ----------
    n_lambdas : int
        Lambdas of a default path (ignored when ``lambdas`` is given).
    lambda_factor : float
        Smallest over largest lambda of a default path.
    lambdas : ndarray or None
        User lambdas, decreasing; None for the default path.
    dfmax, pmax : int
        Path limits (docs/architecture.md, *Path limits*).
    tol : float
        Largest squared coefficient change of a converged pass; with
        ``stopping="kkt"`` also the bound on the KKT residual.
    max_iter : int
        Passes allowed over the whole path.
    b0_start : float, default 0
        Starting intercept.
    gram_max : int, default GRAM_MAX
        Largest strong set (columns) solved in covariance mode; at most GRAM_MAX.
    unpack_density : float, default UNPACK_DENSITY
        Sparse strong sets at least this dense are unpacked for the Gram product.
    stopping : {"r", "kkt"}, default "r"
        ``"r"``: R's rule on coefficient changes; ``"kkt"``: iterate on until the
        KKT residual is at most ``tol`` as well.
    screen : bool, default True
        Skip the gradients of groups that provably stay below their threshold
        (the same iterates; False computes them all, as R does).
    extrapolate : bool, default True
        With ``screen``, also skip gradients that a bound extrapolated from their
        last two values (fit_bound) keeps below the threshold (the same iterates).
    shortcuts : bool, default True
        Update one-column groups and raw columns without the square root and
        divisions whose results are known exactly (the same iterates; False
        takes the general formulas throughout).
    n_threads : int, default 1
        OpenMP threads for the row loops on dense input; the results are the same
        for any number.

    Raises
    ------
    ValueError
        When ``stopping`` is not one of STOPPING_RULES, or ``n_threads < 1``.
    """

    cdef readonly int n_lambdas, dfmax, pmax, gram_max, n_threads
    cdef readonly bint screen, shortcuts, extrapolate
    cdef readonly double lambda_factor, tol, b0_start, unpack_density
    cdef readonly long max_iter
    cdef readonly object lambdas, stopping

    def __init__(self, int n_lambdas, double lambda_factor, lambdas, int dfmax, int pmax,
                 double tol, long max_iter, double b0_start=0.0, int gram_max=C_GRAM_MAX,
                 double unpack_density=C_UNPACK_DENSITY, stopping="r", bint screen=True,
                 int n_threads=1, bint shortcuts=True, bint extrapolate=True):
        if stopping not in STOPPING_RULES:
            raise ValueError(f"stopping must be one of {STOPPING_RULES}, got {stopping!r}")
        if n_threads < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        self.n_threads = n_threads
        self.stopping = stopping
        self.screen = screen
        self.shortcuts = shortcuts
        self.extrapolate = extrapolate
        self.lambdas = None if lambdas is None else np.ascontiguousarray(lambdas,
                                                                         dtype=np.float64)
        self.n_lambdas = n_lambdas if lambdas is None else self.lambdas.shape[0]
        self.lambda_factor = lambda_factor
        self.dfmax = dfmax
        self.pmax = pmax
        self.tol = tol
        self.max_iter = max_iter
        self.b0_start = b0_start
        self.gram_max = gram_max
        self.unpack_density = unpack_density


cdef class PathOutput:
    """What the kernel returns: the path in the input's coordinates, and counts.

    Attributes
    ----------
    lambdas, intercepts : ndarray of shape (n_reached,)
        Lambdas used (the first of a default path is BIG) and intercepts.
    coefs : ndarray of shape (n_reached, n_columns)
        One row of coefficients per lambda reached.
    kkt_residuals : ndarray of shape (n_reached,)
        The KKT residual at the end of each lambda (docs/architecture.md), the
        first lambda of a default path measured at ``lambda_max``.
    n_passes : int
        Passes over the strong set or entered list, whole path.
    status : int
        0, ``-k`` (no convergence at the k-th lambda) or ``-10000-k`` (pmax exceeded).
    stalled : bool
        With ``status = -k``: the changes stopped shrinking (rounding noise) before
        reaching ``tol``, ahead of ``max_iter``.
    lambda_max : float
        Largest lambda with a non-zero penalised group (default path).
    n_clipped : int
        Evaluations where ``|eta|`` exceeded ETA_MAX and was clipped.
    n_gradients : int
        Column gradients computed for the strong rule and the KKT checks (what
        screening saves).
    steps : dict
        IRLS steps per mode: ``"residual"``, ``"covariance"`` (all covariance-mode
        steps), and of those on sparse input ``"sparse_unpacked"`` and
        ``"sparse_scatter"``.
    """

    cdef readonly object lambdas, intercepts, coefs, steps, kkt_residuals
    cdef readonly long n_passes, n_clipped, n_gradients
    cdef readonly int status
    cdef readonly bint stalled
    cdef readonly double lambda_max


cdef PathOutput _solve(Design *D, Problem problem, Options options, const double[::1] xs_in):
    """Shared part of the two layouts: buffers, scales, the path, the output."""
    cdef const int[::1] cols = problem.cols, gptr = problem.ptr
    cdef const double[::1] y = problem.y, w = problem.w, pf_raw = problem.pf
    cdef int n = D.n, p = xs_in.shape[0], G = gptr.shape[0] - 1, g, kmax = 1, nlam
    cdef int nt = options.n_threads, nb = hd_nchunks(n), keig = 1, k, j
    cdef Work W
    cdef Path P
    cdef Scratch S
    cdef Out R
    if cols.shape[0] != p or gptr[G] != p:
        raise ValueError(f"the groups must cover the {p} columns once, got {cols.shape[0]} "
                         f"columns ending at {gptr[G]}")
    # A flagged group is diagonal in step 3 only if no column of it is centred
    # (centring makes the columns overlap).
    cdef const int[::1] dis = problem.disjoint
    diag = np.zeros(max(G, 1), dtype=np.int32)
    cdef int[::1] diag_v = diag
    for g in range(G):
        kmax = max(kmax, gptr[g + 1] - gptr[g])
        if dis[g]:
            diag_v[g] = 1
            for k in range(gptr[g], gptr[g + 1]):
                j = cols[k]
                if D.xm[j] != 0.0 or (D.cm != NULL and D.cm[j] != 0.0):
                    diag_v[g] = 0
                    break
        if not diag_v[g]:
            keig = max(keig, gptr[g + 1] - gptr[g])
    nlam = options.n_lambdas
    # Extrapolated screening costs a few passes over n per anchor: for problems whose
    # full gradient sweep costs many more.
    cdef double sweep = <double>D.sp_indptr[p] if D.sparse else <double>n * p
    cdef int extrap = options.screen and options.extrapolate and sweep >= C_EXTRAP_MIN_SWEEP * n
    cdef int ring_k = <int>min(<double>C_RING, sweep / (C_RING_SHARE * n))
    r = problem.offset + options.b0_start
    d = {name: np.zeros(size) for name, size in (
        ("ring", ring_k * n if extrap else 1), ("gcur", p if extrap else 1),
        ("gold", p if extrap else 1), ("dref2", G), ("gub", G), ("gubref", G),
        ("v", n), ("h", n), ("q", n), ("xh", p), ("hxx", p), ("scatter", n if D.sparse else 1),
        ("beta", p), ("bold", p), ("unew", kmax), ("gamma", G), ("gnorm", G), ("ridge", G),
        ("dref", G), ("xnorm", G), ("xerr", G), ("qprev", n),
        ("gram", keig * keig), ("ev", keig), ("zd", 1), ("lw", max(26 * keig, 1)),
        ("gmat", C_GRAM_MAX * C_GRAM_MAX), ("gv", C_GRAM_MAX), ("xhbuf", C_GRAM_MAX),
        ("blockbuf", HD_BLOCK * C_GRAM_MAX),
        ("xblock", HD_BLOCK * C_GRAM_MAX if D.sparse else 1), ("pf", G),
        ("alam", nlam), ("b0", nlam), ("kkt", nlam), ("beta_out", nlam * p),
        ("part", HD_PART * nb), ("dpart", nb * p if nb > 1 and not D.sparse else 1),
        ("gdots", p), ("msq", p), ("mdelta", p), ("mamt", p),
        ("tbuf", nt * HD_BLOCK * C_GRAM_MAX), ("txbuf", nt * HD_BLOCK * C_GRAM_MAX),
        ("wave", HD_WAVE * (C_GRAM_MAX * C_GRAM_MAX + 2 * C_GRAM_MAX)
         if nb > 1 and not D.sparse else 1))}
    i = {name: np.zeros(size, dtype=np.int32) for name, size in (
        ("strong", G), ("slist", G), ("in_e", G), ("elist", G), ("isuppz", 2 * keig),
        ("iw", max(10 * keig, 1)), ("scols", C_GRAM_MAX), ("cursor", C_GRAM_MAX),
        ("sexp", G), ("cexp", p), ("mcols", p), ("glist", G), ("gcols", p), ("gmark", G),
        ("dslot", G), ("dslot2", G))}
    i["spos"] = np.full(p, -1, dtype=np.int32)
    colptr = np.zeros(C_GRAM_MAX, dtype=np.uintp)
    tcolptr = np.zeros(nt * C_GRAM_MAX, dtype=np.uintp)
    mview = np.zeros(max(p, 1) * sizeof(hd_col), dtype=np.uint8)
    xs = np.array(xs_in, dtype=np.float64)
    ulam = options.lambdas if options.lambdas is not None else np.zeros(1)
    cdef const double[::1] ulam_v = ulam
    cdef size_t[::1] colptr_v = colptr
    cdef double[::1] r_v = r, xs_v = xs, pf_v = d["pf"]
    cdef double[::1] v_v = d["v"], h_v = d["h"], q_v = d["q"], xh_v = d["xh"]
    cdef double[::1] sc_v = d["scatter"], gmat_v = d["gmat"], gv_v = d["gv"]
    cdef int[::1] scols_v = i["scols"], spos_v = i["spos"], sexp_v = i["sexp"]
    cdef int[::1] cexp_v = i["cexp"]

    W.y = &y[0]
    W.w = &w[0]
    W.r = &r_v[0]
    W.v = &v_v[0]
    W.h = &h_v[0]
    W.q = &q_v[0]
    W.xh = &xh_v[0]
    W.hxx = _dptr(d["hxx"])
    W.scatter = &sc_v[0]
    W.c = 0.0
    W.sum_h = 0.0
    W.sum_v = 0.0
    W.rho = problem.power
    W.n_clipped = 0
    W.fresh = 0
    W.pend = -1
    W.gram = 0
    W.ks = 0
    W.scols = &scols_v[0]
    W.spos = &spos_v[0]
    W.G = &gmat_v[0]
    W.gv = &gv_v[0]
    W.g0 = 0.0

    P.p = p
    P.G = G
    P.cols = &cols[0]
    P.gptr = &gptr[0]
    P.pf = &pf_v[0]
    P.pf_raw = &pf_raw[0]
    P.sexp = &sexp_v[0]
    P.cexp = &cexp_v[0]
    P.diag = &diag_v[0]
    P.alpha = problem.alpha
    P.nlam = nlam
    P.flmin = options.lambda_factor
    P.ulam = &ulam_v[0]
    P.user_lambda = options.lambdas is not None
    P.dfmax = options.dfmax
    P.pmax = options.pmax
    P.eps = options.tol
    P.tol = options.tol
    P.kkt_stop = options.stopping == "kkt"
    P.maxit = options.max_iter
    P.gram_max = options.gram_max
    P.unpack_density = options.unpack_density
    P.screen = options.screen
    D.shortcuts = options.shortcuts

    S.beta = _dptr(d["beta"])
    S.bold = _dptr(d["bold"])
    S.unew = _dptr(d["unew"])
    S.gamma = _dptr(d["gamma"])
    S.gnorm = _dptr(d["gnorm"])
    S.dref = _dptr(d["dref"])
    S.xnorm = _dptr(d["xnorm"])
    S.xerr = _dptr(d["xerr"])
    S.msq = _dptr(d["msq"])
    S.qprev = _dptr(d["qprev"])
    P.extrap = extrap
    d["dref2"][:] = -1.0
    d["gubref"][:] = -1.0
    S.ring = _dptr(d["ring"])
    S.gcur = _dptr(d["gcur"])
    S.gold = _dptr(d["gold"])
    S.dref2 = _dptr(d["dref2"])
    S.dslot = _iptr(i["dslot"])
    S.dslot2 = _iptr(i["dslot2"])
    S.gub = _dptr(d["gub"])
    S.gubref = _dptr(d["gubref"])
    S.ring_next = 0
    S.ring_k = max(ring_k, 1)
    S.qdot_ok = 0
    for k in range(C_RING):
        S.ring_id[k] = -1.0
    S.ridge = _dptr(d["ridge"])
    S.strong = _iptr(i["strong"])
    S.slist = _iptr(i["slist"])
    S.ns = 0
    S.in_e = _iptr(i["in_e"])
    S.elist = _iptr(i["elist"])
    S.gram = _dptr(d["gram"])
    S.ev = _dptr(d["ev"])
    S.zd = _dptr(d["zd"])
    S.isuppz = _iptr(i["isuppz"])
    S.lw = _dptr(d["lw"])
    S.lwork = d["lw"].shape[0]
    S.iw = _iptr(i["iw"])
    S.liwork = i["iw"].shape[0]
    S.xhbuf = _dptr(d["xhbuf"])
    S.blockbuf = _dptr(d["blockbuf"])
    S.xblock = _dptr(d["xblock"])
    S.cursor = _iptr(i["cursor"])
    S.colptr = <const double **>&colptr_v[0]
    S.mcols = _iptr(i["mcols"])
    S.mdelta = _dptr(d["mdelta"])
    S.mamt = _dptr(d["mamt"])
    S.glist = _iptr(i["glist"])
    S.gcols = _iptr(i["gcols"])
    S.gdots = _dptr(d["gdots"])
    S.gmark = _iptr(i["gmark"])
    S.mview = <hd_col *>cnp.PyArray_DATA(mview)

    D.nt = nt
    D.part = _dptr(d["part"])
    D.dpart = _dptr(d["dpart"])
    D.gs.buf = _dptr(d["tbuf"])
    D.gs.xbuf = _dptr(d["txbuf"])
    D.gs.x = <const double **>cnp.PyArray_DATA(tcolptr)
    D.gs.wave = _dptr(d["wave"])
    D.gs.kmax = C_GRAM_MAX

    R.alam = _dptr(d["alam"])
    R.b0 = _dptr(d["b0"])
    R.kkt = _dptr(d["kkt"])
    R.beta = _dptr(d["beta_out"])
    R.nalam = 0
    R.npass = 0
    R.jerr = 0
    R.stalled = 0
    R.lam_max = 0.0
    R.ngrad = 0
    for g in range(4):
        R.steps[g] = 0

    D.xs = &xs_in[0]
    with nogil:
        P.scaled = group_scales(D, P.cols, P.gptr, G, &sexp_v[0], &cexp_v[0], &xs_v[0],
                                S.msq)
        for g in range(G):
            pf_v[g] = ldexp(pf_raw[g], -P.sexp[g])
        D.xs = &xs_v[0]
        run_path(D, &W, &P, &S, &R, options.b0_start)

    cdef PathOutput out = PathOutput.__new__(PathOutput)
    out.lambdas = d["alam"][:R.nalam].copy()
    out.intercepts = d["b0"][:R.nalam].copy()
    out.kkt_residuals = d["kkt"][:R.nalam].copy()
    # The whole buffer when every lambda was reached (no copy); trimmed otherwise.
    out.coefs = d["beta_out"].reshape(nlam, p)[:R.nalam]
    if R.nalam < nlam:
        out.coefs = out.coefs.copy()
    out.n_passes = R.npass
    out.status = R.jerr
    out.stalled = R.stalled
    out.lambda_max = R.lam_max
    out.n_clipped = W.n_clipped
    out.n_gradients = R.ngrad
    out.steps = {"residual": int(R.steps[STEP_RESIDUAL]),
                 "covariance": int(R.steps[STEP_GRAM] + R.steps[STEP_UNPACKED]
                                   + R.steps[STEP_SCATTER]),
                 "sparse_unpacked": int(R.steps[STEP_UNPACKED]),
                 "sparse_scatter": int(R.steps[STEP_SCATTER])}
    return out


cdef inline double *_dptr(cnp.ndarray a):
    return <double *>cnp.PyArray_DATA(a)


cdef inline int *_iptr(cnp.ndarray a):
    return <int *>cnp.PyArray_DATA(a)


def solve_path_dense(const double[::1, :] X, Problem problem, Options options, xm=None,
                     xs=None):
    """Solve the whole lambda path on a dense, column-major design.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_columns)
        Fortran-ordered float64 design.
    problem : Problem
        Response, weights, offset, power, groups, penalty factors, alpha.
    options : Options
        Lambda grid, limits, tolerance, starting intercept, mode limits, threads.
    xm, xs : ndarray of shape (n_columns,), optional
        Column j is used as ``(X[:, j] - xm[j]) / xs[j]``, formed entry by entry
        (no copy of X; the same values as the standardised copy).  Both or neither.

    Returns
    -------
    PathOutput
        Coefficients for the columns of ``X`` (standardised by ``xm`` and ``xs``
        when given), one row per lambda reached.

    Raises
    ------
    ValueError
        When the shapes disagree, or only one of ``xm`` and ``xs`` is given.
    """
    cdef Design D
    cdef const double[::1] cm_v, cs_v
    if X.shape[0] != problem.y.shape[0]:
        raise ValueError(f"X has {X.shape[0]} rows, y has {problem.y.shape[0]}")
    if (xm is None) != (xs is None):
        raise ValueError("xm and xs must be given together")
    D.n = X.shape[0]
    D.sparse = 0
    D.dense = &X[0, 0]
    D.cm = NULL
    D.cs = NULL
    if xm is not None:
        cm = np.ascontiguousarray(xm, dtype=np.float64)
        cs = np.ascontiguousarray(xs, dtype=np.float64)
        if not cm.shape[0] == cs.shape[0] == X.shape[1]:
            raise ValueError(f"xm and xs need one entry per column ({X.shape[1]}), got "
                             f"{cm.shape[0]} and {cs.shape[0]}")
        cm_v = cm
        cs_v = cs
        D.cm = &cm_v[0]
        D.cs = &cs_v[0]
    D.sp_data = NULL
    D.sp_indices = NULL
    D.sp_indptr = NULL
    xm = np.zeros(X.shape[1])
    cdef const double[::1] xm_v = xm
    D.xm = &xm_v[0]
    return _solve(&D, problem, options, np.ones(X.shape[1]))


def solve_path_sparse(const double[::1] data, const int[::1] indices, const int[::1] indptr,
                      const double[::1] xm, const double[::1] xs, int n_rows,
                      Problem problem, Options options):
    """Solve the whole lambda path on CSC columns, standardised implicitly.

    Parameters
    ----------
    data, indices, indptr : ndarray
        CSC arrays (float64, int32, int32; sorted indices, no duplicates).
    xm, xs : ndarray of shape (n_columns,)
        Column j is used as ``(x_j - xm[j]) / xs[j]`` (zeros and ones for raw columns).
    n_rows : int
        Rows of the design.
    problem, options : Problem, Options
        As for :func:`solve_path_dense`.

    Returns
    -------
    PathOutput
        Coefficients for the columns ``(x_j - xm[j]) / xs[j]``, one row per lambda reached.
    """
    cdef Design D
    if n_rows != problem.y.shape[0]:
        raise ValueError(f"n_rows is {n_rows}, y has {problem.y.shape[0]} rows")
    if not xm.shape[0] == xs.shape[0] == indptr.shape[0] - 1:
        raise ValueError(f"xm and xs need one entry per column ({indptr.shape[0] - 1}), "
                         f"got {xm.shape[0]} and {xs.shape[0]}")
    D.n = n_rows
    D.sparse = 1
    D.dense = NULL
    D.cm = NULL
    D.cs = NULL
    D.sp_data = &data[0] if data.shape[0] else NULL
    D.sp_indices = &indices[0] if indices.shape[0] else NULL
    D.sp_indptr = &indptr[0]
    D.xm = &xm[0]
    return _solve(&D, problem, options, xs)


cdef void _column_views(const double[::1, :] X, const int[::1] js, xm, xs,
                       hd_col *out):
    """The columns js of X as the row loops see them (standardised by xm, xs if given)."""
    cdef const double[::1] m, sc
    cdef int a, j, std = xm is not None
    if std:
        m = np.ascontiguousarray(xm, dtype=np.float64)
        sc = np.ascontiguousarray(xs, dtype=np.float64)
    for a in range(js.shape[0]):
        j = js[a]
        out[a].x = &X[0, j]
        out[a].std = std
        out[a].m = m[j] if std else 0.0
        out[a].s = sc[j] if std else 1.0


def column_products(const double[::1, :] X, const double[::1] v, cols, xm=None, xs=None,
                    bint sweep=True):
    """x~_j' v for the columns ``cols`` of X, as the kernel forms them (for testing).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_columns)
        Fortran-ordered float64.
    v : ndarray of shape (n_rows,)
    cols : array of int
        Column indices, in any order, repeats allowed.
    xm, xs : ndarray of shape (n_columns,), optional
        Columns standardised on the fly, ``(x - xm) / xs``.
    sweep : bool, default True
        True: the gradient sweep over all of ``cols`` at once; False: one product at
        a time, as the descent forms them.

    Returns
    -------
    ndarray of shape (len(cols),)

    Raises
    ------
    ValueError
        When the shapes disagree or a column index is out of range.
    """
    js = np.ascontiguousarray(cols, dtype=np.int32)
    cdef const int[::1] js_v = js
    cdef int n = X.shape[0], k = js.shape[0], a
    _check_columns(X, v, js, xm, xs)
    out = np.zeros(k)
    cdef double[::1] out_v = out
    part = np.zeros(HD_PART * hd_nchunks(n) * max(k, 1))
    cdef double[::1] part_v = part
    view = np.zeros(max(k, 1) * sizeof(hd_col), dtype=np.uint8)
    cdef hd_col *cv = <hd_col *>cnp.PyArray_DATA(view)
    _column_views(X, js_v, xm, xs, cv)
    if k == 0:
        return out
    with nogil:
        if sweep:
            hd_pdots(n, k, cv, &v[0], &out_v[0], 1, &part_v[0])
        else:
            for a in range(k):
                out_v[a] = hd_pdot(n, cv[a], &v[0], 1, &part_v[0])
    return out


def update_product(const double[::1, :] X, const double[::1] h, v, int j, double d, int k,
                   xm=None, xs=None, bint fused=True):
    """v - d h x~_j and then x~_k' of it, as the descent forms them (for testing).

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_columns)
        Fortran-ordered float64.
    h, v : ndarray of shape (n_rows,)
        Working weights and residual; ``v`` is not modified.
    j, k : int
        The column moved by ``d``, and the column whose product follows.
    d : float
        The move.
    xm, xs : ndarray of shape (n_columns,), optional
        Columns standardised on the fly.
    fused : bool, default True
        True: both in one pass over v (the descent's way); False: one after the other.

    Returns
    -------
    v_new : ndarray of shape (n_rows,)
    product : float

    Raises
    ------
    ValueError
        When the shapes disagree or a column index is out of range.
    """
    jk = np.array([j, k], dtype=np.int32)
    _check_columns(X, h, jk, xm, xs)
    vn = np.array(v, dtype=np.float64, copy=True)
    if vn.shape != (X.shape[0],):
        raise ValueError(f"v must have shape ({X.shape[0]},), got {vn.shape}")
    cdef double[::1] vn_v = vn
    cdef int n = X.shape[0]
    part = np.zeros(HD_PART * hd_nchunks(n))
    cdef double[::1] part_v = part
    cdef hd_col c[2]
    cdef double s
    _column_views(X, jk, xm, xs, c)
    with nogil:
        if fused:
            s = hd_pupdate_dot(n, c[0], &h[0], &vn_v[0], d, c[1], 1, &part_v[0])
        else:
            hd_pupdate(n, c[0], &h[0], &vn_v[0], d, 1)
            s = hd_pdot(n, c[1], &vn_v[0], 1, &part_v[0])
    return vn, s


def _check_columns(X, v, js, xm, xs):
    n, p = X.shape
    if n == 0 or v.shape[0] != n:
        raise ValueError(f"X must have rows and one per entry of v; got X {X.shape}, "
                         f"v of length {v.shape[0]}")
    if js.size and (js.min() < 0 or js.max() >= p):
        raise ValueError(f"column indices must lie in [0, {p}), got {js.min()}..{js.max()}")
    if (xm is None) != (xs is None) or (xm is not None and not len(xm) == len(xs) == p):
        raise ValueError(f"xm and xs must be given together, one entry per column ({p})")


def cv_deviance(const double[::1] y, const double[::1] w, const double[:, ::1] eta,
                double rho):
    """Weighted mean held-out Tweedie deviance per lambda, for 1 < rho < 2.

    ``eta`` is (n_rows, n_lambdas), C-ordered.  Entries whose deviance is not
    finite, or whose ``|eta|`` exceeds 700 (the kernel's limit), are left out of
    the mean; a lambda with none left gets NaN.
    """
    cdef int n = eta.shape[0], m = eta.shape[1]
    dsum = np.zeros(m)
    wsum = np.zeros(m)
    cdef double[::1] ds = dsum, ws = wsum
    if n > 0 and m > 0:
        with nogil:
            hd_cv_deviance(n, m, rho, C_ETA_MAX, &y[0], &w[0], &eta[0, 0], &ds[0], &ws[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, dsum / np.where(wsum > 0, wsum, 1.0), np.nan)


def simd_variants():
    """The instruction-set levels of the inner loops that this CPU can run.

    Returns
    -------
    list of str
        From the baseline up, e.g. ``["x86-64", "x86-64-v3", "x86-64-v4"]``;
        ``["generic"]`` for a build without per-level copies (non-x86-64, or
        built with ``HDTWEEDIE_PORTABLE=1``).
    """
    return [hd_level_names[k].decode() for k in range(hd_simd_best() + 1)]


def simd_variant():
    """The instruction-set level the inner loops run at.

    Returns
    -------
    str
        ``"x86-64"`` (SSE2), ``"x86-64-v3"`` (AVX2 + FMA), ``"x86-64-v4"``
        (AVX-512) or ``"generic"``.
    """
    return hd_level_names[hd_active_level].decode()


def set_simd_variant(name=None):
    """Run the inner loops at one level (for testing); None for the best one.

    Parameters
    ----------
    name : str or None
        One of :func:`simd_variants`.  Not thread-safe: call it while no fit runs.

    Returns
    -------
    str
        The level used before.

    Raises
    ------
    ValueError
        If this CPU or build cannot run ``name``.
    """
    previous = simd_variant()
    allowed = simd_variants()
    if name is None:
        hd_simd_select(hd_simd_best())
    elif name in allowed:
        hd_simd_select(allowed.index(name))
    else:
        raise ValueError(f"simd variant {name!r} is not available here; choose one of "
                         f"{allowed}")
    return previous


def _select_at_import():
    # HDTWEEDIE_SIMD forces a level, e.g. to compare levels or avoid one.
    import os
    import warnings

    name = os.environ.get("HDTWEEDIE_SIMD") or None
    try:
        set_simd_variant(name)
    except ValueError as exc:
        set_simd_variant(None)
        warnings.warn(f"HDTWEEDIE_SIMD: {exc}; using {simd_variant()!r}",
                      RuntimeWarning, stacklevel=2)


_select_at_import()
