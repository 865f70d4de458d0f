/* Inner loops of the kernel, written so the compiler vectorises them
   (the reductions need `omp simd`: plain C may not reorder a floating-point sum). */
#ifndef HDTWEEDIE_SIMD_H
#define HDTWEEDIE_SIMD_H

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

#endif
