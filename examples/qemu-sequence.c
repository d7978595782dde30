// SPDX-License-Identifier: MIT
/*
 * qemu-sequence: the VMM sequence of David Gibson's IOAS proposal
 * ("Re: [PATCH RFC 11/12] iommufd: vfio container FD ioctl
 * compatibility", kvm, 2022-05-10), through /dev/iommu.
 *
 * The program speaks only the kernel's iommufd ABI (<linux/iommufd.h>) and
 * the uiommufd extensions of it (<linux/iommufd_ext.h>, see
 * uiommufd-extensions(7)); the device is the selftest's mock device
 * (IOMMU_TEST_CMD, <iommufd_test.h>), whose IOMMU can reach IOVA
 * [MOCK_APERTURE_START, MOCK_APERTURE_LAST] = [16 MiB, 2 GiB - 1].  Run it
 * under the launcher:
 *
 *   build/uiommufd-run -- build/examples/qemu-sequence
 *
 * The seed's sequence for an (unoptimised) QEMU, and what this does for
 * each step:
 *   1. probe: UIOMMUFD_EXT_QUERY lists the extensions.  A kernel (or
 *      `uiommufd-run --no-extensions`) answers ENOTTY: the program says
 *      so and exits 77, the sequence cannot be done without them;
 *   2. "Create IOAS": IOMMU_IOAS_ALLOC, the guest's address space;
 *   3. "IOAS_MAP(IOMAP_FIXED|IOMAP_RESERVE) the valid IOVA regions of the
 *      guest platform": UIOMMUFD_IOAS_RESERVE the guest's two DMA windows,
 *      listed with UIOMMUFD_IOAS_RESERVATIONS;
 *   4. "ATTACH devices (this will fail if they're not compatible with the
 *      reserved IOVA regions)": a mock device (IOMMU_TEST_OP_MOCK_DOMAIN);
 *      an automatic IOMMU_IOAS_MAP of QEMU's own then lands outside the
 *      windows;
 *   5. "on guest map": IOMMU_IOAS_MAP with FIXED_IOVA over part of each
 *      window; DMA by the device (an access object, IOMMU_TEST_OP_ACCESS_RW)
 *      reaches guest RAM there;
 *   6. "on guest invalidate": IOMMU_IOAS_UNMAP of one guest map; the
 *      window is whole again in UIOMMUFD_IOAS_RESERVATIONS and the device
 *      reaches nothing at that IOVA;
 *   7. "on dev hotplug": the new device is pre-attached to a staging IOAS
 *      (the seed's "pre-attach the new device to a new IOAS and check the
 *      apertures there"), then UIOMMUFD_QUERY_ATTACH asks, without
 *      attaching, what an attach would do:
 *        - into a second guest address space whose platform needs a DMA
 *          window at IOVA 0 (UIOMMUFD_IOAS_SET_MIN_APERTURE), which the
 *          mock IOMMU cannot reach: refused, with the errno and the
 *          conflicting range, so QEMU refuses the hotplug (the attach is
 *          then tried anyway, to show it fails exactly as foretold and
 *          changes nothing);
 *        - into the first guest: accepted, with the ranges the IOAS will
 *          have; the device is moved there (IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE)
 *          and IOMMU_IOAS_IOVA_RANGES matches the answer;
 *   8. tear down: unmap, UIOMMUFD_IOAS_UNRESERVE, destroy, close.
 *
 * IOVA intervals are printed [start, last], last inclusive, as iommufd.h
 * gives them.  The program is single-threaded: nothing is locked.
 *
 * Exit status 0 when every step worked; 77 when /dev/iommu has no
 * uiommufd extensions; 1 with a message that names the failing ioctl and
 * its errno otherwise.
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

/* Guest RAM: 8 MiB of it, shared with the "device". */
#define RAM_SIZE (8 * MiB)

/* The guest platform's DMA windows (inside the mock IOMMU's reach). */
static const struct {
	const char *name;
	uint64_t start, length;
} windows[] = {
	{ "32-bit DMA window", 16 * MiB, 256 * MiB },
	{ "64-bit DMA window", 1024 * MiB, 512 * MiB },
};
#define NR_WINDOWS (sizeof(windows) / sizeof(windows[0]))

/* The second guest's platform: a DMA window at IOVA 0. */
#define LOW_WINDOW_LENGTH (32 * MiB)

#define DEV_MSG "DMA from the device into guest RAM"

static const char *prog = "qemu-sequence";
static bool emulated; /* running under uiommufd-run */
static int fd;

/* ---- errors -------------------------------------------------------------- */

static const char *errno_name(int err)
{
	// clang-format off
	switch (err) {
	case 0: return "0";
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

static const char *refusal_name(uint32_t reason)
{
	// clang-format off
	switch (reason) {
	case UIOMMUFD_ATTACH_OK: return "OK";
	case UIOMMUFD_ATTACH_CUTS_MAPPING: return "CUTS_MAPPING";
	case UIOMMUFD_ATTACH_CUTS_ALLOWED: return "CUTS_ALLOWED";
	case UIOMMUFD_ATTACH_CUTS_RESERVATION: return "CUTS_RESERVATION";
	case UIOMMUFD_ATTACH_ALIGNMENT: return "ALIGNMENT";
	case UIOMMUFD_ATTACH_PAGE_SIZE: return "PAGE_SIZE";
	case UIOMMUFD_ATTACH_MIN_APERTURE: return "MIN_APERTURE";
	case UIOMMUFD_ATTACH_MIN_PAGE_SIZES: return "MIN_PAGE_SIZES";
	case UIOMMUFD_ATTACH_DOMAIN: return "DOMAIN";
	default: return "unknown reason";
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
			"  so there is no mock device to attach.  Run the "
			"program under the launcher:\n"
			"  uiommufd-run -- %s\n",
			prog, prog);
	fail(err, "IOMMU_TEST_CMD(%s)", op);
}

/* ---- the extensions ------------------------------------------------------ */

/*
 * UIOMMUFD_EXT_QUERY: print the extensions; exit 77 unless the ones this
 * sequence needs are there.
 */
static void probe_extensions(void)
{
	struct uiommufd_ext_info info[MAX_EXTS];
	struct uiommufd_ext_query q = {
		.size = sizeof(q),
		.num_exts = MAX_EXTS,
		.entry_size = sizeof(info[0]),
		.exts = (uintptr_t)info,
	};
	bool reserve = false, query = false, min_ap = false;
	uint32_t i;

	memset(info, 0, sizeof(info));
	if (ioctl(fd, UIOMMUFD_EXT_QUERY, &q)) {
		int err = errno;

		if (err == ENOTTY) {
			fprintf(stderr,
				"%s: UIOMMUFD_EXT_QUERY: ENOTTY: this "
				"/dev/iommu has no uiommufd extensions\n"
				"  (%s).  The sequence needs IOVA "
				"reservations and the pre-attach query,\n"
				"  which Linux's iommufd does not have: "
				"skipped.\n",
				prog,
				emulated ? "uiommufd-run --no-extensions" :
					   "a Linux kernel");
			exit(77);
		}
		fail(err, "UIOMMUFD_EXT_QUERY");
	}
	printf("UIOMMUFD_EXT_QUERY          %u extensions:", q.num_exts);
	for (i = 0; i < q.num_exts && i < MAX_EXTS; i++) {
		printf(" %.*s v%u", (int)sizeof(info[i].name), info[i].name,
		       info[i].version);
		reserve |= info[i].id == UIOMMUFD_EXT_ID_RESERVE;
		query |= info[i].id == UIOMMUFD_EXT_ID_QUERY_ATTACH;
		min_ap |= info[i].id == UIOMMUFD_EXT_ID_MIN_APERTURE;
	}
	printf("\n");
	if (!reserve || !query || !min_ap) {
		fprintf(stderr,
			"%s: this /dev/iommu lacks the %s extension that the "
			"sequence needs: skipped\n",
			prog,
			!reserve ? "reserve" :
			!query	 ? "query-attach" :
				   "min-aperture");
		exit(77);
	}
}

/* UIOMMUFD_IOAS_RESERVE or _UNRESERVE. */
static void reserve(unsigned long nr, const char *name, uint32_t ioas_id,
		    uint64_t iova, uint64_t length)
{
	struct uiommufd_ioas_reserve cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = iova,
		.length = length,
	};

	if (ioctl(fd, nr, &cmd))
		fail(errno, "%s(ioas %u, IOVA 0x%llx, %llu MiB)", name, ioas_id,
		     (unsigned long long)iova,
		     (unsigned long long)(length / MiB));
}

/* UIOMMUFD_IOAS_RESERVATIONS into @r (room for MAX_RANGES); the count. */
static uint32_t reservations(uint32_t ioas_id, struct iommu_iova_range *r)
{
	struct uiommufd_ioas_reservations cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = MAX_RANGES,
		.iovas = (uintptr_t)r,
	};

	if (ioctl(fd, UIOMMUFD_IOAS_RESERVATIONS, &cmd))
		fail(errno, "UIOMMUFD_IOAS_RESERVATIONS(ioas %u)", ioas_id);
	return cmd.num_iovas;
}

/* Print the reservations, and check they are exactly the guest windows. */
static void check_reservations(uint32_t ioas_id, const char *when)
{
	struct iommu_iova_range r[MAX_RANGES];
	uint32_t n = reservations(ioas_id, r), i;

	printf("UIOMMUFD_IOAS_RESERVATIONS  IOAS %u %s: %u\n", ioas_id, when,
	       n);
	for (i = 0; i < n && i < MAX_RANGES; i++)
		printf("  reserved [0x%016llx, 0x%016llx]\n",
		       (unsigned long long)r[i].start,
		       (unsigned long long)r[i].last);
	if (n != NR_WINDOWS)
		wrong("UIOMMUFD_IOAS_RESERVATIONS(ioas %u): %u reservations, "
		      "not the %zu guest windows",
		      ioas_id, n, NR_WINDOWS);
	for (i = 0; i < NR_WINDOWS; i++)
		if (r[i].start != windows[i].start ||
		    r[i].last != windows[i].start + windows[i].length - 1)
			wrong("UIOMMUFD_IOAS_RESERVATIONS(ioas %u): "
			      "reservation %u is [0x%llx, 0x%llx], not the "
			      "%s",
			      ioas_id, i, (unsigned long long)r[i].start,
			      (unsigned long long)r[i].last, windows[i].name);
}

/* ---- iommufd ------------------------------------------------------------- */

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd))
		fail(errno, "IOMMU_IOAS_ALLOC");
	return cmd.out_ioas_id;
}

/* IOMMU_IOAS_IOVA_RANGES into @r (room for MAX_RANGES); the count. */
static uint32_t iova_ranges(uint32_t ioas_id, struct iommu_iova_range *r,
			    uint64_t *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = MAX_RANGES,
		.allowed_iovas = (uintptr_t)r,
	};

	if (ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd))
		fail(errno, "IOMMU_IOAS_IOVA_RANGES(ioas %u)", ioas_id);
	*alignment = cmd.out_iova_alignment;
	return cmd.num_iovas;
}

static void print_ranges(const struct iommu_iova_range *r, uint32_t n,
			 uint64_t alignment)
{
	uint32_t i;

	printf("  usable IOVA: %u range%s, alignment %llu\n", n,
	       n == 1 ? "" : "s", (unsigned long long)alignment);
	for (i = 0; i < n && i < MAX_RANGES; i++)
		printf("    [0x%016llx, 0x%016llx]\n",
		       (unsigned long long)r[i].start,
		       (unsigned long long)r[i].last);
}

/* IOMMU_IOAS_MAP; with @fixed at *@iova, else where the IOMMU likes. */
static void ioas_map(uint32_t ioas_id, void *va, uint64_t length,
		     uint64_t *iova, bool fixed)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE |
			 (fixed ? IOMMU_IOAS_MAP_FIXED_IOVA : 0),
		.ioas_id = ioas_id,
		.user_va = (uintptr_t)va,
		.length = length,
		.iova = fixed ? *iova : 0,
	};

	if (ioctl(fd, IOMMU_IOAS_MAP, &cmd)) {
		if (fixed)
			fail(errno,
			     "IOMMU_IOAS_MAP(ioas %u, FIXED_IOVA 0x%llx, %llu "
			     "bytes)",
			     ioas_id, (unsigned long long)*iova,
			     (unsigned long long)length);
		fail(errno, "IOMMU_IOAS_MAP(ioas %u, %llu bytes)", ioas_id,
		     (unsigned long long)length);
	}
	*iova = cmd.iova;
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

/* ---- the mock device ----------------------------------------------------- */

struct mock_dev {
	uint32_t stdev_id; /* the selftest's handle of the device */
	uint32_t hwpt_id;  /* the domain it was attached with */
	uint32_t idev_id;  /* its bound-device ID (for UIOMMUFD_QUERY_ATTACH) */
};

/* IOMMU_TEST_OP_MOCK_DOMAIN: a new mock device, attached to @ioas_id. */
static struct mock_dev mock_device(uint32_t ioas_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	struct mock_dev d;

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd)) {
		if (errno == ENOTTY)
			test_cmd_fail(errno, "MOCK_DOMAIN");
		fail(errno, "IOMMU_TEST_CMD(MOCK_DOMAIN, ioas %u)", ioas_id);
	}
	d.stdev_id = cmd.mock_domain.out_stdev_id;
	d.hwpt_id = cmd.mock_domain.out_hwpt_id;
	d.idev_id = cmd.mock_domain.out_idev_id;
	return d;
}

/* IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: 0, or the errno. */
static int mock_replace(const struct mock_dev *d, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
		.id = d->stdev_id,
		.mock_domain_replace.pt_id = pt_id,
	};

	return ioctl(fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
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

/* IOMMU_TEST_OP_ACCESS_RW: 0, or the errno. */
static int access_rw(int access_fd, uint64_t iova, void *data, size_t length,
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

	return ioctl(fd, IOMMU_TEST_CMD, &cmd) ? errno : 0;
}

/* The device writes DEV_MSG at @iova; it must land at @ram. */
static void dma_check(int access_fd, uint64_t iova, const char *ram)
{
	char msg[] = DEV_MSG;
	int err = access_rw(access_fd, iova, msg, sizeof(msg), true);

	if (err)
		fail(err, "IOMMU_TEST_CMD(ACCESS_RW write, IOVA 0x%llx)",
		     (unsigned long long)iova);
	if (memcmp(ram, msg, sizeof(msg)))
		wrong("DMA to IOVA 0x%llx did not reach guest RAM at VA %p",
		      (unsigned long long)iova, (const void *)ram);
	printf("  DMA to IOVA 0x%llx lands in guest RAM at VA %p: ok\n",
	       (unsigned long long)iova, (const void *)ram);
}

/* ---- the steps ----------------------------------------------------------- */

/*
 * UIOMMUFD_QUERY_ATTACH of @d into @ioas_id: print the verdict; the ranges
 * go to @r (room for MAX_RANGES).
 */
static struct uiommufd_query_attach query_attach(const struct mock_dev *d,
						 uint32_t ioas_id,
						 struct iommu_iova_range *r)
{
	struct uiommufd_query_attach q = {
		.size = sizeof(q),
		.dev_id = d->idev_id,
		.ioas_id = ioas_id,
		.num_iovas = MAX_RANGES,
		.allowed_iovas = (uintptr_t)r,
	};

	if (ioctl(fd, UIOMMUFD_QUERY_ATTACH, &q))
		fail(errno, "UIOMMUFD_QUERY_ATTACH(device %u, ioas %u)",
		     d->idev_id, ioas_id);
	printf("UIOMMUFD_QUERY_ATTACH       device %u into IOAS %u: ",
	       d->idev_id, ioas_id);
	if (!q.out_errno) {
		printf("would be accepted; IO page sizes 0x%llx\n",
		       (unsigned long long)q.out_pgsize_bitmap);
		print_ranges(r, q.num_iovas, q.out_iova_alignment);
	} else {
		printf("would be refused: %s (%s), reason %s, conflict "
		       "[0x%llx, 0x%llx]\n",
		       errno_name((int)q.out_errno), strerror((int)q.out_errno),
		       refusal_name(q.out_reason),
		       (unsigned long long)q.out_conflict_start,
		       (unsigned long long)q.out_conflict_last);
	}
	return q;
}

int main(int argc, char **argv)
{
	struct iommu_iova_range r[MAX_RANGES], want[MAX_RANGES];
	struct uiommufd_ioas_set_min_aperture ap;
	struct uiommufd_query_attach q;
	uint64_t guest_iova[NR_WINDOWS], own_iova, alignment;
	uint32_t guest, guest2, staging, n, i;
	struct mock_dev dev1, dev2;
	const char *active;
	char got[sizeof(DEV_MSG)];
	int access_fd, err;
	char *ram, *own;

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

	/* 2, 3: the guest's address space and its platform's windows. */
	guest = ioas_alloc();
	printf("IOMMU_IOAS_ALLOC            -> IOAS %u (the guest's)\n", guest);
	for (i = 0; i < NR_WINDOWS; i++) {
		reserve(UIOMMUFD_IOAS_RESERVE, "UIOMMUFD_IOAS_RESERVE", guest,
			windows[i].start, windows[i].length);
		printf("UIOMMUFD_IOAS_RESERVE       IOAS %u [0x%llx, 0x%llx] "
		       "(%s, %llu MiB)\n",
		       guest, (unsigned long long)windows[i].start,
		       (unsigned long long)(windows[i].start +
					    windows[i].length - 1),
		       windows[i].name,
		       (unsigned long long)(windows[i].length / MiB));
	}
	check_reservations(guest, "before attach");

	/* 4: attach; then QEMU's own automatic map stays out of the windows. */
	dev1 = mock_device(guest);
	printf("MOCK_DOMAIN                 device %u attached to IOAS %u "
	       "(hwpt %u): the windows are within its reach\n",
	       dev1.idev_id, guest, dev1.hwpt_id);
	n = iova_ranges(guest, r, &alignment);
	printf("IOMMU_IOAS_IOVA_RANGES      IOAS %u:\n", guest);
	print_ranges(r, n, alignment);

	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	own = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ram == MAP_FAILED || own == MAP_FAILED)
		fail(errno, "mmap(guest RAM)");
	memset(ram, 0, RAM_SIZE);
	memset(own, 0, 2 * MiB);
	ioas_map(guest, own, 2 * MiB, &own_iova, false);
	printf("IOMMU_IOAS_MAP              QEMU's own 2 MiB buffer -> IOVA "
	       "0x%llx (automatic)\n",
	       (unsigned long long)own_iova);
	for (i = 0; i < NR_WINDOWS; i++)
		if (own_iova < windows[i].start + windows[i].length &&
		    own_iova + 2 * MiB > windows[i].start)
			wrong("IOMMU_IOAS_MAP: an automatic map landed at "
			      "IOVA 0x%llx, in the reserved %s",
			      (unsigned long long)own_iova, windows[i].name);
	printf("  outside both reserved windows: ok\n");

	/* 5: the guest maps its RAM through its vIOMMU: FIXED overmaps. */
	access_fd = access_create(guest);
	printf("CREATE_ACCESS               access fd %d: the device's DMA "
	       "into IOAS %u\n",
	       access_fd, guest);
	for (i = 0; i < NR_WINDOWS; i++) {
		char *va = ram + i * (RAM_SIZE / NR_WINDOWS);

		guest_iova[i] = windows[i].start + 2 * MiB;
		ioas_map(guest, va, RAM_SIZE / NR_WINDOWS, &guest_iova[i],
			 true);
		printf("IOMMU_IOAS_MAP FIXED_IOVA   guest RAM VA %p -> IOVA "
		       "0x%llx (%llu MiB, over the reserved %s)\n",
		       (void *)va, (unsigned long long)guest_iova[i],
		       (unsigned long long)(RAM_SIZE / NR_WINDOWS / MiB),
		       windows[i].name);
		dma_check(access_fd, guest_iova[i] + 0x100, va + 0x100);
	}
	check_reservations(guest, "with the guest's maps over them");

	/* 6: the guest invalidates a map: the window is whole again. */
	ioas_unmap(guest, guest_iova[0], RAM_SIZE / NR_WINDOWS);
	printf("IOMMU_IOAS_UNMAP            IOAS %u IOVA 0x%llx: %llu MiB "
	       "unmapped (guest invalidate)\n",
	       guest, (unsigned long long)guest_iova[0],
	       (unsigned long long)(RAM_SIZE / NR_WINDOWS / MiB));
	check_reservations(guest, "after the unmap");
	err = access_rw(access_fd, guest_iova[0] + 0x100, got, sizeof(got),
			false);
	if (err != ENOENT)
		wrong("IOMMU_TEST_CMD(ACCESS_RW read, IOVA 0x%llx): %s (%d), "
		      "not ENOENT: the unmapped IOVA still reaches something",
		      (unsigned long long)(guest_iova[0] + 0x100),
		      errno_name(err), err);
	printf("  DMA to IOVA 0x%llx: ENOENT, reserved and mapped to "
	       "nothing: ok\n",
	       (unsigned long long)(guest_iova[0] + 0x100));

	/* 7: hotplug.  The new device is pre-attached to a staging IOAS. */
	staging = ioas_alloc();
	dev2 = mock_device(staging);
	printf("\nhotplug: MOCK_DOMAIN        new device %u pre-attached to "
	       "staging IOAS %u\n",
	       dev2.idev_id, staging);

	/* 7a: a guest whose platform needs DMA at IOVA 0. */
	guest2 = ioas_alloc();
	memset(&ap, 0, sizeof(ap));
	ap.size = sizeof(ap);
	ap.flags = UIOMMUFD_MIN_APERTURE_FIXED_BASE;
	ap.ioas_id = guest2;
	ap.base = 0;
	ap.length = LOW_WINDOW_LENGTH;
	if (ioctl(fd, UIOMMUFD_IOAS_SET_MIN_APERTURE, &ap))
		fail(errno, "UIOMMUFD_IOAS_SET_MIN_APERTURE(ioas %u)", guest2);
	printf("UIOMMUFD_IOAS_SET_MIN_APERTURE IOAS %u (a second guest): "
	       "needs [0x0, 0x%llx]\n",
	       guest2, (unsigned long long)(LOW_WINDOW_LENGTH - 1));
	q = query_attach(&dev2, guest2, r);
	if (!q.out_errno)
		wrong("UIOMMUFD_QUERY_ATTACH(device %u, ioas %u) accepts an "
		      "attach that cannot give IOVA [0, 0x%llx]",
		      dev2.idev_id, guest2,
		      (unsigned long long)(LOW_WINDOW_LENGTH - 1));
	printf("  QEMU refuses the hotplug into IOAS %u\n", guest2);
	err = mock_replace(&dev2, guest2);
	if (err != (int)q.out_errno)
		wrong("IOMMU_TEST_CMD(MOCK_DOMAIN_REPLACE, device %u -> ioas "
		      "%u): %s (%d), but the query foretold %s (%u)",
		      dev2.idev_id, guest2, errno_name(err), err,
		      errno_name((int)q.out_errno), q.out_errno);
	printf("  (tried anyway: MOCK_DOMAIN_REPLACE fails %s, as foretold)\n",
	       errno_name(err));

	/* 7b: into the first guest: accepted, and exactly as answered. */
	q = query_attach(&dev2, guest, want);
	if (q.out_errno)
		fail((int)q.out_errno,
		     "UIOMMUFD_QUERY_ATTACH(device %u, ioas %u)'s verdict",
		     dev2.idev_id, guest);
	err = mock_replace(&dev2, guest);
	if (err)
		fail(err,
		     "IOMMU_TEST_CMD(MOCK_DOMAIN_REPLACE, device %u -> "
		     "ioas %u)",
		     dev2.idev_id, guest);
	printf("MOCK_DOMAIN_REPLACE         device %u attached to IOAS %u\n",
	       dev2.idev_id, guest);
	n = iova_ranges(guest, r, &alignment);
	printf("IOMMU_IOAS_IOVA_RANGES      IOAS %u:\n", guest);
	print_ranges(r, n, alignment);
	if (n != q.num_iovas || alignment != q.out_iova_alignment ||
	    memcmp(r, want, n * sizeof(r[0])))
		wrong("IOMMU_IOAS_IOVA_RANGES(ioas %u) after the attach is not "
		      "what UIOMMUFD_QUERY_ATTACH said",
		      guest);
	printf("  as the query said: ok\n");
	dma_check(access_fd, guest_iova[1] + 0x200, ram + RAM_SIZE / 2 + 0x200);

	/* 8: tear down. */
	printf("\n");
	if (close(access_fd))
		fail(errno, "close(access fd)");
	ioas_unmap(guest, guest_iova[1], RAM_SIZE / NR_WINDOWS);
	ioas_unmap(guest, own_iova, 2 * MiB);
	printf("IOMMU_IOAS_UNMAP            IOAS %u: the guest's map and "
	       "QEMU's own\n",
	       guest);
	reserve(UIOMMUFD_IOAS_UNRESERVE, "UIOMMUFD_IOAS_UNRESERVE", guest, 0,
		UINT64_MAX);
	if (reservations(guest, r) != 0)
		wrong("UIOMMUFD_IOAS_RESERVATIONS(ioas %u): reservations left "
		      "after UIOMMUFD_IOAS_UNRESERVE of all",
		      guest);
	printf("UIOMMUFD_IOAS_UNRESERVE     IOAS %u: all; none left\n", guest);
	destroy(dev2.stdev_id);
	destroy(dev1.stdev_id);
	destroy(guest2);
	destroy(staging);
	destroy(guest);
	printf("IOMMU_DESTROY               devices %u, %u; IOAS %u, %u, %u\n",
	       dev2.idev_id, dev1.idev_id, guest2, staging, guest);
	if (close(fd))
		fail(errno, "close(/dev/iommu)");
	munmap(own, 2 * MiB);
	munmap(ram, RAM_SIZE);
	printf("closed; all done\n");
	return 0;
}
