# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""IRLS with blockwise majorisation descent over a whole lambda path.

The kernel does arithmetic only: every input is validated and laid out by
``hdtweedie._path`` (Fortran-ordered float64 X or CSC arrays, normalised
weights, contiguous int32 group pointers).  The algorithm is the one in
ALGORITHM.md (R HDtweedie 1.2); the numbered steps below refer to it.
"""

from libc.math cimport exp, sqrt, fabs, INFINITY
from libc.string cimport memset
from scipy.linalg.cython_lapack cimport dsyevr

import numpy as np
cimport numpy as cnp

cnp.import_array()

# The "infinite" first lambda of a default path, as in the reference.
cdef double BIG = 9.9e30
# |eta| beyond this would overflow exp((2-p) eta) or exp(-(p-1) eta).
cdef double ETA_MAX = 700.0
# A change smaller than this is no change (the reference's threshold).
cdef double SMALL = 1e-16
# Largest strong set (in columns) solved in covariance mode.  Forming G costs about
# k/2 passes over the data, and saves every pass of the descent.
cdef enum:
    GRAM_MAX = 64
# Sparse strong sets at least this dense (stored fraction) are unpacked block by block
# for the Gram product; sparser ones are multiplied entry by entry through a scatter.
cdef double UNPACK_DENSITY = 0.02


cdef struct Design:
    int n
    int sparse
    # dense: column-major data, column j at data + j * n
    const double *dense
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
    double *scatter  # sparse: dense scratch of length n for Gram products
    double c         # constant shift of eta since the working quantities were formed
    double sum_h
    double sum_v     # sum of the stored v
    double rho
    long n_clipped
    int fresh           # h and v hold r1 and r2 at the current eta
    # Covariance ("Gram") mode for a small dense strong set: the passes work on
    # G = X_S' H X_S and the products gv = X_S' v instead of on the n rows.
    int gram
    int ks              # columns in the strong set, in column order
    int *scols          # those columns
    int *spos           # column -> position in scols, or -1
    double *G           # GRAM_MAX x GRAM_MAX, row-major, symmetric
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
    void hd_gram(int n, int k, const double *X, const int *cols, const double *h,
                 const double *v, double *G, int ldg, double *xh, double *xv,
                 double *buf, const double **x) noexcept nogil
    void hd_gram_csc(int n, int k, const double *data, const int *indices,
                     const int *indptr, const int *cols, const double *h, const double *v,
                     double *G, int ldg, double *xh, double *xv, double *buf, double *xbuf,
                     int *cursor, const double **x) noexcept nogil
    void hd_cv_deviance(int n, int m, double rho, double lim, const double *y,
                        const double *w, const double *eta, double *dsum,
                        double *wsum) noexcept nogil
    enum: HD_BLOCK


cdef inline double _clip_eta(double eta, Work *W) noexcept nogil:
    if eta > ETA_MAX:
        W.n_clipped += 1
        return ETA_MAX
    if eta < -ETA_MAX:
        W.n_clipped += 1
        return -ETA_MAX
    return eta


cdef inline double raw_dot(Design *D, int j, const double *vec) noexcept nogil:
    """x_j' vec for the raw (unstandardised) column j."""
    cdef int k
    cdef double s = 0.0
    if not D.sparse:
        return hd_dot(D.n, D.dense + <Py_ssize_t>j * D.n, vec)
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
    s = raw_dot(D, j, W.v) - W.c * W.xh[j]
    return (s - D.xm[j] * (W.sum_v - W.c * W.sum_h)) / D.xs[j]


cdef inline void col_update(Design *D, Work *W, int j, double d) noexcept nogil:
    """The residual after eta += x~_j d: v -= h x_j d / s_j, and the centring into c."""
    cdef int i, k
    cdef double a = d / D.xs[j]
    cdef double *gcol
    if W.gram:
        # gv -= G[:, j] d and sum(v) -= x~_j'h d (W.xh holds x~'h in this mode).
        gcol = W.G + W.spos[j]
        for k in range(W.ks):
            W.gv[k] -= gcol[k * GRAM_MAX] * d
        W.g0 -= W.xh[j] * d
        return
    if not D.sparse:
        hd_update(D.n, D.dense + <Py_ssize_t>j * D.n, W.h, W.v, a)
    else:
        for k in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
            i = D.sp_indices[k]
            W.v[i] -= a * (W.h[i] * D.sp_data[k])
    W.sum_v -= a * W.xh[j]
    W.c -= D.xm[j] * a


cdef inline void eta_update(Design *D, Work *W, int j, double d, double *shift) noexcept nogil:
    """r += x~_j d; the constant part is accumulated in shift."""
    cdef int k
    cdef double a = d / D.xs[j]
    if not D.sparse:
        hd_axpy(D.n, D.dense + <Py_ssize_t>j * D.n, W.r, a)
    else:
        for k in range(D.sp_indptr[j], D.sp_indptr[j + 1]):
            W.r[D.sp_indices[k]] += a * D.sp_data[k]
    shift[0] -= D.xm[j] * a


cdef inline void working_quantities(Design *D, Work *W) noexcept nogil:
    """Step 2: r1, r2, h and v = h (z - r) at the current r."""
    W.c = 0.0
    if W.fresh:
        # eta has not moved since the last gradient: reuse its exponentials.
        hd_working_from(D.n, W.rho, W.r, W.h, W.v, &W.sum_h, &W.sum_v)
    else:
        W.n_clipped += hd_working(D.n, W.rho, ETA_MAX, W.y, W.w, W.r, W.h, W.v,
                                  &W.sum_h, &W.sum_v)
    W.fresh = 0


cdef inline void gradient_residual(Design *D, Work *W, double *qsum) noexcept nogil:
    """q = r1 - r2 at the current r (minus the loss gradient in eta); r1 and r2 are
    left in h and v for the next working quantities."""
    qsum[0] = hd_gradient_residual(D.n, W.rho, ETA_MAX, W.y, W.w, W.r, W.q, W.h, W.v,
                                   &W.n_clipped)
    W.fresh = 1


cdef double group_grad_norm(Design *D, Work *W, const int *cols, int g0, int g1,
                            double qsum) noexcept nogil:
    cdef int k, j
    cdef double s = 0.0, gk
    for k in range(g0, g1):
        j = cols[k]
        gk = (raw_dot(D, j, W.q) - D.xm[j] * qsum) / D.xs[j]
        s += gk * gk
    return sqrt(s)


cdef double group_gamma(Design *D, Work *W, const int *cols, int g0, int g1,
                        double *gram, double *ev, double *zdummy,
                        int *isuppz, double *lwork_buf, int lwork,
                        int *iwork, int liwork) noexcept nogil:
    """Step 3: largest eigenvalue of X~_g' diag(h) X~_g (scalar path for size 1)."""
    cdef int k = g1 - g0, a, b, kk, ja, jb
    cdef double s
    cdef char jobz = b'N', rng = b'I', uplo = b'L'
    cdef double vl = 0.0, vu = 0.0, abstol = 0.0
    cdef int il, iu, m = 0, info = 0, ldz = 1
    for a in range(k):
        ja = cols[g0 + a]
        if W.gram:
            for b in range(a, k):
                gram[a * k + b] = W.G[W.spos[ja] * GRAM_MAX + W.spos[cols[g0 + b]]]
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
            else:
                s = hd_wdot(D.n, W.h, D.dense + <Py_ssize_t>ja * D.n,
                            D.dense + <Py_ssize_t>jb * D.n)
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
            W.G[a * GRAM_MAX + b] = s
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
            W.G[a * GRAM_MAX + b] = (W.G[a * GRAM_MAX + b] - D.xm[ja] * xh_raw[b]
                                     - D.xm[jb] * xh_raw[a]
                                     + D.xm[ja] * D.xm[jb] * W.sum_h) / (D.xs[ja] * D.xs[jb])
            W.G[b * GRAM_MAX + a] = W.G[a * GRAM_MAX + b]
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
        if fabs(unew[k - g0] - beta[cols[k]]) > SMALL:
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
    if fabs(d0) > SMALL:
        b0[0] += d0
        if W.gram:
            for k in range(W.ks):
                W.gv[k] -= W.xh[W.scols[k]] * d0
            W.g0 -= W.sum_h * d0
        else:
            W.c += d0
        if d0 * d0 > dif[0]:
            dif[0] = d0 * d0


def solve_path(
    int n, int p,
    const double[::1, :] X,
    const double[::1] sp_data, const int[::1] sp_indices, const int[::1] sp_indptr,
    const double[::1] xm, const double[::1] xs,
    bint sparse,
    const double[::1] y, const double[::1] w, const double[::1] offset,
    double rho,
    const int[::1] cols, const int[::1] gptr, const double[::1] pf,
    double alpha,
    int nlam, double flmin, const double[::1] ulam, bint user_lambda,
    int dfmax, int pmax, double eps, long maxit,
    double[::1] alam, double[::1] b0_out, double[:, ::1] beta_out,
    double b0_start=0.0, int gram_max=GRAM_MAX, double unpack_density=UNPACK_DENSITY,
):
    """Solve the whole lambda path.

    Fills ``alam`` (lambdas used, the first of a default path being 9.9e30),
    ``b0_out`` and ``beta_out`` (one row per lambda) and returns
    ``(nalam, npass, jerr, lambda_max, n_clipped)``.
    """
    cdef int G = gptr.shape[0] - 1
    cdef int g, k, j, m, i, ni = 0, nalam = 0, jerr = 0, kmax = 1, me, any_new
    cdef long npass = 0
    cdef double al = 0.0, al0 = 0.0, alf = 1.0, tlam, lam_max = 0.0, dif, b0 = 0.0
    cdef double thresh, ridge, qsum, gn, maxdiff, shift
    cdef bint done = False
    cdef Design D
    cdef Work W

    for g in range(G):
        if gptr[g + 1] - gptr[g] > kmax:
            kmax = gptr[g + 1] - gptr[g]
    lwork = max(26 * kmax, 1)
    liwork = max(10 * kmax, 1)

    r = np.array(offset, dtype=np.float64) + b0_start
    v = np.zeros(n)
    h = np.zeros(n)
    q = np.zeros(n)
    xh = np.zeros(p)
    scatter = np.zeros(n if sparse else 1)
    beta = np.zeros(p)
    beta_old = np.zeros(p)
    unew = np.zeros(kmax)
    gamma = np.zeros(G)
    gnorm = np.zeros(G)
    strong = np.zeros(G, dtype=np.int32)
    in_e = np.zeros(G, dtype=np.int32)
    elist = np.zeros(G, dtype=np.int32)
    gram = np.zeros(kmax * kmax)
    ev = np.zeros(kmax)
    zdummy = np.zeros(1)
    isuppz = np.zeros(2 * kmax, dtype=np.int32)
    lwork_buf = np.zeros(lwork)
    iwork = np.zeros(liwork, dtype=np.int32)
    scols = np.zeros(GRAM_MAX, dtype=np.int32)
    spos = np.full(p, -1, dtype=np.int32)
    gmat = np.zeros(GRAM_MAX * GRAM_MAX)
    gv = np.zeros(GRAM_MAX)
    xhbuf = np.zeros(GRAM_MAX)
    blockbuf = np.zeros(HD_BLOCK * GRAM_MAX)
    xblock = np.zeros(HD_BLOCK * GRAM_MAX if sparse else 1)
    cursor = np.zeros(GRAM_MAX, dtype=np.int32)
    colptr = np.zeros(GRAM_MAX, dtype=np.uintp)
    cdef int[::1] scols_v = scols, spos_v = spos
    cdef double[::1] gmat_v = gmat, gv_v = gv, xhbuf_v = xhbuf, blockbuf_v = blockbuf
    cdef double[::1] xblock_v = xblock
    cdef int[::1] cursor_v = cursor
    cdef size_t[::1] colptr_v = colptr
    cdef long nnz_s
    cdef int ncols_s, a, bb

    b0 = b0_start
    cdef double[::1] r_v = r, v_v = v, h_v = h, q_v = q, xh_v = xh, sc_v = scatter
    cdef double[::1] beta_v = beta, bold_v = beta_old, unew_v = unew
    cdef double[::1] gamma_v = gamma, gnorm_v = gnorm, gram_v = gram, ev_v = ev, zd_v = zdummy
    cdef double[::1] lw_v = lwork_buf
    cdef int[::1] strong_v = strong, in_e_v = in_e, elist_v = elist, isuppz_v = isuppz, iwork_v = iwork
    cdef int lwork_c = lwork, liwork_c = liwork
    cdef const int *cols_p = &cols[0]
    cdef double b0_old

    D.n = n
    D.sparse = sparse
    D.dense = &X[0, 0] if not sparse else NULL
    D.sp_data = &sp_data[0] if sparse else NULL
    D.sp_indices = &sp_indices[0] if sparse else NULL
    D.sp_indptr = &sp_indptr[0] if sparse else NULL
    D.xm = &xm[0]
    D.xs = &xs[0]
    W.y = &y[0]
    W.w = &w[0]
    W.r = &r_v[0]
    W.v = &v_v[0]
    W.h = &h_v[0]
    W.q = &q_v[0]
    W.xh = &xh_v[0]
    W.scatter = &sc_v[0]
    W.c = 0.0
    W.sum_h = 0.0
    W.sum_v = 0.0
    W.rho = rho
    W.n_clipped = 0
    W.fresh = 0
    W.gram = 0
    W.ks = 0
    W.scols = &scols_v[0]
    W.spos = &spos_v[0]
    W.G = &gmat_v[0]
    W.gv = &gv_v[0]
    W.g0 = 0.0

    with nogil:
        if not user_lambda:
            alf = flmin ** (1.0 / (nlam - 1.0)) if nlam > 1 else 1.0
        # Gradient norms at the start (b = 0, b0 = 0, eta = offset).
        gradient_residual(&D, &W, &qsum)
        for g in range(G):
            gnorm_v[g] = group_grad_norm(&D, &W, cols_p, gptr[g], gptr[g + 1], qsum)

        for m in range(nlam):
            al0 = al
            if user_lambda:
                al = ulam[m]
            elif m == 0:
                al = BIG
            elif m == 1:
                al0 = lam_max
                al = al0 * alf
            else:
                al = al * alf
            tlam = 2.0 * al - al0
            # Sequential strong rule (no alpha factor: a quirk of the reference).
            for g in range(G):
                if strong_v[g] == 0 and gnorm_v[g] > pf[g] * tlam:
                    strong_v[g] = 1
            thresh = 0.0
            ridge = al * (1.0 - alpha)

            while True:  # IRLS
                b0_old = b0
                for g in range(G):
                    if strong_v[g]:
                        for k in range(gptr[g], gptr[g + 1]):
                            bold_v[cols_p[k]] = beta_v[cols_p[k]]
                working_quantities(&D, &W)
                ncols_s = 0
                for g in range(G):
                    if strong_v[g]:
                        ncols_s += gptr[g + 1] - gptr[g]
                for a in range(W.ks):
                    spos_v[scols_v[a]] = -1
                W.ks = 0
                W.gram = ncols_s <= gram_max and ncols_s <= GRAM_MAX
                if W.gram:
                    for g in range(G):
                        if strong_v[g]:
                            for k in range(gptr[g], gptr[g + 1]):
                                scols_v[W.ks] = cols_p[k]
                                spos_v[cols_p[k]] = W.ks
                                W.ks += 1
                    nnz_s = 0
                    if D.sparse:
                        for a in range(W.ks):
                            nnz_s += D.sp_indptr[W.scols[a] + 1] - D.sp_indptr[W.scols[a]]
                    if D.sparse and nnz_s < unpack_density * n * W.ks:
                        sparse_gram(&D, &W, &xhbuf_v[0])
                    elif D.sparse:
                        hd_gram_csc(n, W.ks, D.sp_data, D.sp_indices, D.sp_indptr, W.scols,
                                    W.h, W.v, W.G, GRAM_MAX, &xhbuf_v[0], W.gv,
                                    &blockbuf_v[0], &xblock_v[0], &cursor_v[0],
                                    <const double **>&colptr_v[0])
                    else:
                        hd_gram(n, W.ks, D.dense, W.scols, W.h, W.v, W.G, GRAM_MAX,
                                &xhbuf_v[0], W.gv, &blockbuf_v[0],
                                <const double **>&colptr_v[0])
                    standardize_gram(&D, &W, &xhbuf_v[0])
                    W.g0 = W.sum_v
                else:
                    for g in range(G):
                        if strong_v[g]:
                            for k in range(gptr[g], gptr[g + 1]):
                                xh_v[cols_p[k]] = raw_dot(&D, cols_p[k], W.h)
                for g in range(G):
                    if strong_v[g]:
                        gamma_v[g] = group_gamma(&D, &W, cols_p, gptr[g], gptr[g + 1],
                                                 &gram_v[0], &ev_v[0], &zd_v[0], &isuppz_v[0],
                                                 &lw_v[0], lwork_c, &iwork_v[0], liwork_c)
                while True:  # BMD: full pass then inner passes
                    npass += 1
                    dif = 0.0
                    for g in range(G):
                        if not strong_v[g]:
                            continue
                        thresh = pf[g] * al * alpha
                        if bmd_update(&D, &W, cols_p, gptr[g], gptr[g + 1], &beta_v[0],
                                      gamma_v[g], thresh, ridge, &unew_v[0], &dif):
                            if in_e_v[g] == 0:
                                in_e_v[g] = 1
                                elist_v[ni] = g
                                ni += 1
                                if ni > pmax:
                                    jerr = -10000 - (m + 1)
                                    break
                    if jerr != 0:
                        break
                    intercept_step(&W, &b0, &dif)
                    if dif < eps:
                        break
                    if npass > maxit:
                        jerr = -(m + 1)
                        break
                    while True:  # inner passes over the entered groups
                        npass += 1
                        dif = 0.0
                        for k in range(ni):
                            g = elist_v[k]
                            thresh = pf[g] * al * alpha
                            bmd_update(&D, &W, cols_p, gptr[g], gptr[g + 1], &beta_v[0],
                                       gamma_v[g], thresh, ridge, &unew_v[0], &dif)
                        intercept_step(&W, &b0, &dif)
                        if dif < eps:
                            break
                        if npass > maxit:
                            jerr = -(m + 1)
                            break
                    if jerr != 0:
                        break
                if jerr != 0:
                    break
                # Step 5: did any coefficient move by a squared amount >= eps?
                # The same loop brings eta up to date with the descent's moves.
                maxdiff = (b0 - b0_old) * (b0 - b0_old)
                shift = b0 - b0_old
                for g in range(G):
                    if strong_v[g]:
                        for k in range(gptr[g], gptr[g + 1]):
                            j = cols_p[k]
                            gn = beta_v[j] - bold_v[j]
                            if gn != 0.0:
                                eta_update(&D, &W, j, gn, &shift)
                            if gn * gn > maxdiff:
                                maxdiff = gn * gn
                if shift != 0.0:
                    for i in range(n):
                        W.r[i] += shift
                if maxdiff >= eps:
                    continue
                # Step 6: KKT check over groups outside the strong set.
                gradient_residual(&D, &W, &qsum)
                any_new = 0
                for g in range(G):
                    if strong_v[g]:
                        continue
                    gnorm_v[g] = group_grad_norm(&D, &W, cols_p, gptr[g], gptr[g + 1], qsum)
                    if gnorm_v[g] > al * pf[g] * alpha:
                        strong_v[g] = 1
                        any_new = 1
                if not any_new:
                    break
            if jerr != 0:
                break
            alam[m] = al
            b0_out[m] = b0
            for j in range(p):
                beta_out[m, j] = beta_v[j]
            nalam = m + 1
            if m == 0 and not user_lambda:
                # lambda_max from the gradients at the first (intercept-only) solution.
                for g in range(G):
                    if pf[g] > SMALL:
                        gn = gnorm_v[g] / (pf[g] * alpha)
                        if gn > lam_max:
                            lam_max = gn
            # dfmax: from the min(6, nlam)-th lambda on.
            if m + 1 >= (6 if nlam > 6 else nlam):
                me = 0
                for k in range(ni):
                    g = elist_v[k]
                    for i in range(gptr[g], gptr[g + 1]):
                        if fabs(beta_v[cols_p[i]]) > SMALL:
                            me += 1
                            break
                if me > dfmax:
                    break
    return nalam, npass, jerr, lam_max, W.n_clipped


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
            hd_cv_deviance(n, m, rho, ETA_MAX, &y[0], &w[0], &eta[0, 0], &ds[0], &ws[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum > 0, dsum / np.where(wsum > 0, wsum, 1.0), np.nan)
