/* The OpenMP thread count a parallel region would get (1 without OpenMP).
 * It follows OMP_NUM_THREADS, the process's CPU affinity and threadpoolctl's
 * "openmp" limits. */
#ifndef FASTRNN_THREADS_H
#define FASTRNN_THREADS_H
#ifdef _OPENMP
#include <omp.h>
static int frnn_max_threads(void) { return omp_get_max_threads(); }
static int frnn_have_openmp(void) { return 1; }
#else
static int frnn_max_threads(void) { return 1; }
static int frnn_have_openmp(void) { return 0; }
#endif
#endif
