// SPDX-License-Identifier: MIT
/*
 * ioas-demo: one IO address space, end to end, through /dev/iommu.
 *
 * This is an ordinary program that speaks only the kernel's iommufd ABI:
 * open(), ioctl() and close() on /dev/iommu, with the structs of
 * <linux/iommufd.h>.  It does not know about uiommufd.  Run it under the
 * launcher to get the emulated device:
 *
 *   build/uiommufd-run -- build/examples/ioas-demo
 *
 * or on a kernel with CONFIG_IOMMUFD (and CONFIG_IOMMUFD_TEST for the
 * access object, see below) as root.
 *
 * What it does:
 *   1. IOMMU_IOAS_ALLOC an IO address space (IOAS);
 *   2. IOMMU_IOAS_IOVA_RANGES: where IOVA may be mapped, and its alignment;
 *   3. IOMMU_IOAS_MAP a 64 KiB buffer at an IOVA the IOMMU picks;
 *   4. move data through an "access", the device side of the IOAS: write
 *      at an IOVA and find the bytes in the buffer; write the buffer and
 *      read them back at the IOVA.  Accesses are what emulated devices
 *      (the kernel's mdev drivers) use; the kernel offers them to
 *      userspace only through the selftest's IOMMU_TEST_CMD, the mock
 *      driver of CONFIG_IOMMUFD_TEST, so that is what this program uses;
 *   5. IOMMU_IOAS_COPY the mapping into a second IOAS (the same pages,
 *      shared), and read it there through a second access;
 *   6. pin the pages through the first access and check that each one is
 *      pinned once, although two address spaces map it (MD_CHECK_REFS);
 *   7. print the address space;
 *   8. IOMMU_IOAS_UNMAP everything (the length unmapped is written back;
 *      the pinning access is told to let go first) and close.
 *
 * The kernel ABI has no call that lists the mappings of an IOAS, so the
 * program prints its own record of them, checked against the IOMMU: each
 * area is read back through an access.  (`uiommufd dump` shows the same
 * from the inside, through the engine library.)
 *
 * Exit status 0 on success; 1 with a message that names the failing ioctl
 * and its errno otherwise.
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
#include "iommufd_test.h"

#define BUF_SIZE (64 * 1024)
#define MAX_RANGES 16

#define DEV_MSG "written by the device at an IOVA"
#define CPU_MSG "written by the CPU into the buffer"
#define DEV_MSG_OFFSET 0x100
#define CPU_MSG_OFFSET 0x2000

static const char *prog = "ioas-demo";
static bool emulated; /* running under uiommufd-run */

/* One mapping we made, for the printout. */
struct demo_area {
	uint32_t ioas_id;
	uint64_t iova;
	uint64_t length;
	void *va;
	char how[64];
};

static struct demo_area areas[4];
static unsigned int nr_areas;

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
	case ENOTTY: return "ENOTTY";
	case E2BIG: return "E2BIG";
	case EDEADLK: return "EDEADLK";
	case EMSGSIZE: return "EMSGSIZE";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EADDRINUSE: return "EADDRINUSE";
	case EOVERFLOW: return "EOVERFLOW";
	case EBADFD: return "EBADFD";
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
			"%s: this /dev/iommu has no IOMMU_TEST_CMD: the kernel "
			"was built without\n"
			"  CONFIG_IOMMUFD_TEST, so it offers no access "
			"objects to userspace.\n"
			"  Run the program under the launcher instead:\n"
			"  uiommufd-run -- %s\n",
			prog, prog);
	fail(err, "IOMMU_TEST_CMD(%s)", op);
}

/* ---- the ioctls ---------------------------------------------------------- */

static uint32_t ioas_alloc(int fd)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (ioctl(fd, IOMMU_IOAS_ALLOC, &cmd))
		fail(errno, "IOMMU_IOAS_ALLOC");
	return cmd.out_ioas_id;
}

/* Fill @ranges (up to MAX_RANGES); returns how many there are. */
static uint32_t ioas_iova_ranges(int fd, uint32_t ioas_id,
				 struct iommu_iova_range *ranges,
				 uint64_t *alignment)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.num_iovas = MAX_RANGES,
		.allowed_iovas = (uintptr_t)ranges,
	};

	if (ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd)) {
		if (errno == EMSGSIZE)
			wrong("IOMMU_IOAS_IOVA_RANGES: IOAS %u has %u ranges, "
			      "more than the %u this demo prints",
			      ioas_id, cmd.num_iovas, MAX_RANGES);
		fail(errno, "IOMMU_IOAS_IOVA_RANGES(ioas %u)", ioas_id);
	}
	*alignment = cmd.out_iova_alignment;
	return cmd.num_iovas;
}

/* Map @length bytes at @va; the IOMMU picks the IOVA. */
static uint64_t ioas_map(int fd, uint32_t ioas_id, void *va, uint64_t length)
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

static uint64_t ioas_copy(int fd, uint32_t dst_ioas, uint32_t src_ioas,
			  uint64_t src_iova, uint64_t length)
{
	struct iommu_ioas_copy cmd = {
		.size = sizeof(cmd),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.dst_ioas_id = dst_ioas,
		.src_ioas_id = src_ioas,
		.length = length,
		.src_iova = src_iova,
	};

	if (ioctl(fd, IOMMU_IOAS_COPY, &cmd))
		fail(errno, "IOMMU_IOAS_COPY(ioas %u -> ioas %u)", src_ioas,
		     dst_ioas);
	return cmd.dst_iova;
}

/* Unmap everything in the IOAS; returns the bytes unmapped. */
static uint64_t ioas_unmap_all(int fd, uint32_t ioas_id)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = ioas_id,
		.iova = 0,
		.length = UINT64_MAX,
	};

	if (ioctl(fd, IOMMU_IOAS_UNMAP, &cmd))
		fail(errno, "IOMMU_IOAS_UNMAP(ioas %u)", ioas_id);
	return cmd.length;
}

static void destroy(int fd, uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	if (ioctl(fd, IOMMU_DESTROY, &cmd))
		fail(errno, "IOMMU_DESTROY(%u)", id);
}

/* IOMMU_TEST_OP_CREATE_ACCESS: returns the access fd. */
static int access_create(int fd, uint32_t ioas_id, bool pins)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_CREATE_ACCESS,
		.id = ioas_id,
		.create_access.flags =
			pins ? MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES : 0,
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		test_cmd_fail(errno, "CREATE_ACCESS");
	return (int)cmd.create_access.out_access_fd;
}

/* IOMMU_TEST_OP_ACCESS_RW: copy between IOVA and @data. */
static void access_rw(int fd, int access_fd, uint64_t iova, void *data,
		      size_t length, bool write)
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
		test_cmd_fail(errno, "ACCESS_RW");
}

/*
 * IOMMU_TEST_OP_ACCESS_PAGES: pin [iova, iova + length) for the access,
 * checking that the pages pinned are the ones the program sees at @va.
 */
static uint32_t access_pin(int fd, int access_fd, uint64_t iova, void *va,
			   uint64_t length)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_ACCESS_PAGES,
		.id = (uint32_t)access_fd,
		.access_pages = {
			.flags = MOCK_FLAGS_ACCESS_WRITE,
			.iova = iova,
			.length = length,
			.uptr = (uintptr_t)va,
		},
	};

	if (ioctl(fd, IOMMU_TEST_CMD, &cmd))
		test_cmd_fail(errno, "ACCESS_PAGES");
	return cmd.access_pages.out_access_pages_id;
}

/* Does every page of [va, va + length) carry @refs pins?  EIO: no. */
static bool pages_have_refs(int fd, void *va, uint64_t length,
			    unsigned int refs)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MD_CHECK_REFS,
		.check_refs = {
			.length = length,
			.uptr = (uintptr_t)va,
			.refs = refs,
		},
	};

	if (!ioctl(fd, IOMMU_TEST_CMD, &cmd))
		return true;
	if (errno != EIO)
		test_cmd_fail(errno, "MD_CHECK_REFS");
	return false;
}

/* ---- printing ------------------------------------------------------------ */

static void record_area(uint32_t ioas_id, uint64_t iova, uint64_t length,
			void *va, const char *how, ...)
	__attribute__((format(printf, 5, 6)));

static void record_area(uint32_t ioas_id, uint64_t iova, uint64_t length,
			void *va, const char *how, ...)
{
	struct demo_area *a;
	va_list ap;

	if (nr_areas == sizeof(areas) / sizeof(areas[0]))
		return;
	a = &areas[nr_areas++];
	a->ioas_id = ioas_id;
	a->iova = iova;
	a->length = length;
	a->va = va;
	va_start(ap, how);
	vsnprintf(a->how, sizeof(a->how), how, ap);
	va_end(ap);
}

static void print_ranges(int fd, uint32_t ioas_id, const char *indent)
{
	struct iommu_iova_range ranges[MAX_RANGES];
	uint64_t alignment;
	uint32_t n, i;

	n = ioas_iova_ranges(fd, ioas_id, ranges, &alignment);
	printf("%susable IOVA: %u range%s, IOVA alignment %llu byte%s\n",
	       indent, n, n == 1 ? "" : "s", (unsigned long long)alignment,
	       alignment == 1 ? "" : "s");
	for (i = 0; i < n; i++)
		printf("%s  [0x%016llx, 0x%016llx]\n", indent,
		       (unsigned long long)ranges[i].start,
		       (unsigned long long)ranges[i].last);
}

/*
 * Print IOAS @ioas_id: its usable ranges, and each area we mapped there,
 * checked by reading its first bytes through @access_fd (an access on it).
 */
static void print_ioas(int fd, uint32_t ioas_id, int access_fd, const char *buf)
{
	unsigned int i;

	printf("  IOAS %u\n", ioas_id);
	print_ranges(fd, ioas_id, "    ");
	for (i = 0; i < nr_areas; i++) {
		const struct demo_area *a = &areas[i];
		char got[sizeof(DEV_MSG)];

		if (a->ioas_id != ioas_id)
			continue;
		printf("    area [0x%016llx, 0x%016llx]  %llu KiB  -> VA %p  "
		       "(%s)\n",
		       (unsigned long long)a->iova,
		       (unsigned long long)(a->iova + a->length - 1),
		       (unsigned long long)(a->length / 1024), a->va, a->how);
		access_rw(fd, access_fd, a->iova + DEV_MSG_OFFSET, got,
			  sizeof(got), false);
		printf("      IOVA 0x%llx reads \"%s\": %s\n",
		       (unsigned long long)(a->iova + DEV_MSG_OFFSET), got,
		       memcmp(got, buf + DEV_MSG_OFFSET, sizeof(got)) ?
			       "NOT the buffer's bytes" :
			       "the buffer's bytes");
	}
}

/* ---- main ---------------------------------------------------------------- */

int main(int argc, char **argv)
{
	char dev_msg[] = DEV_MSG, cpu_msg[] = CPU_MSG;
	char got[sizeof(CPU_MSG)];
	uint64_t iova1, iova2, unmapped;
	uint32_t ioas1, ioas2, pin_id;
	int fd, access1, access2;
	const char *active;
	char *buf;

	if (argc > 0 && argv[0] && strrchr(argv[0], '/'))
		prog = strrchr(argv[0], '/') + 1;
	else if (argc > 0 && argv[0] && *argv[0])
		prog = argv[0];
	active = getenv("UIOMMUFD_ACTIVE");
	emulated = active && !strcmp(active, "1");
	setvbuf(stdout, NULL, _IOLBF, 0);

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;

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

	/* 1, 2: an IO address space, and where it can map. */
	ioas1 = ioas_alloc(fd);
	printf("IOMMU_IOAS_ALLOC        -> IOAS %u\n", ioas1);
	printf("IOMMU_IOAS_IOVA_RANGES  IOAS %u:\n", ioas1);
	print_ranges(fd, ioas1, "  ");

	/* 3: a 64 KiB buffer, mapped where the IOMMU likes. */
	buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		fail(errno, "mmap(%d bytes)", BUF_SIZE);
	memset(buf, 0, BUF_SIZE);
	iova1 = ioas_map(fd, ioas1, buf, BUF_SIZE);
	record_area(ioas1, iova1, BUF_SIZE, buf, "IOMMU_IOAS_MAP");
	printf("IOMMU_IOAS_MAP          %d KiB buffer at VA %p -> IOVA 0x%llx "
	       "(chosen by the IOMMU)\n",
	       BUF_SIZE / 1024, (void *)buf, (unsigned long long)iova1);

	/* 4: the device side. */
	access1 = access_create(fd, ioas1, true);
	printf("CREATE_ACCESS           access fd %d on IOAS %u (it may pin "
	       "pages)\n",
	       access1, ioas1);

	access_rw(fd, access1, iova1 + DEV_MSG_OFFSET, dev_msg, sizeof(dev_msg),
		  true);
	printf("ACCESS_RW write         \"%s\" -> IOVA 0x%llx\n", dev_msg,
	       (unsigned long long)(iova1 + DEV_MSG_OFFSET));
	if (memcmp(buf + DEV_MSG_OFFSET, dev_msg, sizeof(dev_msg)))
		wrong("the bytes written at IOVA 0x%llx are not in the buffer "
		      "at VA %p",
		      (unsigned long long)(iova1 + DEV_MSG_OFFSET),
		      (void *)(buf + DEV_MSG_OFFSET));
	printf("  the buffer at VA %p now reads \"%s\": ok\n",
	       (void *)(buf + DEV_MSG_OFFSET), buf + DEV_MSG_OFFSET);

	memcpy(buf + CPU_MSG_OFFSET, cpu_msg, sizeof(cpu_msg));
	memset(got, 0, sizeof(got));
	access_rw(fd, access1, iova1 + CPU_MSG_OFFSET, got, sizeof(got), false);
	printf("ACCESS_RW read          IOVA 0x%llx -> \"%s\"\n",
	       (unsigned long long)(iova1 + CPU_MSG_OFFSET), got);
	if (memcmp(got, cpu_msg, sizeof(cpu_msg)))
		wrong("IOVA 0x%llx does not read what the CPU wrote at VA %p",
		      (unsigned long long)(iova1 + CPU_MSG_OFFSET),
		      (void *)(buf + CPU_MSG_OFFSET));
	printf("  the same bytes the CPU wrote at VA %p: ok\n",
	       (void *)(buf + CPU_MSG_OFFSET));

	/* 5: a second address space sharing the same pages. */
	ioas2 = ioas_alloc(fd);
	printf("IOMMU_IOAS_ALLOC        -> IOAS %u\n", ioas2);
	iova2 = ioas_copy(fd, ioas2, ioas1, iova1, BUF_SIZE);
	record_area(ioas2, iova2, BUF_SIZE, buf,
		    "IOMMU_IOAS_COPY, pages shared with IOAS %u", ioas1);
	printf("IOMMU_IOAS_COPY         IOAS %u IOVA 0x%llx -> IOAS %u IOVA "
	       "0x%llx (%d KiB)\n",
	       ioas1, (unsigned long long)iova1, ioas2,
	       (unsigned long long)iova2, BUF_SIZE / 1024);
	access2 = access_create(fd, ioas2, false);
	printf("CREATE_ACCESS           access fd %d on IOAS %u\n", access2,
	       ioas2);

	/* 6: pinned once, however many address spaces map it. */
	if (!pages_have_refs(fd, buf, BUF_SIZE, 0))
		wrong("MD_CHECK_REFS: the buffer is pinned before anyone "
		      "asked for it");
	printf("MD_CHECK_REFS           refs=0: mapping alone pins nothing "
	       "(no domain attached)\n");
	pin_id = access_pin(fd, access1, iova1, buf, BUF_SIZE);
	printf("ACCESS_PAGES            access fd %d pins IOVA 0x%llx..+%d KiB "
	       "(pin %u)\n",
	       access1, (unsigned long long)iova1, BUF_SIZE / 1024, pin_id);
	if (!pages_have_refs(fd, buf, BUF_SIZE, 1))
		wrong("MD_CHECK_REFS: the buffer's pages are not pinned "
		      "exactly once");
	printf("MD_CHECK_REFS           refs=1: each of the %d pages is "
	       "pinned once, though 2 IOAS map it\n",
	       BUF_SIZE / (int)sysconf(_SC_PAGESIZE));

	/* 7: the address space. */
	printf("\naddress space of fd %d:\n", fd);
	print_ioas(fd, ioas1, access1, buf);
	print_ioas(fd, ioas2, access2, buf);
	printf("  pins: access fd %d holds IOVA 0x%llx..+%d KiB of IOAS %u; "
	       "pin count 1 per page\n\n",
	       access1, (unsigned long long)iova1, BUF_SIZE / 1024, ioas1);

	/* 8: tear down. */
	unmapped = ioas_unmap_all(fd, ioas2);
	printf("IOMMU_IOAS_UNMAP        IOAS %u: %llu bytes unmapped\n", ioas2,
	       (unsigned long long)unmapped);
	if (unmapped != BUF_SIZE)
		wrong("IOMMU_IOAS_UNMAP(ioas %u) unmapped %llu bytes, not %d",
		      ioas2, (unsigned long long)unmapped, BUF_SIZE);
	unmapped = ioas_unmap_all(fd, ioas1);
	printf("IOMMU_IOAS_UNMAP        IOAS %u: %llu bytes unmapped (the "
	       "access was told to unpin first)\n",
	       ioas1, (unsigned long long)unmapped);
	if (unmapped != BUF_SIZE)
		wrong("IOMMU_IOAS_UNMAP(ioas %u) unmapped %llu bytes, not %d",
		      ioas1, (unsigned long long)unmapped, BUF_SIZE);
	if (!pages_have_refs(fd, buf, BUF_SIZE, 0))
		wrong("MD_CHECK_REFS: pages still pinned after the unmap");
	printf("MD_CHECK_REFS           refs=0: nothing pinned any more\n");

	if (close(access2) || close(access1))
		fail(errno, "close(access fd)");
	destroy(fd, ioas2);
	destroy(fd, ioas1);
	printf("IOMMU_DESTROY           IOAS %u, IOAS %u\n", ioas2, ioas1);
	if (close(fd))
		fail(errno, "close(/dev/iommu)");
	munmap(buf, BUF_SIZE);
	printf("closed; all done\n");
	return 0;
}
