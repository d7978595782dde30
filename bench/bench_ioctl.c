/* SPDX-License-Identifier: MIT */
/*
 * (d) The (a) cycle and the (b) translation through the ioctl interface,
 * in-process: this program is linked with the preload shim's objects, so
 * its open("/dev/iommu") and ioctl() are the shim's (the emulated device,
 * the dispatch layer, the engine), exactly as a program run under
 * uiommufd-run sees them.
 *
 *   cycle      IOMMU_IOAS_MAP of 4 KiB at a fixed IOVA, IOMMU_TEST_CMD
 *              ACCESS_RW of 512 bytes there, IOMMU_IOAS_UNMAP; the IOAS
 *              has a mock domain attached (so a map pins and fills it) and
 *              the selftest's access object reads through it
 *   translate  ACCESS_RW of 8 bytes at random mapped IOVAs, with 1 to
 *              65536 mappings of 4 KiB scattered over the mock aperture
 *
 * Run alone, the transport is the in-process one (the engine in this
 * process); run under uiommufd-run in server mode (UIOMMUFD_MODE=server
 * and a socket in UIOMMUFD_SOCKET, which the launcher sets), the linked
 * shim forwards every call to the launcher's daemon: the figures are then
 * the server transport's.  The output says which.
 *
 * The limit is a plain syscall measured in the same run (getppid(), and
 * an ioctl() on /dev/null made with syscall(2), past the shim); the
 * cheapest emulated ioctl (IOMMU_OPTION get) is timed in rounds with the
 * latter (bench_ratio, bench/common.h), its target the median of the
 * per-round ratios.  Also the
 * same cycle made directly through the engine API (the difference is the
 * transport's share), the cheapest emulated ioctl (IOMMU_OPTION get), the
 * shim's pass-through of an ioctl on another fd, and system calls the
 * transport could make per ioctl, measured alone: fstat() of the fd (only
 * with UIOMMUFD_STRICT_FDS=1 now; the fd table is trusted) and
 * process_vm_readv() of the caller's memory (what an argument copy cost
 * before the in-process copies became plain copies with a fault fixup).
 *
 * IOVA intervals are [iova, iova + length).  Single-threaded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include "iommufd_test.h"

#include "common.h"

#define COPY 512
#define IOVA (1ULL << 30) /* inside the mock aperture [16 MiB, 2 GiB) */
#define AP_START (16 * MiB)
#define AP_PAGES ((2 * GiB - AP_START) / PAGE)
#define NSIZES 5
#define MAXMAP 65536U
#define SEQ (1U << 16)

static const unsigned int sizes[NSIZES] = { 1, 64, 1024, 16384, 65536 };

struct dev {
	int fd;
	uint32_t ioas_id;
	int access_fd;
	char *page;
	char buf[COPY];
	uint64_t *seq;
	double ph[3];
	uint64_t ph_n;
	double clock_ns;
};

static void xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	if (ioctl(fd, req, arg))
		die(what, -errno);
}

static void io_map(struct dev *d, uint64_t uaddr, uint64_t iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = d->ioas_id,
		.user_va = uaddr,
		.length = PAGE,
		.iova = iova,
	};

	xioctl(d->fd, IOMMU_IOAS_MAP, &m, "IOMMU_IOAS_MAP");
}

static void io_unmap(struct dev *d, uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = d->ioas_id,
		.iova = iova,
		.length = length,
	};

	xioctl(d->fd, IOMMU_IOAS_UNMAP, &u, "IOMMU_IOAS_UNMAP");
}

static void io_rw(struct dev *d, uint64_t iova, void *buf, size_t len)
{
	struct iommu_test_cmd c = {
		.size = sizeof(c),
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = (uint32_t)d->access_fd,
		.access_rw = { .iova = iova,
			       .length = len,
			       .uptr = (uintptr_t)buf },
	};

	xioctl(d->fd, IOMMU_TEST_CMD, &c, "IOMMU_TEST_OP_ACCESS_RW");
}

static void cycle_body(void *p, uint64_t iters)
{
	struct dev *d = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		io_map(d, (uintptr_t)d->page, IOVA);
		io_rw(d, IOVA, d->buf, COPY);
		io_unmap(d, IOVA, PAGE);
	}
}

static void phase_body(struct dev *d, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++) {
		uint64_t t0 = now_ns(), t1, t2, t3;

		io_map(d, (uintptr_t)d->page, IOVA);
		t1 = now_ns();
		io_rw(d, IOVA, d->buf, COPY);
		t2 = now_ns();
		io_unmap(d, IOVA, PAGE);
		t3 = now_ns();
		d->ph[0] += (double)(t1 - t0) - d->clock_ns;
		d->ph[1] += (double)(t2 - t1) - d->clock_ns;
		d->ph[2] += (double)(t3 - t2) - d->clock_ns;
	}
	d->ph_n += iters;
}

static void phases(struct dev *d, double out[3])
{
	double v[3][5];
	unsigned int r, k;

	phase_body(d, 500);
	for (r = 0; r != 5; r++) {
		memset(d->ph, 0, sizeof(d->ph));
		d->ph_n = 0;
		phase_body(d, 3000);
		for (k = 0; k != 3; k++)
			v[k][r] = d->ph[k] / (double)d->ph_n;
	}
	for (k = 0; k != 3; k++)
		out[k] = median(v[k], 5);
}

static void option_body(void *p, uint64_t iters)
{
	struct dev *d = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		struct iommu_option o = {
			.size = sizeof(o),
			.option_id = IOMMU_OPTION_RLIMIT_MODE,
			.op = IOMMU_OPTION_OP_GET,
		};

		xioctl(d->fd, IOMMU_OPTION, &o, "IOMMU_OPTION");
	}
}

static void translate_body(void *p, uint64_t iters)
{
	struct dev *d = p;
	uint64_t i, v;

	for (i = 0; i != iters; i++) {
		io_rw(d, d->seq[i & (SEQ - 1)], &v, sizeof(v));
		escape(&v);
	}
}

/* ---- the limits and the transport's pieces ---- */

static int null_fd;

static void raw_ioctl_body(void *arg, uint64_t iters)
{
	uint64_t i;
	int n;

	for (i = 0; i != iters; i++)
		escape((void *)(uintptr_t)syscall(SYS_ioctl, null_fd,
						  FIONREAD, &n));
}

static void shim_passthrough_body(void *arg, uint64_t iters)
{
	uint64_t i;
	int n;

	for (i = 0; i != iters; i++)
		escape((void *)(uintptr_t)ioctl(null_fd, FIONREAD, &n));
}

static void fstat_body(void *p, uint64_t iters)
{
	struct dev *d = p;
	struct stat st;
	uint64_t i;

	for (i = 0; i != iters; i++)
		if (fstat(d->fd, &st))
			die("fstat", -errno);
}

static void pvm_body(void *p, uint64_t iters)
{
	struct dev *d = p;
	pid_t self = getpid();
	uint64_t i, v;

	for (i = 0; i != iters; i++) {
		struct iovec l = { &v, sizeof(v) };
		struct iovec r = { d->page, sizeof(v) };

		if (process_vm_readv(self, &l, 1, &r, 1, 0) != sizeof(v))
			die("process_vm_readv", -errno);
	}
}

/* ---- the same cycle through the engine API ---- */

struct direct {
	struct bench_env env;
	uint32_t access_id;
	char *page;
	char buf[COPY];
};

static void direct_body(void *p, uint64_t iters)
{
	struct direct *x = p;
	uint64_t i;

	for (i = 0; i != iters; i++) {
		uint64_t iova = IOVA;

		CHECK(ufd_ioas_map(x->env.ctx, x->env.ioas_id, x->env.src,
				   (uintptr_t)x->page, PAGE, &iova,
				   UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					   UFD_MAP_WRITE));
		CHECK(ufd_access_rw(x->env.ctx, x->access_id, IOVA, x->buf,
				    COPY, 0));
		CHECK(ufd_ioas_unmap(x->env.ctx, x->env.ioas_id, IOVA, PAGE,
				     NULL));
	}
}

/* Which transport the linked shim uses (see client.c's srv_init). */
static const char *transport(void)
{
	const char *mode = getenv("UIOMMUFD_MODE");
	const char *sock = getenv("UIOMMUFD_SOCKET");

	if (mode && !strcmp(mode, "server") && sock && *sock)
		return "server";
	return "in-process";
}

static uint64_t scatter(unsigned int i)
{
	uint64_t x = i;

	/* A bijection of [0, 2^19) walked until it lands in the aperture. */
	do {
		x = (x * 0x9E3779B97F4A7C15ULL) & ((1ULL << 19) - 1);
		x ^= x >> 10;
		x = (x * 0xC2B2AE3D27D4EB4FULL) & ((1ULL << 19) - 1);
		x ^= x >> 7;
	} while (x >= AP_PAGES);
	return AP_START + x * PAGE;
}

int main(void)
{
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_test_cmd mock = { .size = sizeof(mock),
				       .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_test_cmd acc = { .size = sizeof(acc),
				      .op = IOMMU_TEST_OP_CREATE_ACCESS };
	double sys, raw, pass, fst, pvm, opt, opt_ratio, cyc, direct, ph[3], rtt[2];
	double tr[NSIZES];
	struct ufd_cred cred;
	struct direct *x;
	struct dev d = { 0 };
	uint64_t st = 42;
	char *backing;
	unsigned int s, i;
	char title[96];


	snprintf(title, sizeof(title),
		 "(d) cycle and translation through ioctl(), %s transport",
		 transport());
	header(title);
	bench_cred(&cred); /* raises RLIMIT_MEMLOCK if it may */
	null_fd = open("/dev/null", O_RDWR);
	d.fd = open("/dev/iommu", O_RDWR);
	if (d.fd < 0 || null_fd < 0)
		die("open /dev/iommu (shim)", -errno);
	xioctl(d.fd, IOMMU_IOAS_ALLOC, &ia, "IOMMU_IOAS_ALLOC");
	d.ioas_id = ia.out_ioas_id;
	mock.id = d.ioas_id;
	xioctl(d.fd, IOMMU_TEST_CMD, &mock, "IOMMU_TEST_OP_MOCK_DOMAIN");
	acc.id = d.ioas_id;
	xioctl(d.fd, IOMMU_TEST_CMD, &acc, "IOMMU_TEST_OP_CREATE_ACCESS");
	d.access_fd = (int)acc.create_access.out_access_fd;
	d.page = aligned_alloc(PAGE, PAGE);
	d.seq = malloc(SEQ * sizeof(*d.seq));
	if (!d.page || !d.seq)
		die("malloc", -ENOMEM);
	memset(d.page, 3, PAGE);

	d.clock_ns = limit_clock_ns();
	sys = limit_syscall_ns();
	/* The cheapest emulated ioctl and the plain one in rounds (the
	 * target is the median of the per-round ratios: bench/common.h). */
	opt_ratio = bench_ratio(option_body, &d, raw_ioctl_body, NULL, 20, 9,
				&opt, &raw);
	pass = bench_ns(shim_passthrough_body, NULL, 20, 7);
	fst = bench_ns(fstat_body, &d, 20, 7);
	pvm = bench_ns(pvm_body, &d, 20, 7);
	rtt[0] = limit_line_round_trip_ns();
	cyc = bench_ns(cycle_body, &d, 50, 5);
	rtt[1] = limit_line_round_trip_ns();
	phases(&d, ph);

	/* The same cycle, engine API, its own engine and an access. */
	x = calloc(1, sizeof(*x));
	if (!x)
		die("calloc", -ENOMEM);
	x->page = d.page;
	env_open(&x->env, PAGE, false);
	CHECK(ufd_access_create(x->env.ctx, x->env.ioas_id, NULL, NULL,
				&x->access_id));
	direct = bench_ns(direct_body, x, 50, 5);
	ufd_access_destroy(x->env.ctx, x->access_id);
	env_close(&x->env);
	free(x);

	/* Translation through ACCESS_RW at 1 .. 65536 mappings. */
	backing = map_at_skew(MAXMAP * PAGE, PAGE, 0, 0);
	if (!backing)
		die("mmap", -ENOMEM);
	populate(backing, MAXMAP * PAGE);
	for (s = 0; s != NSIZES; s++) {
		unsigned int n = sizes[s];
		uint64_t *iovas = malloc(n * sizeof(*iovas));

		if (!iovas)
			die("malloc", -ENOMEM);
		for (i = 0; i != n; i++) {
			iovas[i] = scatter(i);
			io_map(&d, (uintptr_t)backing + (uint64_t)i * PAGE,
			       iovas[i]);
		}
		for (i = 0; i != SEQ; i++) {
			uint64_t r = rnd(&st);

			d.seq[i] = iovas[r % n] + ((r >> 32) & 4088);
		}
		tr[s] = bench_ns(translate_body, &d, 20, 5);
		io_unmap(&d, 0, UINT64_MAX);
		free(iovas);
	}
	unmap_at_skew(backing, MAXMAP * PAGE);
	close(d.access_fd);
	close(d.fd);
	close(null_fd);

	printf("limits (this run): getppid() %.0f ns, ioctl(/dev/null) by "
	       "syscall(2) %.0f ns\n",
	       sys, raw);
	printf("a cache line's round trip between two threads (common.h): "
	       "%.0f ns before the cycle, %.0f ns after\n",
	       rtt[0], rtt[1]);
	printf("\nper call, ns (x a plain ioctl syscall):\n");
	printf("  ioctl(/dev/null) through the shim (pass-through) %7.0f  "
	       "%5.2fx\n",
	       pass, pass / raw);
	printf("  IOMMU_OPTION get (cheapest emulated ioctl)       %7.0f  "
	       "%5.2fx\n",
	       opt, opt / raw);
	printf("  IOMMU_IOAS_MAP 4 KiB (in the cycle)               %7.0f  "
	       "%5.2fx\n",
	       ph[0], ph[0] / raw);
	printf("  IOMMU_TEST_CMD ACCESS_RW 512 B (in the cycle)     %7.0f  "
	       "%5.2fx\n",
	       ph[1], ph[1] / raw);
	printf("  IOMMU_IOAS_UNMAP 4 KiB (in the cycle)             %7.0f  "
	       "%5.2fx\n",
	       ph[2], ph[2] / raw);
	printf("\ncycle MAP + ACCESS_RW + UNMAP: %.0f ns = %.1f plain "
	       "syscalls; engine API directly %.0f ns\n"
	       "  transport share %.0f ns per cycle, %.0f ns per ioctl\n",
	       cyc, cyc / raw, direct, cyc - direct, (cyc - direct) / 3);
	printf("\nsystem calls the in-process transport could make, each "
	       "alone:\n");
	printf("  fstat(fd), per call with UIOMMUFD_STRICT_FDS=1    %5.0f ns\n",
	       fst);
	printf("  process_vm_readv 8 B (argument copies, source rw) %5.0f ns\n",
	       pvm);
	printf("  (an ioctl copies its size and struct in, its reply out; "
	       "ACCESS_RW also\n   reads the IOVA's memory through the "
	       "source: about 5 such calls per ACCESS_RW)\n");
	printf("\ntranslate: ACCESS_RW of 8 B at random mapped IOVAs "
	       "(mock domain, 4 KiB mappings):\n");
	for (s = 0; s != NSIZES; s++)
		printf("  %6u mappings  %7.0f ns  %5.2fx plain ioctl\n",
		       sizes[s], tr[s], tr[s] / raw);
	printf("  65536 vs 1: %.2fx\n", tr[NSIZES - 1] / tr[0]);

	summary("(d) ioctl %s: cycle MAP+ACCESS_RW+UNMAP %.0f ns = %.1fx plain "
		"ioctl (%.0f ns); engine direct %.0f ns; per ioctl map %.0f / "
		"rw %.0f / unmap %.0f; cheapest ioctl %.0f ns = %.1fx; line "
		"round trip %.0f/%.0f ns",
		transport(), cyc, cyc / raw, raw, direct, ph[0], ph[1], ph[2], opt,
		opt_ratio, rtt[0], rtt[1]);
	summary("(d) ioctl %s translate 8B: %.0f/%.0f/%.0f/%.0f/%.0f ns at "
		"1/64/1K/16K/64K maps; 64K vs 1 = %.2fx",
		transport(), tr[0], tr[1], tr[2], tr[3], tr[4], tr[NSIZES - 1] / tr[0]);
	/* (The server cycle against the in-process one: make bench's block.) */
	target(strcmp(transport(), "server") ? "inprocess-cheapest-ioctl" :
					       "server-cheapest-ioctl",
	       opt_ratio, false, strcmp(transport(), "server") ? 2 : 10);
	return 0;
}
