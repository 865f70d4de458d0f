/* The kernel's inner loops, written so the compiler vectorises them (the reductions
   need `omp simd`: plain C may not reorder a floating-point sum).  _simd.h includes
   this file once per instruction-set level, with HD_FN(name) giving each copy its
   own names and HD_TARGET its target attribute; there is no include guard. */

HD_TARGET static double
HD_FN(hd_dot)(int n, const double *x, const double *v)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += x[i] * v[i];
    return s;
}

/* v -= d * h * x */
HD_TARGET static void
HD_FN(hd_update)(int n, const double *x, const double *h, double *v, double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        v[i] -= d * (h[i] * x[i]);
}

/* r += d * x */
HD_TARGET static void
HD_FN(hd_axpy)(int n, const double *x, double *r, double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        r[i] += d * x[i];
}

/* sum h * x * x */
HD_TARGET static double
HD_FN(hd_wdot)(int n, const double *h, const double *x, const double *y)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += h[i] * x[i] * y[i];
    return s;
}

/* The same four loops on a column standardised on the fly, x~ = (x - m) / s: each
   entry is formed exactly as (X - m) / s would store it, so the results are those
   of the loops above on that copy. */
HD_TARGET static double
HD_FN(hd_dot_c)(int n, const double *x, double m, double sc, const double *v)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += ((x[i] - m) / sc) * v[i];
    return s;
}

HD_TARGET static void
HD_FN(hd_update_c)(int n, const double *x, double m, double sc, const double *h, double *v,
                   double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        v[i] -= d * (h[i] * ((x[i] - m) / sc));
}

HD_TARGET static void
HD_FN(hd_axpy_c)(int n, const double *x, double m, double sc, double *r, double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        r[i] += d * ((x[i] - m) / sc);
}

HD_TARGET static double
HD_FN(hd_wdot_c)(int n, const double *h, const double *x, double mx, double sx,
                 const double *y, double my, double sy)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += h[i] * ((x[i] - mx) / sx) * ((y[i] - my) / sy);
    return s;
}

/* Four columns' x_a' v in one pass over v.  Each sum is a reduction of its own with
   hd_dot's lanes and order, so every value is bit for bit hd_dot's; the four chains
   of additions run side by side instead of one after another (HD_SUM4). */
HD_TARGET static void
HD_FN(hd_dot4)(int n, const double *const *x, const double *v, double *out)
{
#define HD_TERM(a, i) x##a[i] * v[i]
    HD_SUM4(n, x, out);
#undef HD_TERM
}

/* hd_dot4 on columns standardised on the fly (each value hd_dot_c's). */
HD_TARGET static void
HD_FN(hd_dot4_c)(int n, const double *const *x, const double *m, const double *sc,
                 const double *v, double *out)
{
    HD_SCALES4(m, sc);
#define HD_TERM(a, i) ((x##a[i] - m##a) / c##a) * v[i]
    HD_SUM4(n, x, out);
#undef HD_TERM
}

/* Four columns' h x_a x_a (hd_wdot with y = x) in one pass over h; each value bit for
   bit hd_wdot's. */
HD_TARGET static void
HD_FN(hd_wdot4)(int n, const double *h, const double *const *x, double *out)
{
#define HD_TERM(a, i) h[i] * x##a[i] * x##a[i]
    HD_SUM4(n, x, out);
#undef HD_TERM
}

/* hd_wdot4 on columns standardised on the fly (each value hd_wdot_c's with y = x). */
HD_TARGET static void
HD_FN(hd_wdot4_c)(int n, const double *h, const double *const *x, const double *m,
                  const double *sc, double *out)
{
    HD_SCALES4(m, sc);
#define HD_TERM(a, i) h[i] * ((x##a[i] - m##a) / c##a) * ((x##a[i] - m##a) / c##a)
    HD_SUM4(n, x, out);
#undef HD_TERM
}

/* hd_update(x) then hd_dot(y) in one pass over v: the same values, bit for bit, with
   the update's work hidden under the latency of the sum. */
HD_TARGET static double
HD_FN(hd_update_dot)(int n, const double *x, const double *h, double *v, double d,
                     const double *y)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) {
        v[i] -= d * (h[i] * x[i]);
        s += y[i] * v[i];
    }
    return s;
}

/* hd_update_c(x) then hd_dot_c(y) in one pass over v. */
HD_TARGET static double
HD_FN(hd_update_dot_c)(int n, const double *x, double mx, double sx, const double *h,
                       double *v, double d, const double *y, double my, double sy)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) {
        v[i] -= d * (h[i] * ((x[i] - mx) / sx));
        s += ((y[i] - my) / sy) * v[i];
    }
    return s;
}

/* h = (rho-1) r1 + (2-rho) r2 and v = h (z - r) with z = r + (r1 - r2) / h, one row. */
HD_TARGET static inline double
HD_FN(hd_hv)(double rho, double ri, double r1, double r2, double *vi)
{
    double hi = (rho - 1.0) * r1 + (2.0 - rho) * r2;
    double z = ri + (r1 - r2) / hi;
    *vi = hi > 0.0 ? hi * (z - ri) : 0.0;
    return hi;
}

/* Working quantities at eta = r (clipped to [-lim, lim] for the exponentials):
   r1 = w y exp(-(rho-1) eta), r2 = w exp((2-rho) eta), then h and v (hd_hv), and
   their sums.  Returns the number of clipped rows. */
HD_TARGET static long
HD_FN(hd_working)(int n, double rho, double lim, const double *y, const double *w,
                  const double *r, double *h, double *v, double *sum_h, double *sum_v)
{
    long clipped = 0;
    double sh = 0.0, sv = 0.0;
    const double a = -(rho - 1.0), b = 2.0 - rho;
#pragma omp simd reduction(+:sh, sv, clipped)
    for (int i = 0; i < n; i++) {
        double eta = r[i], vi;
        clipped += (eta > lim) | (eta < -lim);
        eta = eta > lim ? lim : (eta < -lim ? -lim : eta);
        double r1 = w[i] * y[i] * exp(a * eta);
        double r2 = w[i] * exp(b * eta);
        double hi = HD_FN(hd_hv)(rho, r[i], r1, r2, &vi);
        h[i] = hi;
        v[i] = vi;
        sh += hi;
        sv += vi;
    }
    *sum_h = sh;
    *sum_v = sv;
    return clipped;
}

/* The same from r1, r2 already computed at eta = r (held in h and v on entry). */
HD_TARGET static void
HD_FN(hd_working_from)(int n, double rho, const double *r, double *h, double *v,
                       double *sum_h, double *sum_v)
{
    double sh = 0.0, sv = 0.0;
#pragma omp simd reduction(+:sh, sv)
    for (int i = 0; i < n; i++) {
        double vi;
        double hi = HD_FN(hd_hv)(rho, r[i], h[i], v[i], &vi);
        h[i] = hi;
        v[i] = vi;
        sh += hi;
        sv += vi;
    }
    *sum_h = sh;
    *sum_v = sv;
}

/* q = r1 - r2 at eta = r (minus the loss gradient in eta); returns sum(q).  r1 and
   r2 are kept in r1_out and r2_out for the working quantities that follow. */
HD_TARGET static double
HD_FN(hd_gradient_residual)(int n, double rho, double lim, const double *y,
                            const double *w, const double *r, double *q, double *r1_out,
                            double *r2_out, long *clipped)
{
    double s = 0.0;
    long c = 0;
    const double a = -(rho - 1.0), b = 2.0 - rho;
#pragma omp simd reduction(+:s, c)
    for (int i = 0; i < n; i++) {
        double eta = r[i];
        c += (eta > lim) | (eta < -lim);
        eta = eta > lim ? lim : (eta < -lim ? -lim : eta);
        double r1 = w[i] * y[i] * exp(a * eta);
        double r2 = w[i] * exp(b * eta);
        double qi = r1 - r2;
        r1_out[i] = r1;
        r2_out[i] = r2;
        q[i] = qi;
        s += qi;
    }
    *clipped += c;
    return s;
}

/* Covariance mode: G (lower triangle, row-major with leading dimension ldg)
   += X_S' diag(h) X_S, xh += X_S' h and xv += X_S' v over one block of m rows, where
   x[a] points at the block's m entries of column a.  buf holds HD_BLOCK * k doubles.
   Blocks keep h x_a and four x_b in cache while the products run. */
HD_TARGET static void
HD_FN(hd_gram_rows)(int m, int k, const double *const *x, const double *hb,
                    const double *vb, double *G, int ldg, double *xh, double *xv,
                    double *buf)
{
    for (int a = 0; a < k; a++) {
        const double *xa = x[a];
        double *ba = buf + (ptrdiff_t)a * HD_BLOCK;
        double sh = 0.0, sv = 0.0;
#pragma omp simd reduction(+:sh, sv)
        for (int i = 0; i < m; i++) {
            ba[i] = hb[i] * xa[i];
            sh += ba[i];
            sv += xa[i] * vb[i];
        }
        xh[a] += sh;
        xv[a] += sv;
        int b = 0;
        for (; b + 3 <= a; b += 4) {
            const double *x0 = x[b], *x1 = x[b + 1], *x2 = x[b + 2], *x3 = x[b + 3];
            double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
#pragma omp simd reduction(+:s0, s1, s2, s3)
            for (int i = 0; i < m; i++) {
                s0 += ba[i] * x0[i];
                s1 += ba[i] * x1[i];
                s2 += ba[i] * x2[i];
                s3 += ba[i] * x3[i];
            }
            G[a * ldg + b] += s0;
            G[a * ldg + b + 1] += s1;
            G[a * ldg + b + 2] += s2;
            G[a * ldg + b + 3] += s3;
        }
        for (; b <= a; b++) {
            const double *xb = x[b];
            double s = 0.0;
#pragma omp simd reduction(+:s)
            for (int i = 0; i < m; i++)
                s += ba[i] * xb[i];
            G[a * ldg + b] += s;
        }
    }
}

HD_TARGET static void
HD_FN(hd_gram_zero)(int k, double *G, int ldg, double *xh, double *xv)
{
    for (int a = 0; a < k; a++) {
        xh[a] = 0.0;
        xv[a] = 0.0;
        for (int b = 0; b <= a; b++)
            G[a * ldg + b] = 0.0;
    }
}

/* Over n rows of the k columns cols of the column-major X (column j at X + j ldx);
   x holds k pointers.  With cm non-NULL the columns are standardised on the fly,
   (x - cm) / cs, each block unpacked into xbuf (HD_BLOCK * k doubles). */
HD_TARGET static void
HD_FN(hd_gram)(int n, int ldx, int k, const double *X, const int *cols, const double *cm,
               const double *cs, const double *h, const double *v, double *G, int ldg,
               double *xh, double *xv, double *buf, double *xbuf, const double **x)
{
    HD_FN(hd_gram_zero)(k, G, ldg, xh, xv);
    for (int i0 = 0; i0 < n; i0 += HD_BLOCK) {
        int m = n - i0 < HD_BLOCK ? n - i0 : HD_BLOCK;
        for (int a = 0; a < k; a++) {
            const double *xa = X + (ptrdiff_t)cols[a] * ldx + i0;
            if (cm) {
                double *ua = xbuf + (ptrdiff_t)a * HD_BLOCK;
                const double ma = cm[cols[a]], sa = cs[cols[a]];
#pragma omp simd
                for (int i = 0; i < m; i++)
                    ua[i] = (xa[i] - ma) / sa;
                xa = ua;
            }
            x[a] = xa;
        }
        HD_FN(hd_gram_rows)(m, k, x, h + i0, v + i0, G, ldg, xh, xv, buf);
    }
}

/* The same for CSC columns (sorted indices): each block of rows is unpacked into
   dense columns in xbuf (HD_BLOCK * k doubles), which beats multiplying entry by
   entry unless the columns are very sparse.  cursor holds k ints. */
HD_TARGET static void
HD_FN(hd_gram_csc)(int n, int k, const double *data, const int *indices,
                   const int *indptr, const int *cols, const double *h, const double *v,
                   double *G, int ldg, double *xh, double *xv, double *buf, double *xbuf,
                   int *cursor, const double **x)
{
    HD_FN(hd_gram_zero)(k, G, ldg, xh, xv);
    for (int a = 0; a < k; a++) {
        cursor[a] = indptr[cols[a]];
        x[a] = xbuf + (ptrdiff_t)a * HD_BLOCK;
    }
    for (int i0 = 0; i0 < n; i0 += HD_BLOCK) {
        int m = n - i0 < HD_BLOCK ? n - i0 : HD_BLOCK, i1 = i0 + m;
        for (int a = 0; a < k; a++) {
            double *xa = xbuf + (ptrdiff_t)a * HD_BLOCK;
            int kk = cursor[a];
            const int end = indptr[cols[a] + 1];
            for (int i = 0; i < m; i++)
                xa[i] = 0.0;
            for (; kk < end && indices[kk] < i1; kk++)
                xa[indices[kk] - i0] = data[kk];
            cursor[a] = kk;
        }
        HD_FN(hd_gram_rows)(m, k, x, h + i0, v + i0, G, ldg, xh, xv, buf);
    }
}

/* Held-out Tweedie deviance along a path, for 1 < rho < 2: for each lambda j,
   dsum[j] += w_i d(y_i, exp(eta_ij)) and wsum[j] += w_i over the rows where d is
   finite and |eta_ij| <= lim (R's weighted mean with na.rm; beyond lim, mu or a
   power of it is not representable).  eta is row-major, n x m.  With
   L = log(y) - eta, each difference of powers is mu^t expm1(t L): accurate
   without cancellation, and no power or log per entry.  Assuming no traps lets
   GCC turn the finite-only sums into vector selects (values are unchanged). */
HD_NO_TRAPS HD_TARGET static void
HD_FN(hd_cv_deviance)(int n, int m, double rho, double lim, const double *y,
                      const double *w, const double *eta, double *dsum, double *wsum)
{
    const double t1 = 1.0 - rho, t2 = 2.0 - rho;
    for (int i = 0; i < n; i++) {
        const double *e = eta + (ptrdiff_t)i * m;
        const double yi = y[i], wi = w[i];
        if (yi > 0.0) {
            const double ly = log(yi);
#pragma omp simd
            for (int j = 0; j < m; j++) {
                const double L = ly - e[j];
                const double d = 2.0 * (yi * exp(t1 * e[j]) * expm1(t1 * L) / t1
                                        - exp(t2 * e[j]) * expm1(t2 * L) / t2);
                const int ok = (d - d == 0.0) & (fabs(e[j]) <= lim);  /* finite */
                dsum[j] += ok ? wi * d : 0.0;
                wsum[j] += ok ? wi : 0.0;
            }
        } else {
#pragma omp simd
            for (int j = 0; j < m; j++) {
                const double d = 2.0 * exp(t2 * e[j]) / t2;
                const int ok = (d - d == 0.0) & (fabs(e[j]) <= lim);
                dsum[j] += ok ? wi * d : 0.0;
                wsum[j] += ok ? wi : 0.0;
            }
        }
    }
}

