/* Inner loops of the kernel, written so the compiler vectorises them
   (the reductions need `omp simd`: plain C may not reorder a floating-point sum). */
#ifndef HDTWEEDIE_SIMD_H
#define HDTWEEDIE_SIMD_H

#include <math.h>
#include <stddef.h>

static inline double hd_dot(int n, const double *x, const double *v)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += x[i] * v[i];
    return s;
}

/* v -= d * h * x */
static inline void hd_update(int n, const double *x, const double *h, double *v, double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        v[i] -= d * (h[i] * x[i]);
}

/* r += d * x */
static inline void hd_axpy(int n, const double *x, double *r, double d)
{
#pragma omp simd
    for (int i = 0; i < n; i++)
        r[i] += d * x[i];
}

/* sum h * x * x */
static inline double hd_wdot(int n, const double *h, const double *x, const double *y)
{
    double s = 0.0;
#pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++)
        s += h[i] * x[i] * y[i];
    return s;
}

/* Working quantities at eta = r (clipped to [-lim, lim] for the exponentials):
   r1 = w y exp(-(rho-1) eta), r2 = w exp((2-rho) eta), h = (rho-1) r1 + (2-rho) r2,
   v = h (z - r) with z = r + (r1 - r2) / h.  Returns the number of clipped rows. */
static long hd_working(int n, double rho, double lim, const double *y, const double *w,
                       const double *r, double *h, double *v, double *sum_h, double *sum_v)
{
    long clipped = 0;
    double sh = 0.0, sv = 0.0;
    const double a = -(rho - 1.0), b = 2.0 - rho;
#pragma omp simd reduction(+:sh, sv, clipped)
    for (int i = 0; i < n; i++) {
        double eta = r[i];
        clipped += (eta > lim) | (eta < -lim);
        eta = eta > lim ? lim : (eta < -lim ? -lim : eta);
        double r1 = w[i] * y[i] * exp(a * eta);
        double r2 = w[i] * exp(b * eta);
        double hi = (rho - 1.0) * r1 + (2.0 - rho) * r2;
        double z = r[i] + (r1 - r2) / hi;
        double vi = hi > 0.0 ? hi * (z - r[i]) : 0.0;
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
static void hd_working_from(int n, double rho, const double *r, double *h, double *v,
                            double *sum_h, double *sum_v)
{
    double sh = 0.0, sv = 0.0;
#pragma omp simd reduction(+:sh, sv)
    for (int i = 0; i < n; i++) {
        double r1 = h[i], r2 = v[i];
        double hi = (rho - 1.0) * r1 + (2.0 - rho) * r2;
        double z = r[i] + (r1 - r2) / hi;
        double vi = hi > 0.0 ? hi * (z - r[i]) : 0.0;
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
static double hd_gradient_residual(int n, double rho, double lim, const double *y,
                                   const double *w, const double *r, double *q,
                                   double *r1_out, double *r2_out, long *clipped)
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

/* Over all rows, in blocks that stay in cache: G (lower triangle, row-major with
   leading dimension ldg) = X_S' diag(h) X_S, xh = X_S' h, xv = X_S' v, for the k
   columns cols of the column-major n-row X.  buf holds HD_BLOCK * k doubles. */
#define HD_BLOCK 256
static void hd_gram(int n, int k, const double *X, const int *cols, const double *h,
                    const double *v, double *G, int ldg, double *xh, double *xv, double *buf)
{
    for (int a = 0; a < k; a++) {
        xh[a] = 0.0;
        xv[a] = 0.0;
        for (int b = 0; b <= a; b++)
            G[a * ldg + b] = 0.0;
    }
    for (int i0 = 0; i0 < n; i0 += HD_BLOCK) {
        int m = n - i0 < HD_BLOCK ? n - i0 : HD_BLOCK;
        const double *hb = h + i0, *vb = v + i0;
        for (int a = 0; a < k; a++) {
            const double *xa = X + (ptrdiff_t)cols[a] * n + i0;
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
                const double *x0 = X + (ptrdiff_t)cols[b] * n + i0;
                const double *x1 = X + (ptrdiff_t)cols[b + 1] * n + i0;
                const double *x2 = X + (ptrdiff_t)cols[b + 2] * n + i0;
                const double *x3 = X + (ptrdiff_t)cols[b + 3] * n + i0;
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
                const double *xb = X + (ptrdiff_t)cols[b] * n + i0;
                double s = 0.0;
#pragma omp simd reduction(+:s)
                for (int i = 0; i < m; i++)
                    s += ba[i] * xb[i];
                G[a * ldg + b] += s;
            }
        }
    }
}

#endif
