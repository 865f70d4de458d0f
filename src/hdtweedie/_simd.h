/* Inner loops of the kernel, compiled once per x86-64 instruction-set level and
   chosen at run time by CPU features (as numpy does), so that one build runs on any
   x86-64 CPU and uses AVX2/FMA or AVX-512 where they exist.  The loops are in
   _simd_loops.h; here they are instantiated and dispatched through a table.

   Levels: 0 = baseline x86-64 (SSE2), 1 = x86-64-v3, 2 = x86-64-v4.  The copies
   are compiled for the parts of those levels that floating-point loops use (v3:
   AVX2, FMA, BMI1/2; v4: also AVX-512 F/BW/CD/DQ/VL), which every GCC >= 6 and
   clang can name and test.  Off x86-64, on other compilers, or with HD_NO_DISPATCH
   defined (setup.py: HDTWEEDIE_PORTABLE=1), only the plain copy is built and the
   level is "generic". */
#ifndef HDTWEEDIE_SIMD_H
#define HDTWEEDIE_SIMD_H

#include <math.h>
#include <stddef.h>

/* With glibc's libmvec, declaring exp SIMD-capable lets the `omp simd` loops call
   its 2-, 4- or 8-wide versions, each copy the widest its level allows (setup.py
   links libmvec where it exists). */
#ifdef HDTWEEDIE_LIBMVEC
double exp(double) __attribute__((__simd__("notinbranch")));
double expm1(double) __attribute__((__simd__("notinbranch")));
#endif

/* Rows per block of the covariance-mode products. */
#define HD_BLOCK 256

#if defined(__GNUC__) && !defined(__clang__)
/* Assuming no traps lets GCC turn the finite-only sums of hd_cv_deviance into
   vector selects (values are unchanged). */
#define HD_NO_TRAPS __attribute__((optimize("no-trapping-math")))
#else
#define HD_NO_TRAPS
#endif

/* The four-column loops of _simd_loops.h: out[a] = sum over i < n of HD_TERM(a, i), for
   the columns x0..x3 of the pointers x, each sum its own `omp simd` reduction (so each
   value is that of the one-column loop with the same term).  HD_SCALES4 names the
   centres m0..m3 and scales c0..c3 of standardised columns. */
#define HD_SUM4(n, x, out) do {                                                  \
        const double *x0 = (x)[0], *x1 = (x)[1], *x2 = (x)[2], *x3 = (x)[3];     \
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;                           \
        _Pragma("omp simd reduction(+:s0, s1, s2, s3)")                          \
        for (int i = 0; i < (n); i++) {                                          \
            s0 += HD_TERM(0, i);                                                 \
            s1 += HD_TERM(1, i);                                                 \
            s2 += HD_TERM(2, i);                                                 \
            s3 += HD_TERM(3, i);                                                 \
        }                                                                        \
        (out)[0] = s0;                                                           \
        (out)[1] = s1;                                                           \
        (out)[2] = s2;                                                           \
        (out)[3] = s3;                                                           \
    } while (0)
#define HD_SCALES4(m, sc)                                                        \
    const double m0 = (m)[0], m1 = (m)[1], m2 = (m)[2], m3 = (m)[3];             \
    const double c0 = (sc)[0], c1 = (sc)[1], c2 = (sc)[2], c3 = (sc)[3]

#define HD_CAT2(a, b) a##b
#define HD_CAT(a, b) HD_CAT2(a, b)
#define HD_FN(name) HD_CAT(name, HD_SUFFIX)

#define HD_SUFFIX _base
#define HD_TARGET
#include "_simd_loops.h"
#undef HD_SUFFIX
#undef HD_TARGET

#if (defined(__x86_64__) || defined(_M_X64)) && defined(__GNUC__) && !defined(HD_NO_DISPATCH)
#define HD_DISPATCH 1
#define HD_V3_FEATURES "avx2,fma,bmi,bmi2"
#define HD_SUFFIX _v3
#define HD_TARGET __attribute__((target(HD_V3_FEATURES)))
#include "_simd_loops.h"
#undef HD_SUFFIX
#undef HD_TARGET
#define HD_SUFFIX _v4
#define HD_V4_FEATURES HD_V3_FEATURES ",avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
#define HD_TARGET __attribute__((target(HD_V4_FEATURES)))
#include "_simd_loops.h"
#undef HD_SUFFIX
#undef HD_TARGET
#endif

typedef struct {
    double (*dot)(int, const double *, const double *);
    void (*update)(int, const double *, const double *, double *, double);
    void (*axpy)(int, const double *, double *, double);
    double (*wdot)(int, const double *, const double *, const double *);
    long (*working)(int, double, double, const double *, const double *, const double *,
                    double *, double *, double *, double *);
    void (*working_from)(int, double, const double *, double *, double *, double *,
                         double *);
    double (*gradient_residual)(int, double, double, const double *, const double *,
                                const double *, double *, double *, double *, long *);
    double (*dot_c)(int, const double *, double, double, const double *);
    void (*update_c)(int, const double *, double, double, const double *, double *, double);
    void (*axpy_c)(int, const double *, double, double, double *, double);
    double (*wdot_c)(int, const double *, const double *, double, double, const double *,
                     double, double);
    void (*gram)(int, int, int, const double *, const int *, const double *, const double *,
                 const double *, const double *, double *, int, double *, double *, double *,
                 double *, const double **);
    void (*gram_csc)(int, int, const double *, const int *, const int *, const int *,
                     const double *, const double *, double *, int, double *, double *,
                     double *, double *, int *, const double **);
    void (*cv_deviance)(int, int, double, double, const double *, const double *,
                        const double *, double *, double *);
    void (*dot4)(int, const double *const *, const double *, double *);
    void (*dot4_c)(int, const double *const *, const double *, const double *,
                   const double *, double *);
    double (*update_dot)(int, const double *, const double *, double *, double,
                         const double *);
    double (*update_dot_c)(int, const double *, double, double, const double *, double *,
                           double, const double *, double, double);
    void (*wdot4)(int, const double *, const double *const *, double *);
    void (*wdot4_c)(int, const double *, const double *const *, const double *,
                    const double *, double *);
} hd_loops;

#define HD_TABLE(s) { hd_dot##s, hd_update##s, hd_axpy##s, hd_wdot##s, hd_working##s, \
    hd_working_from##s, hd_gradient_residual##s, hd_dot_c##s, hd_update_c##s, hd_axpy_c##s, \
    hd_wdot_c##s, hd_gram##s, hd_gram_csc##s, hd_cv_deviance##s, hd_dot4##s, hd_dot4_c##s, \
    hd_update_dot##s, hd_update_dot_c##s, hd_wdot4##s, hd_wdot4_c##s }

#ifdef HD_DISPATCH
static const hd_loops hd_levels[3] = {HD_TABLE(_base), HD_TABLE(_v3), HD_TABLE(_v4)};
static const char *const hd_level_names[3] = {"x86-64", "x86-64-v3", "x86-64-v4"};
#define HD_N_LEVELS 3
#else
static const hd_loops hd_levels[1] = {HD_TABLE(_base)};
static const char *const hd_level_names[1] = {"generic"};
#define HD_N_LEVELS 1
#endif

static hd_loops hd_active = HD_TABLE(_base);
static int hd_active_level = 0;

/* The highest level this CPU (and its operating system) supports. */
static int hd_simd_best(void)
{
#ifdef HD_DISPATCH
    __builtin_cpu_init();
    int v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
             && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
    int v4 = v3 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
             && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
             && __builtin_cpu_supports("avx512vl");
    return v4 ? 2 : (v3 ? 1 : 0);
#else
    return 0;
#endif
}

/* Use the copies of one level (the caller checks 0 <= level <= hd_simd_best()). */
static void hd_simd_select(int level)
{
    hd_active = hd_levels[level];
    hd_active_level = level;
}

static inline double hd_dot(int n, const double *x, const double *v)
{ return hd_active.dot(n, x, v); }
static inline void hd_update(int n, const double *x, const double *h, double *v, double d)
{ hd_active.update(n, x, h, v, d); }
static inline void hd_axpy(int n, const double *x, double *r, double d)
{ hd_active.axpy(n, x, r, d); }
static inline double hd_wdot(int n, const double *h, const double *x, const double *y)
{ return hd_active.wdot(n, h, x, y); }
static inline long hd_working(int n, double rho, double lim, const double *y,
                              const double *w, const double *r, double *h, double *v,
                              double *sum_h, double *sum_v)
{ return hd_active.working(n, rho, lim, y, w, r, h, v, sum_h, sum_v); }
static inline void hd_working_from(int n, double rho, const double *r, double *h, double *v,
                                   double *sum_h, double *sum_v)
{ hd_active.working_from(n, rho, r, h, v, sum_h, sum_v); }
static inline double hd_gradient_residual(int n, double rho, double lim, const double *y,
                                          const double *w, const double *r, double *q,
                                          double *r1_out, double *r2_out, long *clipped)
{ return hd_active.gradient_residual(n, rho, lim, y, w, r, q, r1_out, r2_out, clipped); }
static inline double hd_dot_c(int n, const double *x, double m, double s, const double *v)
{ return hd_active.dot_c(n, x, m, s, v); }
static inline void hd_update_c(int n, const double *x, double m, double s, const double *h,
                               double *v, double d)
{ hd_active.update_c(n, x, m, s, h, v, d); }
static inline void hd_axpy_c(int n, const double *x, double m, double s, double *r, double d)
{ hd_active.axpy_c(n, x, m, s, r, d); }
static inline double hd_wdot_c(int n, const double *h, const double *x, double mx, double sx,
                               const double *y, double my, double sy)
{ return hd_active.wdot_c(n, h, x, mx, sx, y, my, sy); }
static inline void hd_gram(int n, int ldx, int k, const double *X, const int *cols,
                           const double *cm, const double *cs, const double *h,
                           const double *v, double *G, int ldg, double *xh, double *xv,
                           double *buf, double *xbuf, const double **x)
{ hd_active.gram(n, ldx, k, X, cols, cm, cs, h, v, G, ldg, xh, xv, buf, xbuf, x); }
static inline void hd_gram_csc(int n, int k, const double *data, const int *indices,
                               const int *indptr, const int *cols, const double *h,
                               const double *v, double *G, int ldg, double *xh, double *xv,
                               double *buf, double *xbuf, int *cursor, const double **x)
{ hd_active.gram_csc(n, k, data, indices, indptr, cols, h, v, G, ldg, xh, xv, buf, xbuf,
                     cursor, x); }
static inline void hd_cv_deviance(int n, int m, double rho, double lim, const double *y,
                                  const double *w, const double *eta, double *dsum,
                                  double *wsum)
{ hd_active.cv_deviance(n, m, rho, lim, y, w, eta, dsum, wsum); }
static inline void hd_dot4(int n, const double *const *x, const double *v, double *out)
{ hd_active.dot4(n, x, v, out); }
static inline void hd_dot4_c(int n, const double *const *x, const double *m, const double *s,
                             const double *v, double *out)
{ hd_active.dot4_c(n, x, m, s, v, out); }
static inline double hd_update_dot(int n, const double *x, const double *h, double *v,
                                   double d, const double *y)
{ return hd_active.update_dot(n, x, h, v, d, y); }
static inline double hd_update_dot_c(int n, const double *x, double mx, double sx,
                                     const double *h, double *v, double d, const double *y,
                                     double my, double sy)
{ return hd_active.update_dot_c(n, x, mx, sx, h, v, d, y, my, sy); }

static inline void hd_wdot4(int n, const double *h, const double *const *x, double *out)
{ hd_active.wdot4(n, h, x, out); }
static inline void hd_wdot4_c(int n, const double *h, const double *const *x, const double *m,
                              const double *s, double *out)
{ hd_active.wdot4_c(n, h, x, m, s, out); }

#endif
