/*
 * disk_cpu.c: which CPU takes the completion interrupts of the disk under a directory.
 *
 * Why the ledger cares: its thread spends most of each commit blocked in fdatasync. When
 * the disk's completion interrupt lands on the CPU the thread sleeps on, the wake-up is
 * local; on any other CPU it costs an inter-processor interrupt, which on a virtual
 * machine is a trip through the hypervisor. On this VM (one virtio-blk queue, its
 * interrupt on CPU 1) a commit-shaped write and sync took about 0.4-0.5 ms from CPU 1
 * against 0.55-0.75 ms from CPU 0 (README, "The ledger thread's CPU").
 *
 * Everything is read from sysfs and procfs, the way the kernel documents them:
 *   /sys/dev/block/MAJ:MIN           the block device of the directory's file system
 *     partition, slaves/             a partition's disk is its parent; a device-mapper or
 *                                    md device with exactly one slave is that slave's
 *     device -> .../0000:00:02.0/... the device's parents, up to one with msi_irqs/
 *   /proc/interrupts                 which of those interrupts ever fired
 *   /proc/irq/N/effective_affinity_list  the CPUs each is delivered to
 * A disk with one interrupt per CPU (NVMe, virtio with several queues) completes on the
 * CPU that submitted, so no single CPU is better: that is -ENODEV too.
 */
#include "ledger_internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define SLAVE_DEPTH_MAX 4 /* dm on md on a partition is as deep as it goes in practice */
#define IRQS_MAX 256      /* MSI vectors of one device that are looked at */

/* Reads the first line of `path` into buf (without its newline). 0 or a negative errno. */
static int read_line(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int rc = fgets(buf, (int)size, f) ? 0 : -EIO;
	fclose(f);
	if (rc == 0)
		buf[strcspn(buf, "\n")] = '\0';
	return rc;
}

static bool path_exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	return snprintf(path, sizeof(path), "%s/%s", dir, name) < (int)sizeof(path) &&
	       stat(path, &st) == 0;
}

/* The only entry of dir/slaves into out (a sysfs path), or -ENODEV for none or several. */
static int only_slave(const char *dir, char out[PATH_MAX])
{
	char path[PATH_MAX], name[NAME_MAX + 1] = "";
	int count = 0;

	if (snprintf(path, sizeof(path), "%s/slaves", dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	DIR *d = opendir(path);
	if (!d)
		return -ENODEV;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		if (e->d_name[0] != '.' && count++ == 0)
			snprintf(name, sizeof(name), "%s", e->d_name);
	closedir(d);
	if (count != 1)
		return -ENODEV;
	if (snprintf(path, sizeof(path), "/sys/class/block/%s", name) >= (int)sizeof(path) ||
	    !realpath(path, out))
		return -ENODEV;
	return 0;
}

/* The sysfs directory of the whole disk that holds `dir`'s file system. */
static int disk_of(const char *dir, char out[PATH_MAX])
{
	char path[PATH_MAX];
	struct stat st;

	if (stat(dir, &st) != 0)
		return -errno;
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u", major(st.st_dev), minor(st.st_dev));
	if (!realpath(path, out))
		return -ENODEV; /* tmpfs, overlayfs, NFS: no block device */
	for (int depth = 0; depth < SLAVE_DEPTH_MAX; depth++) {
		if (path_exists(out, "partition")) {
			char *slash = strrchr(out, '/');
			if (!slash)
				return -ENODEV;
			*slash = '\0';
		}
		if (path_exists(out, "device"))
			return 0;
		int rc = only_slave(out, out);
		if (rc)
			return rc;
	}
	return -ENODEV;
}

/* Total count of interrupt `irq` over every CPU, from /proc/interrupts; 0 if not listed. */
static uint64_t irq_count(unsigned irq)
{
	char line[4096];
	uint64_t total = 0;
	FILE *f = fopen("/proc/interrupts", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;
		unsigned long n = strtoul(p, &end, 10);
		if (end == p || *end != ':' || n != irq)
			continue;
		for (p = end + 1;;) {
			unsigned long long c = strtoull(p, &end, 10);
			if (end == p)
				break;
			total += c;
			p = end;
		}
		break;
	}
	fclose(f);
	return total;
}

/* The one CPU in a cpulist such as "1" or "3"; -ENODEV for a range or a list. */
static int single_cpu(const char *list)
{
	char *end;
	long cpu = strtol(list, &end, 10);
	if (end == list || *end != '\0' || cpu < 0 || cpu > INT_MAX)
		return -ENODEV;
	return (int)cpu;
}

int tl_ledger_disk_cpu(const char *dir)
{
	char disk[PATH_MAX], dev[PATH_MAX], path[PATH_MAX + 32];
	int rc = disk_of(dir, disk);

	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/device", disk);
	if (!realpath(path, dev))
		return -ENODEV;
	/* Up from the disk's device to the one that owns the interrupt vectors (the PCI
	 * function, for virtio and NVMe alike). */
	while (!path_exists(dev, "msi_irqs")) {
		char *slash = strrchr(dev, '/');
		if (!slash || slash == dev || strcmp(dev, "/sys/devices") == 0)
			return -ENODEV;
		*slash = '\0';
	}
	snprintf(path, sizeof(path), "%s/msi_irqs", dev);
	DIR *d = opendir(path);
	if (!d)
		return -ENODEV;
	int cpu = -ENODEV, seen = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL && seen < IRQS_MAX;) {
		char *end, list[256];
		unsigned long irq = strtoul(e->d_name, &end, 10);
		if (end == e->d_name || *end != '\0')
			continue;
		seen++;
		if (irq_count((unsigned)irq) == 0)
			continue; /* a configuration vector, or a queue that is never used */
		snprintf(path, sizeof(path), "/proc/irq/%lu/effective_affinity_list", irq);
		int this_cpu = read_line(path, list, sizeof(list)) ? -ENODEV : single_cpu(list);
		if (this_cpu < 0 || (cpu >= 0 && this_cpu != cpu)) {
			cpu = -ENODEV; /* spread over CPUs: none is the one */
			break;
		}
		cpu = this_cpu;
	}
	closedir(d);
	return cpu;
}
