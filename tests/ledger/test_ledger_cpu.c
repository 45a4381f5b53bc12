/*
 * test_ledger_cpu.c: the ledger thread's CPU, and tl_ledger_disk_cpu() which picks it.
 *
 * 1. Bad input: a missing directory is -ENOENT; a directory on tmpfs (no block device) is
 *    -ENODEV; a cpu below TL_LEDGER_CPU_DISK is refused by tl_ledger_open().
 * 2. On the disk under /var/tmp, when tl_ledger_disk_cpu() names a CPU, that is checked
 *    without sysfs: 64 writes and fdatasyncs are made there, and the interrupt line in
 *    /proc/interrupts that grew the most must have grown on that CPU: at least 90% of its
 *    growth (an interrupt that fired between the two snapshots for another reason may have
 *    gone elsewhere).
 * 3. A ledger opened with TL_LEDGER_CPU_DISK reports that CPU (or -1 when there is none),
 *    and its thread is really pinned there, as /proc/self/task shows; with a number (the
 *    first CPU this process may use) it is pinned there, and with -1 nowhere. It commits
 *    all the same.
 */
#include "ledger_test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#define IRQ_LINES_MAX 512
#define CPUS_MAX 64
#define SYNCS 64

struct irq_snapshot {
	int lines;
	unsigned irq[IRQ_LINES_MAX];
	unsigned long long count[IRQ_LINES_MAX][CPUS_MAX];
};

/* Every numbered line of /proc/interrupts, with its count on each CPU. */
static void irq_snapshot(struct irq_snapshot *s, int cpus)
{
	char line[8192];
	FILE *f = fopen("/proc/interrupts", "re");
	CHECK(f != NULL);
	memset(s, 0, sizeof(*s));
	while (fgets(line, sizeof(line), f) && s->lines < IRQ_LINES_MAX) {
		char *p = line, *end;
		unsigned long irq = strtoul(p, &end, 10);
		if (end == p || *end != ':')
			continue; /* the header, or a named line such as LOC: */
		s->irq[s->lines] = (unsigned)irq;
		p = end + 1;
		for (int c = 0; c < cpus && c < CPUS_MAX; c++) {
			s->count[s->lines][c] = strtoull(p, &end, 10);
			p = end;
		}
		s->lines++;
	}
	fclose(f);
}

/* Part 2: returns 1 when the check ran, 0 when the disk raised no interrupts to look at. */
static int check_interrupts_land_on(const char *dir, int cpu)
{
	int cpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (cpus > CPUS_MAX || cpu >= cpus)
		return 0;
	static struct irq_snapshot before, after;
	char path[300];
	snprintf(path, sizeof(path), "%s/syncs", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
	CHECK(fd >= 0);
	static char page[4096];
	irq_snapshot(&before, cpus);
	for (int i = 0; i < SYNCS; i++) {
		memset(page, i, sizeof(page));
		CHECK(pwrite(fd, page, sizeof(page), (off_t)i * (off_t)sizeof(page)) ==
		      (ssize_t)sizeof(page));
		CHECK(fdatasync(fd) == 0);
	}
	irq_snapshot(&after, cpus);
	close(fd);
	unlink(path);

	int best = -1;
	unsigned long long best_total = 0;
	for (int i = 0; i < after.lines && i < before.lines; i++) {
		if (after.irq[i] != before.irq[i])
			continue; /* a line came or went: leave it out */
		unsigned long long total = 0;
		for (int c = 0; c < cpus; c++)
			total += after.count[i][c] - before.count[i][c];
		if (total > best_total)
			best = i, best_total = total;
	}
	if (best < 0 || best_total < SYNCS / 2)
		return 0;
	unsigned long long on_cpu = after.count[best][cpu] - before.count[best][cpu];
	fprintf(stderr,
	        "disk cpu: %d syncs under %s: IRQ %u fired %llu times, %llu of them on CPU %d\n",
	        SYNCS, dir, after.irq[best], best_total, on_cpu, cpu);
	CHECK(on_cpu * 10 >= best_total * 9);
	return 1;
}

/* The CPU list of every thread of this process but the calling one ("0-1", "1"...):
 * CHECKs that exactly two other threads, the ledger thread and its committer, have
 * `want`. */
static void check_ledger_threads_allowed(const char *want)
{
	char path[300], line[256];
	int matches = 0;
	DIR *d = opendir("/proc/self/task");
	CHECK(d != NULL);
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == gettid())
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		FILE *f = fopen(path, "re");
		if (!f)
			continue; /* the thread has just gone */
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "Cpus_allowed_list:", 18)) {
				char *v = line + 18;
				v += strspn(v, " \t");
				v[strcspn(v, "\n")] = '\0';
				matches += strcmp(v, want) == 0;
			}
		fclose(f);
	}
	closedir(d);
	CHECK_EQ(matches, 2);
}

/* Opens a ledger in dir with cfg.cpu = cpu, opens an account through it, and returns the
 * CPU it reports; checks its thread's affinity when pinned. */
static int open_with_cpu(const char *dir, int cpu)
{
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.cpu = cpu;
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, &cfg, &p);
	int used = tl_ledger_cpu(l);
	char account[32];
	snprintf(account, sizeof(account), "cpu%d", cpu);
	/* The thread pins itself first thing: an ack means it got past that. */
	CHECK_EQ(lt_call(p, lt_account(account)).status, TL_LEDGER_APPLIED);
	if (used >= 0) {
		char want[16];
		snprintf(want, sizeof(want), "%d", used);
		check_ledger_threads_allowed(want);
	}
	tl_ledger_close(l);
	return used;
}

int main(void)
{
	/* 1. bad input */
	CHECK_EQ(tl_ledger_disk_cpu("/nonexistent/tally-test"), -ENOENT);
	struct statfs fs;
	if (statfs("/dev/shm", &fs) == 0 && fs.f_type == TMPFS_MAGIC)
		CHECK_EQ(tl_ledger_disk_cpu("/dev/shm"), -ENODEV);
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "ledger-cpu");
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.dir = dir;
	cfg.cpu = TL_LEDGER_CPU_DISK - 1;
	tl_ledger_t *l;
	CHECK_EQ(tl_ledger_open(&l, &cfg), -EINVAL);

	/* 2. the disk's CPU, checked against the interrupts themselves */
	int disk_cpu = tl_ledger_disk_cpu(dir);
	CHECK(disk_cpu == -ENODEV || (disk_cpu >= 0 && disk_cpu < CPU_SETSIZE));
	int checked = disk_cpu >= 0 ? check_interrupts_land_on(dir, disk_cpu) : 0;

	/* 3. the ledger thread */
	char db[300];
	snprintf(db, sizeof(db), "%s/db", dir);
	CHECK_EQ(open_with_cpu(db, TL_LEDGER_CPU_DISK), disk_cpu >= 0 ? disk_cpu : -1);
	int allowed[1];
	CHECK_EQ(tl_cpus_allowed(allowed, 1), 1);
	CHECK_EQ(open_with_cpu(db, allowed[0]), allowed[0]);
	CHECK_EQ(open_with_cpu(db, -1), -1);
	lt_verify_ok(db);
	lt_rmtree(dir);
	printf("test_ledger_cpu: ok (disk under /var/tmp: %s%s)\n",
	       disk_cpu >= 0 ? "one CPU takes its interrupts" : "no single CPU",
	       disk_cpu >= 0 && !checked ? "; no interrupt seen to check it against" : "");
	return 0;
}
