/* bench_util.c: what every benchmark needs: medians, CPU choice, pinned thread pairs. */
#include "tl_bench.h"

#include "tl_event.h"
#include "tl_ring.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int64_t tl_bench_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double tl_bench_median(double *v, int n)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int tl_bench_pick_cpus(int *cpu_a, int *cpu_b)
{
	int cpus[2];

	if (tl_cpus_allowed(cpus, 2) == 2) {
		*cpu_a = cpus[0];
		*cpu_b = cpus[1];
		return 2;
	}
	*cpu_a = *cpu_b = -1;
	return 1;
}

struct pair_side {
	void (*fn)(void *);
	void *arg;
	int cpu;
	_Atomic int *go;
	_Atomic int *ready;
};

static void *pair_thread(void *p)
{
	struct pair_side *side = p;

	if (side->cpu >= 0)
		tl_thread_pin_self(side->cpu);
	/* Pairs with the release store of *go below: start only once both are pinned. */
	atomic_fetch_add_explicit(side->ready, 1, memory_order_release);
	while (!atomic_load_explicit(side->go, memory_order_acquire))
		tl_cpu_relax();
	side->fn(side->arg);
	return NULL;
}

int64_t tl_bench_run_pair(void (*fa)(void *), void (*fb)(void *), void *arg, int cpu_a, int cpu_b)
{
	_Atomic int go = 0, ready = 0;
	struct pair_side a = {fa, arg, cpu_a, &go, &ready};
	struct pair_side b = {fb, arg, cpu_b, &go, &ready};
	pthread_t ta, tb;
	int rc;

	rc = pthread_create(&ta, NULL, pair_thread, &a);
	if (rc != 0)
		return -rc;
	rc = pthread_create(&tb, NULL, pair_thread, &b);
	if (rc != 0) {
		atomic_store_explicit(&go, 1, memory_order_release);
		pthread_join(ta, NULL);
		return -rc;
	}
	while (atomic_load_explicit(&ready, memory_order_acquire) != 2)
		tl_cpu_relax();
	int64_t t0 = tl_mono_ns();
	atomic_store_explicit(&go, 1, memory_order_release);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	return tl_mono_ns() - t0;
}

int tl_bench_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] == '-' || s[0] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int tl_bench_bad_value(const char *bench, const char *opt, const char *range)
{
	fprintf(stderr, "tally bench %s: bad value '%s' for --%s: expected %s\n", bench, optarg,
	        opt, range);
	return -EINVAL;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

void tl_bench_rm_tree(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		fprintf(stderr, "tally bench: warning: cannot remove %s: %s\n", dir,
		        strerror(errno));
}
