/* thread.c: CPU affinity and names for agents. */
#include "tl_ring.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>

int tl_cpus_allowed(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++)
		if (CPU_ISSET(cpu, &set))
			cpus[n++] = cpu;
	return n;
}

int tl_thread_pin_self(int cpu)
{
	cpu_set_t set;
	int rc;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return rc == 0 ? 0 : -rc;
}

int tl_thread_name_self(const char *name)
{
	char cut[16]; /* the kernel's TASK_COMM_LEN, NUL included */
	int rc;

	if (name == NULL)
		return -EINVAL;
	/* pthread_setname_np refuses a longer name (ERANGE); a cut one still says which. */
	strncpy(cut, name, sizeof(cut) - 1);
	cut[sizeof(cut) - 1] = '\0';
	rc = pthread_setname_np(pthread_self(), cut);
	return rc == 0 ? 0 : -rc;
}
