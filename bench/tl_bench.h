/*
 * tl_bench.h: the benchmark harness behind `tally bench ...`.
 *
 * Benchmarks are not tests (DESIGN.md §8): they report figures, never fail on a timing,
 * and compare each figure against a baseline measured in the same run, because this
 * machine is shared and noisy. Every figure is the median of several repetitions.
 *
 * Output: a human table on stdout, progress on stderr, or with --json exactly one JSON
 * object on stdout (progress still on stderr).
 */
#ifndef TL_BENCH_H
#define TL_BENCH_H

#include <stdint.h>
#include <stdio.h>

/*
 * `tally bench <name> [options]`: runs one benchmark. argv[0] is "bench".
 * Returns a process exit code: 0 on success, 1 when the benchmark could not run (for
 * example a thread could not be started), 2 on a usage error (message on stderr).
 * Thread: the main thread. Blocks: yes, for the benchmark's duration.
 */
int tl_bench_main(int argc, char **argv);

/* One line of the `tally bench --help` list. */
void tl_bench_usage(FILE *out);

/* --- shared by the benchmark programs in bench/ --- */

/* Parses a decimal option value in [min, max] into *out. Returns 0 or -EINVAL (a sign,
 * trailing characters, or out of range). */
int tl_bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Reports a bad value of --opt (the current optarg) for `tally bench <bench>` on stderr;
 * returns -EINVAL. */
int tl_bench_bad_value(const char *bench, const char *opt, const char *range);

/* rm -r of a benchmark's scratch directory: depth first, symbolic links removed, never
 * followed. A failure is a warning on stderr. Thread: any. Blocks: on the file system. */
void tl_bench_rm_tree(const char *dir);

/* The wall clock (CLOCK_REALTIME) in ms, as a venue timestamps requests. */
int64_t tl_bench_wall_ms(void);

/* Median of n values; sorts `v` in place. Returns 0 for n == 0. */
double tl_bench_median(double *v, int n);

/*
 * Two CPUs for a producer/consumer pair: the first two of the affinity mask. Returns 2
 * when there are two (both pinned), 1 when only one CPU is allowed (then both get -1:
 * unpinned, and the figures mean little).
 */
int tl_bench_pick_cpus(int *cpu_a, int *cpu_b);

/*
 * Runs `fa(arg)` and `fb(arg)` on two threads pinned to cpu_a and cpu_b, released
 * together from a spin barrier, and returns the wall time in ns from the release until
 * both returned, or a negative errno when a thread could not be started.
 */
int64_t tl_bench_run_pair(void (*fa)(void *), void (*fb)(void *), void *arg, int cpu_a, int cpu_b);

#endif /* TL_BENCH_H */
