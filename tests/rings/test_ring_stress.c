/*
 * Two-thread stress of the SPSC ring: a pinned producer sends sequenced messages, a pinned
 * consumer checks that each arrives exactly once, whole and in order. It runs for the
 * single-slot, the batch and the quiet calls (pushes whose wake-up comes later, with
 * tl_ring_notify), and for each side using a different kind (the ledger's
 * ports do: single pushes drained in batches, batched acks popped singly), under every
 * idle strategy on the consumer side.
 *
 * usage: test_ring_stress [messages-per-run]
 * The default is 10^8 per run in an optimised build, fewer under the sanitizers.
 * A lost wake-up in the block strategy shows up as a hang, which CTest's timeout fails.
 */
#include "tl_event.h"
#include "tl_ring.h"
#include "tl_test.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

typedef struct msg {
	uint64_t seq;
	uint64_t check; /* seq * odd constant: a torn or stale slot fails the check */
} msg_t;

#define MSG_CHECK(seq) ((seq)*0x9e3779b97f4a7c15ull)

/* API_QUIET: single pushes that do not wake the consumer, and a tl_ring_notify() after a
 * random run of them and before every pause, as the strategy does with its ledger port. */
enum api { API_SINGLE, API_BATCH, API_QUIET };

struct run {
	tl_ring_t *ring;
	tl_wait_t wait;
	enum api prod_api, cons_api;
	tl_idle_kind_t idle_kind;
	uint64_t count;
	int cpu_producer, cpu_consumer;
	uint64_t received;
	uint64_t producer_pauses;
};

static unsigned next_rand(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 16;
}

static void pin(int cpu)
{
	if (cpu >= 0)
		CHECK_EQ(tl_thread_pin_self(cpu), 0);
}

/*
 * The producer pauses now and then, long enough for a blocking consumer to go to sleep, so
 * the sleep and wake path runs hundreds of times per run, not just at the end. It pauses
 * each time it passes a multiple of 2^18: a batch rarely ends exactly on one.
 */
static void maybe_pause(struct run *run, uint64_t seq_before, uint64_t seq)
{
	if (run->idle_kind != TL_IDLE_BLOCK || seq_before >> 18 == seq >> 18)
		return;
	if (run->prod_api == API_QUIET)
		tl_ring_notify(run->ring); /* before the pause: this producer is about to idle */
	/* Wait for the consumer to drain the ring first: a slow one (popping singly under
	 * TSan) could otherwise still be busy when the pause ends, and never sleep at all. */
	uint32_t capacity = tl_ring_capacity(run->ring);
	while (tl_ring_reserve(run->ring, capacity) < capacity)
		tl_cpu_relax();
	struct timespec ts = {0, 100000};
	nanosleep(&ts, NULL);
	run->producer_pauses++;
}

static void *producer(void *arg)
{
	struct run *run = arg;
	unsigned rng = 7;
	uint64_t seq = 0;

	pin(run->cpu_producer);
	while (seq < run->count) {
		uint64_t seq_before = seq;

		if (run->prod_api == API_SINGLE) {
			msg_t m = {seq, MSG_CHECK(seq)};
			if (!tl_ring_try_push(run->ring, &m)) {
				tl_cpu_relax();
				continue;
			}
			seq++;
		} else if (run->prod_api == API_QUIET) {
			uint32_t run_len = 1 + next_rand(&rng) % 16;
			for (uint32_t i = 0; i < run_len && seq < run->count; i++) {
				msg_t m = {seq, MSG_CHECK(seq)};
				if (!tl_ring_try_push_quiet(run->ring, &m))
					break; /* full: the notify below lets the consumer drain it
					        */
				seq++;
			}
			tl_ring_notify(run->ring);
		} else {
			uint64_t left = run->count - seq;
			uint32_t want = 1 + next_rand(&rng) % 64;
			if (want > left)
				want = (uint32_t)left;
			uint32_t got = tl_ring_reserve(run->ring, want);
			if (got == 0) {
				tl_cpu_relax();
				continue;
			}
			for (uint32_t i = 0; i < got; i++) {
				msg_t *m = tl_ring_reserved_slot(run->ring, i);
				m->seq = seq + i;
				m->check = MSG_CHECK(seq + i);
			}
			/* Sometimes publish fewer than reserved: the rest is reserved again. */
			uint32_t commit = got > 1 && next_rand(&rng) % 4 == 0 ? got - 1 : got;
			tl_ring_commit(run->ring, commit);
			seq += commit;
		}
		maybe_pause(run, seq_before, seq);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct run *run = arg;
	tl_idle_t idle;
	unsigned rng = 11;
	uint64_t expect = 0;

	pin(run->cpu_consumer);
	CHECK_EQ(tl_idle_init(&idle, run->idle_kind, &run->wait), 0);
	while (expect < run->count) {
		int work = 0;
		if (run->cons_api == API_SINGLE) {
			msg_t m;
			while (tl_ring_try_pop(run->ring, &m)) {
				if (m.seq != expect || m.check != MSG_CHECK(expect)) {
					fprintf(stderr,
					        "expected seq %" PRIu64 ", got %" PRIu64
					        " (check %s)\n",
					        expect, m.seq,
					        m.check == MSG_CHECK(m.seq) ? "ok" : "torn");
					exit(1);
				}
				expect++;
				work++;
			}
		} else {
			uint32_t n = tl_ring_peek(run->ring, 1 + next_rand(&rng) % 128);
			for (uint32_t i = 0; i < n; i++) {
				const msg_t *m = tl_ring_peeked_slot(run->ring, i);
				if (m->seq != expect || m->check != MSG_CHECK(expect)) {
					fprintf(stderr,
					        "batch: expected seq %" PRIu64 ", got %" PRIu64
					        "\n",
					        expect, m->seq);
					exit(1);
				}
				expect++;
			}
			tl_ring_release(run->ring, n);
			work = (int)n;
		}
		/* A blocked consumer must be woken by the producer: no timeout to hide a loss. */
		tl_idle_run(&idle, work, -1);
	}
	run->received = expect;
	return NULL;
}

static const char *api_name(enum api api)
{
	return api == API_SINGLE ? "single" : api == API_BATCH ? "batch" : "quiet";
}

/* fenced: the waiter of tl_wait_init_fenced(), a fence per publish instead of a membarrier
 * per sleep. */
static void run_one(enum api prod_api, enum api cons_api, tl_idle_kind_t kind, bool fenced,
                    uint64_t count, const int *cpus)
{
	struct run run;
	pthread_t p, c;

	memset(&run, 0, sizeof(run));
	CHECK_EQ(tl_ring_create(&run.ring, 1024, sizeof(msg_t)), 0);
	if (fenced)
		tl_wait_init_fenced(&run.wait);
	else
		tl_wait_init(&run.wait);
	CHECK_EQ(tl_ring_set_waiter(run.ring, &run.wait), 0);
	run.prod_api = prod_api;
	run.cons_api = cons_api;
	run.idle_kind = kind;
	run.count = count;
	run.cpu_producer = cpus[0];
	run.cpu_consumer = cpus[1];

	int64_t t0 = tl_mono_ns();
	CHECK_EQ(pthread_create(&c, NULL, consumer, &run), 0);
	CHECK_EQ(pthread_create(&p, NULL, producer, &run), 0);
	CHECK_EQ(pthread_join(p, NULL), 0);
	CHECK_EQ(pthread_join(c, NULL), 0);
	double secs = (double)(tl_mono_ns() - t0) / 1e9;

	CHECK_EQ(run.received, count);
	/* Nothing left over, nothing duplicated past the end. */
	CHECK(!tl_ring_readable(run.ring));
	uint64_t sleeps = atomic_load(&run.wait.sleeps);
	if (kind == TL_IDLE_BLOCK)
		CHECK(sleeps > 0); /* the pauses must have put the consumer to sleep */
	printf("%-6s -> %-6s %-5s%s %12" PRIu64 " msgs  %7.2f s  %8.1f M msgs/s  sleeps %" PRIu64
	       "\n",
	       api_name(prod_api), api_name(cons_api), tl_idle_kind_name(kind),
	       fenced ? " fenced" : "", count, secs, (double)count / secs / 1e6, sleeps);
	fflush(stdout);
	tl_ring_destroy(run.ring);
}

int main(int argc, char **argv)
{
	uint64_t count = 100000000ull;
	int cpus[2] = {-1, -1}, allowed[2];

	if (TL_TEST_UNDER_TSAN)
		count = 4000000ull;
	else if (TL_TEST_UNDER_ASAN)
		count = 20000000ull;
	if (argc > 1)
		count = strtoull(argv[1], NULL, 10);
	if (count == 0) {
		fprintf(stderr, "usage: %s [messages-per-run > 0]\n", argv[0]);
		return 2;
	}
	/* Pin to two different CPUs when there are two; otherwise let the kernel share one. */
	if (tl_cpus_allowed(allowed, 2) == 2) {
		cpus[0] = allowed[0];
		cpus[1] = allowed[1];
	}
	static const tl_idle_kind_t kinds[] = {TL_IDLE_SPIN, TL_IDLE_YIELD, TL_IDLE_BLOCK};
	for (int k = 0; k < 3; k++) {
		run_one(API_SINGLE, API_SINGLE, kinds[k], false, count, cpus);
		run_one(API_BATCH, API_BATCH, kinds[k], false, count, cpus);
		run_one(API_SINGLE, API_BATCH, kinds[k], false, count, cpus);
		run_one(API_BATCH, API_SINGLE, kinds[k], false, count, cpus);
		run_one(API_QUIET, API_BATCH, kinds[k], false, count, cpus);
	}
	/* The fenced waiter's sleep and wake path, as the ledger's committer uses it. */
	run_one(API_SINGLE, API_SINGLE, TL_IDLE_BLOCK, true, count / 4, cpus);
	run_one(API_QUIET, API_BATCH, TL_IDLE_BLOCK, true, count / 4, cpus);
	printf("ring stress: ok, %" PRIu64 " messages in each of 15 runs, and a quarter of that "
	       "in 2 more\n",
	       count);
	return 0;
}
