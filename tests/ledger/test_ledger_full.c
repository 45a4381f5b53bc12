/*
 * test_ledger_full.c: running out of space stops intake cleanly, and loses nothing acked.
 *
 * Three ways to run out:
 *   1. a map capped by config (map_max_bytes): the ledger cannot grow it further;
 *   2. a file-size limit (RLIMIT_FSIZE): LMDB's writes fail with EFBIG, as a full disk's
 *      would with ENOSPC;
 *   3. a real, tiny tmpfs mounted in a private mount namespace: ENOSPC itself. This part
 *      needs CAP_SYS_ADMIN and says so when it cannot run.
 * Each time: deposits are applied until an ack says FAILED; then every later command is
 * FAILED at once; the database still verifies; and after a reopen with room, the balance
 * is exactly the sum of the deposits acked APPLIED. On the tmpfs, once more with a data
 * file to be preallocated (prealloc_bytes) beyond the space there is: the ledger opens all
 * the same, and runs out as before.
 *
 * Preallocation with room: the data file is filled at open to the headroom asked past
 * LMDB's last page, LMDB's writes stay within it, a reopen with the headroom still there
 * leaves it as it is, and everything verifies.
 */
#include "ledger_test_util.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* Deposits 0.00000001 BTC per command until one fails. Returns how many were applied and
 * stores the failure in *err. */
static int64_t fill(tl_ledger_t *l, tl_ledger_port_t *p, int *err)
{
	int64_t applied = 0;
	for (uint64_t i = 0;; i++) {
		char key[64];
		/* long keys fill the idempotency index quickly */
		snprintf(key, sizeof(key), "deposit-with-a-long-idempotency-key-%012llu",
		         (unsigned long long)i);
		tl_ledger_ack_t a =
		    lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, key, "acct", "BTC", "0.00000001"));
		if (a.status == TL_LEDGER_FAILED) {
			*err = a.error;
			break;
		}
		CHECK_EQ(a.status, TL_LEDGER_APPLIED);
		applied++;
	}
	CHECK_EQ(tl_ledger_failure(l), *err);
	/* intake stays stopped: the next command fails at once, with the same error */
	tl_ledger_ack_t a =
	    lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "after", "acct", "BTC", "1"));
	CHECK_EQ(a.status, TL_LEDGER_FAILED);
	CHECK_EQ(a.error, *err);
	return applied;
}

static void setup(tl_ledger_port_t *p)
{
	CHECK_EQ(lt_call(p, lt_asset("BTC", 8)).status, TL_LEDGER_APPLIED);
	CHECK_EQ(lt_call(p, lt_account("acct")).status, TL_LEDGER_APPLIED);
}

/* Reopens with room and checks the balance is what was acked. */
static void check_after(const char *dir, int64_t applied)
{
	lt_verify_ok(dir);
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, NULL, &p);
	CHECK_EQ(lt_balance(l, "acct", "BTC").available, applied);
	tl_ledger_close(l);
}

static off_t data_size(const char *dir)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	CHECK(stat(path, &sb) == 0);
	return sb.st_size;
}

static void test_capped_map(void)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "full-map");
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.map_initial_bytes = 256 << 10;
	cfg.map_max_bytes = 1 << 20;
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, &cfg, &p);
	setup(p);
	int err = 0;
	int64_t applied = fill(l, p, &err);
	CHECK_EQ(err, TL_E_MAP_CAP);
	CHECK(applied > 1000);
	tl_ledger_stats_t st;
	tl_ledger_stats(l, &st);
	CHECK(st.map_grows >= 2); /* 256 KiB -> 512 KiB -> 1 MiB, then the cap */
	tl_ledger_close(l);
	check_after(dir, applied);
	fprintf(stderr, "capped map: %lld deposits applied, then %s\n", (long long)applied,
	        tl_strerror(err));
	lt_rmtree(dir);
}

static void test_file_size_limit(void)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "full-fsize");
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, NULL, &p);
	setup(p);
	tl_ledger_close(l);

	int fds[2];
	CHECK(pipe(fds) == 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* the limit, in the child only: the data file may grow 512 KiB more */
		rlim_t limit = (rlim_t)data_size(dir) + (512 << 10);
		signal(SIGXFSZ, SIG_IGN); /* get EFBIG from write(2), not a signal */
		struct rlimit rl = {limit, limit};
		CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
		l = lt_open(dir, NULL, &p);
		int err = 0;
		int64_t applied = fill(l, p, &err);
		tl_ledger_close(l);
		CHECK(write(fds[1], &applied, sizeof(applied)) == sizeof(applied));
		CHECK(write(fds[1], &err, sizeof(err)) == sizeof(err));
		_exit(0);
	}
	close(fds[1]);
	int64_t applied = -1;
	int err = 0, status;
	CHECK(read(fds[0], &applied, sizeof(applied)) == sizeof(applied));
	CHECK(read(fds[0], &err, sizeof(err)) == sizeof(err));
	close(fds[0]);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* a write crossing the limit is short, and LMDB reports a short write as EIO */
	CHECK(err == -EFBIG || err == -EIO);
	CHECK(applied > 100);
	check_after(dir, applied);
	fprintf(stderr, "file-size limit: %lld deposits applied, then %s\n", (long long)applied,
	        tl_strerror(err));
	lt_rmtree(dir);
}

static void test_prealloc(void)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "prealloc");
	tl_ledger_config_t cfg;
	tl_ledger_config_default(&cfg);
	cfg.prealloc_bytes = 4 << 20;
	tl_ledger_port_t *p;
	tl_ledger_t *l = lt_open(dir, &cfg, &p);
	off_t size = data_size(dir);
	CHECK(size >= 4 << 20 && size <= (4 << 20) + (64 << 10)); /* + a few pages in use */
	setup(p);
	for (int i = 0; i < 2000; i++) {
		char key[32];
		snprintf(key, sizeof(key), "pre-%d", i);
		CHECK_EQ(
		    lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, key, "acct", "BTC", "0.00000001"))
		        .status,
		    TL_LEDGER_APPLIED);
	}
	tl_ledger_close(l);
	CHECK_EQ(data_size(dir), size); /* LMDB wrote inside the zeros */
	lt_verify_ok(dir);
	/* Reopened, with at least 1 MiB still ahead: the file is left as it is. */
	cfg.prealloc_bytes = 1 << 20;
	l = lt_open(dir, &cfg, &p);
	CHECK_EQ(data_size(dir), size);
	CHECK_EQ(lt_balance(l, "acct", "BTC").available, 2000);
	CHECK_EQ(lt_call(p, lt_cmd(TL_LEDGER_DEPOSIT_CREDIT, "pre-0", "acct", "BTC", "0.00000001"))
	             .status,
	         TL_LEDGER_DUPLICATE);
	tl_ledger_close(l);
	check_after(dir, 2000);
	/* Asking for more ahead than is left: it grows. */
	cfg.prealloc_bytes = 8 << 20;
	l = lt_open(dir, &cfg, &p);
	CHECK(data_size(dir) > size + (4 << 20));
	tl_ledger_close(l);
	lt_verify_ok(dir);
	fprintf(stderr, "prealloc: 4 MiB ahead at open, 2000 deposits written inside it\n");
	lt_rmtree(dir);
}

/* Returns 0 when the tmpfs part ran and passed, 77 when it could not run. */
static int test_tmpfs(void)
{
	char dir[256];
	lt_tmpdir(dir, sizeof(dir), "full-tmpfs");
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* a private mount namespace: the tmpfs vanishes with this child */
		if (unshare(CLONE_NEWNS) != 0 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
		    mount("tally-test", dir, "tmpfs", 0, "size=1m,mode=0700") != 0) {
			fprintf(stderr, "tmpfs: cannot mount (%s); that part is skipped\n",
			        strerror(errno));
			_exit(77);
		}
		char db[300];
		snprintf(db, sizeof(db), "%s/db", dir);
		tl_ledger_port_t *p;
		tl_ledger_t *l = lt_open(db, NULL, &p);
		setup(p);
		int err = 0;
		int64_t applied = fill(l, p, &err);
		tl_ledger_close(l);
		CHECK(err == -ENOSPC || err == -EIO); /* EIO: LMDB's word for a short write */
		check_after(db, applied);
		fprintf(stderr, "tmpfs of 1 MiB: %lld deposits applied, then %s\n",
		        (long long)applied, tl_strerror(err));

		/* Again, asking for a data file of 4 MiB: the zeros take what space there is,
		 * the ledger opens and works all the same, and runs out the same way. */
		lt_rmtree(db);
		tl_ledger_config_t cfg;
		tl_ledger_config_default(&cfg);
		cfg.prealloc_bytes = 4 << 20;
		l = lt_open(db, &cfg, &p);
		CHECK(data_size(db) < 4 << 20);
		setup(p);
		err = 0;
		applied = fill(l, p, &err);
		tl_ledger_close(l);
		CHECK(err == -ENOSPC || err == -EIO);
		check_after(db, applied);
		fprintf(stderr,
		        "tmpfs of 1 MiB, 4 MiB preallocation asked: %lld deposits applied, "
		        "then %s\n",
		        (long long)applied, tl_strerror(err));
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
	lt_rmtree(dir);
	CHECK(WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 77);
	return WEXITSTATUS(status);
}

int main(void)
{
	test_capped_map();
	test_file_size_limit();
	test_prealloc();
	int tmpfs = test_tmpfs();
	printf("test_ledger_full: ok%s\n", tmpfs ? " (tmpfs part skipped: no CAP_SYS_ADMIN)" : "");
	return 0;
}
