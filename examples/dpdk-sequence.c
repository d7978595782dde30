// SPDX-License-Identifier: MIT
/*
 * dpdk-sequence: the user-space driver sequence of David Gibson's IOAS
 * proposal ("Re: [PATCH RFC 11/12] iommufd: vfio container FD ioctl
 * compatibility", kvm, 2022-05-10), through /dev/iommu:
 *
 *   "1. Create IOAS  2. ATTACH devices  3. IOAS_MAP some stuff
 *    4. Do DMA with the IOVAs that IOAS_MAP returned"
 *
 * A DPDK-like driver never chooses IOVAs: it maps its memory pool where
 * the IOMMU likes and hands the IOVAs to the device.  The program speaks
 * only the kernel's iommufd ABI (<linux/iommufd.h>) and, where present,
 * the uiommufd extensions (<linux/iommufd_ext.h>, uiommufd-extensions(7));
 * the device is the selftest's mock device (IOMMU_TEST_CMD,
 * <iommufd_test.h>), its DMA an access object.  Run it under the launcher:
 *
 *   build/uiommufd-run -- build/examples/dpdk-sequence
 *
 * What it does:
 *   1. probe: UIOMMUFD_EXT_QUERY.  The sequence needs no extension (the
 *      seed: "not even any need for QUERY in simple cases"); without them
 *      (a kernel, or `uiommufd-run --no-extensions`) the steps that use
 *      one are done the plain way or left out, and it says so;
 *   2. IOMMU_IOAS_ALLOC, and attach a mock device (IOMMU_TEST_OP_MOCK_DOMAIN);
 *      where the mock IOMMU has a huge-page format (7.x), the device is
 *      moved to a HWPT of it (IOMMU_HWPT_ALLOC, MOCK_DOMAIN_REPLACE), so
 *      that the maps below get 1 MiB IO pages; IOMMU_IOAS_IOVA_RANGES shows
 *      what the device can reach;
 *   3. map the memory pool's segments with automatic IOVAs: IOMMU_IOAS_MAP
 *      without FIXED_IOVA, and UIOMMUFD_IOAS_MAP_HINT, the mmap()-like
 *      map whose IOVA is a hint (taken when free, elsewhere when not, and
 *      the answer says which);
 *   4. DMA: through an access (IOMMU_TEST_OP_CREATE_ACCESS and ACCESS_RW)
 *      the device writes each segment at its IOVA and the bytes are checked
 *      in the pool; the CPU writes, the device reads back and compares;
 *   5. UIOMMUFD_PAGE_SIZES: the IO page sizes the IOMMU used for the pool,
 *      for the IOAS and for the device's HWPT;
 *   6. IOMMU_IOAS_UNMAP each segment, destroy, close.
 *
 * IOVA intervals are printed [start, last], last inclusive, as iommufd.h
 * gives them.  The program is single-threaded: nothing is locked.
 *
 * Exit status 0 when every step worked; 1 with a message that names the
 * failing ioctl and its errno otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include "iommufd_test.h"

#define MiB (1ULL << 20)
#define MAX_RANGES 16
#define MAX_EXTS 16
#define MAX_RUNS 64

/* The memory pool: NR_SEGS segments of SEG_SIZE, 2 MiB aligned. */
#define NR_SEGS 3
#define SEG_SIZE (4 * MiB)
/* The IOVA the hinted maps ask for (inside the mock IOMMU's reach). */
#define HINT_IOVA (1024 * MiB)
/* Bytes moved by each DMA: crosses CPU and IO page boundaries. */
#define DMA_LEN (96 * 1024)
#define DMA_OFFSET 0x1f800

static const char *prog = "dpdk-sequence";
static bool emulated; /* running under uiommufd-run */
static int fd;

struct segment {
	char *va;
	uint64_t iova;
};

/* ---- errors -------------------------------------------------------------- */

static const char *errno_name(int err)
{
	// clang-format off
	switch (err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EIO: return "EIO";
	case EBADF: return "EBADF";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENODEV: return "ENODEV";
	case EINVAL: return "EINVAL";
	case ENOSPC: return "ENOSPC";
	case ERANGE: return "ERANGE";
	case ENOTTY: return "ENOTTY";
	case E2BIG: return "E2BIG";
	case EMSGSIZE: return "EMSGSIZE";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EADDRINUSE: return "EADDRINUSE";
	case EOVERFLOW: return "EOVERFLOW";
	default: return "errno";
	}
	// clang-format on
}

static void fail(int err, const char *what, ...)
	__attribute__((noreturn, format(printf, 2, 3)));
static void wrong(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));
static void test_cmd_fail(int err, const char *op) __attribute__((noreturn));

/* Report that @what failed with errno @err, and exit 1. */
static void fail(int err, const char *what, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, what);
	vfprintf(stderr, what, ap);
	va_end(ap);
	fprintf(stderr, " failed: %s (%s %d)\n", strerror(err), errno_name(err),
		err);
	exit(1);
}

/* Report a wrong result (no errno), and exit 1. */
static void wrong(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* An IOMMU_TEST_CMD op failed: say why that may be, then fail. */
static void test_cmd_fail(int err, const char *op)
{
	if (err == ENOTTY && !emulated)
		fprintf(stderr,
			"%s: this /dev/iommu has no IOMMU_TEST_CMD (a kernel "
			"without CONFIG_IOMMUFD_TEST),\n"
			"  so there is no mock device and no access object.  "
			"Run the program under\n"
			"  the launcher: uiommufd-run -- %s\n",
			prog, prog);
	fail(err, "IOMMU_TEST_CMD(%s)", op);
}

/* ---- the extensions ------------------------------------------------------ */

static bool have_map_hint, have_page_sizes;

/* UIOMMUFD_EXT_QUERY: which of the optional extensions are there. */
static void probe_extensions(void)
{
	struct uiommufd_ext_info info[MAX_EXTS];
	struct uiommufd_ext_query q = {
		.size = sizeof(q),
		.num_exts = MAX_EXTS,
		.entry_size = sizeof(info[0]),
		.exts = (uintptr_t)info,
	};
	uint32_t i;

	memset(info, 0, sizeof(info));
	if (ioctl(fd, UIOMMUFD_EXT_QUERY, &q)) {
		if (errno != ENOTTY)
			fail(errno, "UIOMMUFD_EXT_QUERY");
		printf("UIOMMUFD_EXT_QUERY      ENOTTY: no uiommufd extensions "
		       "(%s); plain iommufd only\n",
		       emulated ? "uiommufd-run --no-extensions" :
				  "a Linux kernel");
		return;
	}
	printf("UIOMMUFD_EXT_QUERY      %u extensions:", q.num_exts);
	for (i = 0; i < q.num_exts && i < MAX_EXTS; i++) {
		printf(" %.*s v%u", (int)sizeof(info[i].name), info[i].name,
		       info[i].version);
		have_map_hint |= info[i].id == UIOMMUFD_EXT_ID_MAP_HINT;
		have_page_sizes |= info[i].id == UIOMMUFD_EXT_ID_PAGE_SIZES;
	}
	printf("\n");
}

/* UIOMMUFD_IOAS_MAP_HINT: map at @hint if free; true if it was. */
static bool map_hint(uint32_t ioas_id, void *va, uint64_t length, uint64_t hint,
		     uint64_t *iova)
{
	struct uiommufd_ioas_map_hint cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = hint,
	};

	if (ioctl(fd, UIOMMUFD_IOAS_MAP_HINT, &cmd))
		fail(errno, "UIOMMUFD_IOAS_MAP_HINT(ioas %u, hint 0x%llx)",
		     ioas_id, (unsigned long long)hint);
	*iova = cmd.iova;
	if (cmd.out_flags & ~(uint32_t)UIOMMUFD_MAP_HINT_AT_HINT)
		wrong("UIOMMUFD_IOAS_MAP_HINT: unknown out_flags 0x%x",
		      cmd.out_flags);
	if ((cmd.out_flags & UIOMMUFD_MAP_HINT_AT_HINT) && cmd.iova != hint)
		wrong("UIOMMUFD_IOAS_MAP_HINT: AT_HINT, but mapped at 0x%llx, "
		      "not the hint 0x%llx",
		      (unsigned long long)cmd.iova, (unsigned long long)hint);
	return cmd.out_flags & UIOMMUFD_MAP_HINT_AT_HINT;
}

/* UIOMMUFD_PAGE_SIZES of @pt_id (IOAS or HWPT) over all IOVA. */
static uint32_t page_sizes(uint32_t pt_id, struct uiommufd_page_run *runs)
{
	struct uiommufd_page_sizes cmd = {
		.size = sizeof(cmd),
		.pt_id = pt_id,
		.num_runs = MAX_RUNS,
		.iova = 0,
		.length = UINT64_MAX,
		.runs = (uintptr_t)runs,
	};

	if (ioctl(fd, UIOMMUFD_PAGE_SIZES, &cmd))
		fail(errno, "UIOMMUFD_PAGE_SIZES(pt %u)", pt_id);
	return cmd.num_runs;
}

/*
 * Is all of [start, last] mapped by the segments?  (A run may span
 * segments that happen to be adjacent in IOVA.)
 */
static bool mapped(const struct segment *segs, uint64_t start, uint64_t last)
{
	uint64_t at = start;
	unsigned int s;

	for (;;) {
		for (s = 0; s < NR_SEGS; s++)
			if (at >= segs[s].iova && at - segs[s].iova < SEG_SIZE)
				break;
		if (s == NR_SEGS)
			return false;
		if (last - segs[s].iova < SEG_SIZE)
			return true;
		at = segs[s].iova + SEG_SIZE;
	}
}

/* Print @pt_id's runs; check they cover exactly the pool's segments. */
static void check_page_sizes(uint32_t pt_id, const char *what,
			     const struct segment *segs)
{
	struct uiommufd_page_run runs[MAX_RUNS];
	uint64_t covered = 0;
	uint32_t n = page_sizes(pt_id, runs), i;

	printf("UIOMMUFD_PAGE_SIZES     %s %u: %u run%s\n", what, pt_id, n,
	       n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		const struct uiommufd_page_run *r = &runs[i];
		uint64_t len = r->last - r->start + 1;

		printf("  [0x%016llx, 0x%016llx] %6llu KiB in IO pages of "
		       "%llu %s\n",
		       (unsigned long long)r->start,
		       (unsigned long long)r->last,
		       (unsigned long long)(len / 1024),
		       (unsigned long long)(r->page_size >= MiB ?
						    r->page_size / MiB :
					    r->page_size >= 1024 ?
						    r->page_size / 1024 :
						    r->page_size),
		       r->page_size >= MiB  ? "MiB" :
		       r->page_size >= 1024 ? "KiB" :
					      "bytes");
		if (!r->page_size || (r->page_size & (r->page_size - 1)))
			wrong("UIOMMUFD_PAGE_SIZES(pt %u): page size %llu is "
			      "not a power of two",
			      pt_id, (unsigned long long)r->page_size);
		if (!mapped(segs, r->start, r->last))
			wrong("UIOMMUFD_PAGE_SIZES(pt %u): run [0x%llx, "
			      "0x%llx] is not inside a mapped segment",
			      pt_id, (unsigned long long)r->start,
			      (unsigned long long)r->last);
		covered += len;
	}
	if (covered != NR_SEGS * SEG_SIZE)
		wrong("UIOMMUFD_PAGE_SIZES(pt %u): the runs cover %llu bytes, "
		      "not the %llu mapped",
		      pt_id, (unsigned long long)covered,
		      (unsigned long long)(NR_SEGS * SEG_SIZE));
}

/* ---- iommufd ------------------------------------------------------------- */

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd))
		fail(errno, "IOMMU_IOAS_ALLOC");
	return cmd.out_ioas_id;
}

static void print_ranges(uint32_t ioas_id)
{
	struct iommu_iova_range r[MAX_RANGES];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = MAX_RANGES,
		.allowed_iovas = (uintptr_t)r,
	};
	uint32_t i;

	if (ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd))
		fail(errno, "IOMMU_IOAS_IOVA_RANGES(ioas %u)", ioas_id);
	printf("IOMMU_IOAS_IOVA_RANGES  IOAS %u: %u range%s, alignment %llu\n",
	       ioas_id, cmd.num_iovas, cmd.num_iovas == 1 ? "" : "s",
	       (unsigned long long)cmd.out_iova_alignment);
	for (i = 0; i < cmd.num_iovas; i++)
		printf("  [0x%016llx, 0x%016llx]\n",
		       (unsigned long long)r[i].start,
		       (unsigned long long)r[i].last);
}

/* IOMMU_IOAS_MAP without FIXED_IOVA: the IOVA the IOMMU picked. */
static uint64_t ioas_map(uint32_t ioas_id, void *va, uint64_t length)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = length,
	};

	if (ioctl(fd, IOMMU_IOAS_MAP, &cmd))
		fail(errno, "IOMMU_IOAS_MAP(ioas %u, %llu bytes)", ioas_id,
		     (unsigned long long)length);
	return cmd.iova;
}

/* IOMMU_IOAS_UNMAP; checks that exactly @length bytes went. */
static void ioas_unmap(uint32_t ioas_id, uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};

	if (ioctl(fd, IOMMU_IOAS_UNMAP, &cmd))
		fail(errno, "IOMMU_IOAS_UNMAP(ioas %u, IOVA 0x%llx)", ioas_id,
		     (unsigned long long)iova);
	if (cmd.length != length)
		wrong("IOMMU_IOAS_UNMAP(ioas %u, IOVA 0x%llx) unmapped %llu "
		      "bytes, not %llu",
		      ioas_id, (unsigned long long)iova,
		      (unsigned long long)cmd.length,
		      (unsigned long long)length);
}

static void destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	if (ioctl(fd, IOMMU_DESTROY, &cmd))
		fail(errno, "IOMMU_DESTROY(%u)", id);
}

/* ---- the mock device and its DMA ----------------------------------------- */

/* IOMMU_TEST_OP_MOCK_DOMAIN: a new mock device, attached to @ioas_id. */
static void mock_device(uint32_t ioas_id, uint32_t *stdev_id, uint32_t *hwpt_id,
			uint32_t *idev_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		test_cmd_fail(errno, "MOCK_DOMAIN");
	*stdev_id = cmd.mock_domain.out_stdev_id;
	*hwpt_id = cmd.mock_domain.out_hwpt_id;
	*idev_id = cmd.mock_domain.out_idev_id;
}

/*
 * IOMMU_HWPT_ALLOC of a paging domain for @idev_id on @ioas_id in the mock
 * IOMMU's huge-page format (MOCK_IOMMUPT_HUGE: 2 KiB and 1 MiB leaves):
 * the HWPT ID, or 0 if this mock has no such format (6.12's has not).
 */
static uint32_t hwpt_alloc_huge(uint32_t idev_id, uint32_t ioas_id)
{
	struct iommu_hwpt_selftest data = {
		.pagetable_type = MOCK_IOMMUPT_HUGE,
	};
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd),
		.dev_id = idev_id,
		.pt_id = ioas_id,
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(data),
		.data_uptr = (uintptr_t)&data,
	};

	if (ioctl(fd, IOMMU_HWPT_ALLOC, &cmd)) {
		if (errno == EOPNOTSUPP)
			return 0;
		fail(errno,
		     "IOMMU_HWPT_ALLOC(device %u, ioas %u, "
		     "MOCK_IOMMUPT_HUGE)",
		     idev_id, ioas_id);
	}
	return cmd.out_hwpt_id;
}

/* IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: attach mock device @stdev_id to @pt_id. */
static void mock_replace(uint32_t stdev_id, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = stdev_id,
		.mock_domain_replace.pt_id = pt_id,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		fail(errno, "IOMMU_TEST_CMD(MOCK_DOMAIN_REPLACE, device -> %u)",
		     pt_id);
}

/* IOMMU_TEST_OP_CREATE_ACCESS: the device side of @ioas_id. */
static int access_create(uint32_t ioas_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas_id,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		test_cmd_fail(errno, "CREATE_ACCESS");
	return (int)cmd.create_access.out_access_fd;
}

/* IOMMU_TEST_OP_ACCESS_RW: the device reads or writes at @iova. */
static void access_rw(int access_fd, uint64_t iova, void *data, size_t length,
		      bool write)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_RW,
		.id = (uint32_t)access_fd,
		.access_rw = {
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)data,
			.flags = write ? MOCK_ACCESS_RW_WRITE : 0,
		},
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		fail(errno,
		     "IOMMU_TEST_CMD(ACCESS_RW %s, IOVA 0x%llx, %zu bytes)",
		     write ? "write" : "read", (unsigned long long)iova,
		     length);
}

static void fill(unsigned char *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* Both directions of DMA on one segment, checked byte for byte. */
static void dma_segment(int access_fd, const struct segment *s, unsigned int nr)
{
	static unsigned char pattern[DMA_LEN], got[DMA_LEN];
	unsigned char *at = (unsigned char *)s->va + DMA_OFFSET;
	uint64_t iova = s->iova + DMA_OFFSET;

	/* Device to memory. */
	fill(pattern, DMA_LEN, 2 * nr + 1);
	access_rw(access_fd, iova, pattern, DMA_LEN, true);
	if (memcmp(at, pattern, DMA_LEN))
		wrong("segment %u: the %d bytes the device wrote at IOVA 0x%llx "
		      "are not in the pool at VA %p",
		      nr, DMA_LEN, (unsigned long long)iova, (void *)at);
	/* Memory to device. */
	fill(at, DMA_LEN, 2 * nr + 2);
	memset(got, 0, DMA_LEN);
	access_rw(access_fd, iova, got, DMA_LEN, false);
	if (memcmp(got, at, DMA_LEN))
		wrong("segment %u: the device read at IOVA 0x%llx is not what "
		      "the CPU wrote at VA %p",
		      nr, (unsigned long long)iova, (void *)at);
	printf("  segment %u: %d KiB device->memory and memory->device at "
	       "IOVA 0x%llx: ok\n",
	       nr, DMA_LEN / 1024, (unsigned long long)iova);
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	struct segment segs[NR_SEGS];
	uint32_t ioas, stdev, hwpt, idev, huge_hwpt, s;
	const char *active;
	uintptr_t aligned;
	int access_fd, err;
	char *pool;
	bool at_hint;

	if (argc > 0 && argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argc > 0 && argv[0] && *argv[0])
		prog = argv[0];
	active = getenv("UIOMMUFD_ACTIVE");
	emulated = active && !strcmp(active, "1");
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		err = errno;
		if (!emulated)
			fprintf(stderr,
				"%s: no usable /dev/iommu here; run the "
				"program under the launcher:\n"
				"  uiommufd-run -- %s\n",
				prog, prog);
		fail(err, "open(\"/dev/iommu\")");
	}
	printf("opened /dev/iommu (fd %d, %s)\n", fd,
	       emulated ? "emulated by uiommufd" : "the kernel's");

	/* 1: probe. */
	probe_extensions();

	/* 2: an IOAS, and the device attached to it. */
	ioas = ioas_alloc();
	printf("IOMMU_IOAS_ALLOC        -> IOAS %u\n", ioas);
	mock_device(ioas, &stdev, &hwpt, &idev);
	printf("MOCK_DOMAIN             device %u attached to IOAS %u (hwpt "
	       "%u)\n",
	       idev, ioas, hwpt);
	/* The driver prefers huge IO pages where the IOMMU has them. */
	huge_hwpt = hwpt_alloc_huge(idev, ioas);
	if (huge_hwpt) {
		mock_replace(stdev, huge_hwpt);
		printf("IOMMU_HWPT_ALLOC        -> HWPT %u (mock format "
		       "MOCK_IOMMUPT_HUGE: 2 KiB and 1 MiB IO pages); device "
		       "%u moved to it\n",
		       huge_hwpt, idev);
		hwpt = huge_hwpt;
	} else {
		printf("IOMMU_HWPT_ALLOC        MOCK_IOMMUPT_HUGE: EOPNOTSUPP "
		       "(this mock has one format): HWPT %u stays\n",
		       hwpt);
	}
	print_ranges(ioas);

	/* 3: the memory pool, 2 MiB aligned as hugepages would be. */
	pool = mmap(NULL, (NR_SEGS + 1) * SEG_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pool == MAP_FAILED)
		fail(errno, "mmap(the memory pool)");
	aligned = ((uintptr_t)pool + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1);
	for (s = 0; s < NR_SEGS; s++) {
		segs[s].va = (char *)aligned + s * SEG_SIZE;
		memset(segs[s].va, 0, SEG_SIZE);
	}

	segs[0].iova = ioas_map(ioas, segs[0].va, SEG_SIZE);
	printf("IOMMU_IOAS_MAP          segment 0, VA %p -> IOVA 0x%llx "
	       "(chosen by the IOMMU)\n",
	       (void *)segs[0].va, (unsigned long long)segs[0].iova);
	for (s = 1; s < NR_SEGS; s++) {
		if (!have_map_hint) {
			segs[s].iova = ioas_map(ioas, segs[s].va, SEG_SIZE);
			printf("IOMMU_IOAS_MAP          segment %u, VA %p -> "
			       "IOVA 0x%llx (no UIOMMUFD_IOAS_MAP_HINT: "
			       "chosen by the IOMMU)\n",
			       s, (void *)segs[s].va,
			       (unsigned long long)segs[s].iova);
			continue;
		}
		at_hint = map_hint(ioas, segs[s].va, SEG_SIZE, HINT_IOVA,
				   &segs[s].iova);
		printf("UIOMMUFD_IOAS_MAP_HINT  segment %u, VA %p, hint 0x%llx "
		       "-> IOVA 0x%llx (%s)\n",
		       s, (void *)segs[s].va, (unsigned long long)HINT_IOVA,
		       (unsigned long long)segs[s].iova,
		       at_hint ? "at the hint" :
				 "the hint was taken: elsewhere");
		/* The first hinted map finds the hint free, the next not. */
		if (at_hint != (s == 1))
			wrong("UIOMMUFD_IOAS_MAP_HINT(segment %u): %s the hint "
			      "0x%llx, expected %s",
			      s, at_hint ? "mapped at" : "not mapped at",
			      (unsigned long long)HINT_IOVA,
			      s == 1 ? "the free hint to be used" :
				       "the hint, now taken, to be avoided");
	}
	for (s = 1; s < NR_SEGS; s++) {
		uint32_t t;

		for (t = 0; t < s; t++)
			if (segs[s].iova < segs[t].iova + SEG_SIZE &&
			    segs[t].iova < segs[s].iova + SEG_SIZE)
				wrong("segments %u and %u overlap in IOVA "
				      "(0x%llx, 0x%llx)",
				      t, s, (unsigned long long)segs[t].iova,
				      (unsigned long long)segs[s].iova);
	}

	/* 4: DMA with the IOVAs the maps returned. */
	access_fd = access_create(ioas);
	printf("CREATE_ACCESS           access fd %d: the device's DMA into "
	       "IOAS %u\n",
	       access_fd, ioas);
	for (s = 0; s < NR_SEGS; s++)
		dma_segment(access_fd, &segs[s], s);

	/* 5: the IO page sizes used. */
	if (have_page_sizes) {
		check_page_sizes(ioas, "IOAS", segs);
		check_page_sizes(hwpt, "HWPT", segs);
	} else {
		printf("UIOMMUFD_PAGE_SIZES     (not offered here: the IO "
		       "page sizes used are not visible)\n");
	}

	/* 6: tear down. */
	if (close(access_fd))
		fail(errno, "close(access fd)");
	for (s = 0; s < NR_SEGS; s++)
		ioas_unmap(ioas, segs[s].iova, SEG_SIZE);
	printf("IOMMU_IOAS_UNMAP        IOAS %u: %d segments, %llu MiB\n", ioas,
	       NR_SEGS, (unsigned long long)(NR_SEGS * SEG_SIZE / MiB));
	destroy(stdev);
	if (huge_hwpt)
		destroy(huge_hwpt);
	destroy(ioas);
	printf("IOMMU_DESTROY           device %u, IOAS %u\n", idev, ioas);
	if (close(fd))
		fail(errno, "close(/dev/iommu)");
	munmap(pool, (NR_SEGS + 1) * SEG_SIZE);
	printf("closed; all done\n");
	return 0;
}
