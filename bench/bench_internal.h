/* bench_internal.h: the benchmark programs tl_bench_main() dispatches to. */
#ifndef TL_BENCH_INTERNAL_H
#define TL_BENCH_INTERNAL_H

/* Each returns a process exit code; argv[0] is the benchmark's name. */
int tl_bench_ring(int argc, char **argv);
int tl_bench_ledger(int argc, char **argv);
int tl_bench_io(int argc, char **argv);
int tl_bench_book(int argc, char **argv);
int tl_bench_venue(int argc, char **argv);
int tl_bench_t2t(int argc, char **argv);

#endif
