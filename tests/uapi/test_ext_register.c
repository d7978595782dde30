/* SPDX-License-Identifier: MIT */
/*
 * Registered memory through /dev/iommu (UIOMMUFD_MEM_REGISTER,
 * _UNREGISTER, _REG_INFO of <linux/iommufd_ext.h>), written from
 * uiommufd-extensions(7): the query lists it; the size rules; two maps of
 * registered memory, in two IOAS of two iommufd contexts (two opens), each
 * with a mock domain, pin each page once (IOMMU_TEST_OP_MD_CHECK_REFS) and
 * are charged once (the registration's accounting); without registration
 * the same maps pin twice; UNREGISTER and IOMMU_DESTROY are EBUSY while a
 * map uses it; each call failed by fail-nth injection changes nothing.
 *
 * Built like every uapi test (linked to the shim, run under the launcher
 * in server and in-process modes).  With UIOMMUFD_NO_EXTENSIONS=1 the
 * commands must be ENOTTY, as on a real kernel.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/iommufd_ext.h>
#include "iommufd_test.h"

#include "../unit/harness.h"

#define offsetofend(T, m) (offsetof(T, m) + sizeof(((T *)0)->m))

#define PS 4096ULL
#define LEN (64 * PS)

static int fd, fd2;
static uint8_t *mem;

static uint32_t ioas_alloc(int f)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	if (ioctl(f, IOMMU_IOAS_ALLOC, &a))
		return 0;
	return a.out_ioas_id;
}

static uint32_t mock_domain(int f, uint32_t ioas, uint32_t *hwpt)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MOCK_DOMAIN,
				    .id = ioas };

	if (ioctl(f, IOMMU_TEST_CMD, &c))
		return 0;
	if (hwpt)
		*hwpt = c.mock_domain.out_hwpt_id;
	return c.mock_domain.out_idev_id;
}

static int map(int f, uint32_t ioas, uint64_t iova, void *p, uint64_t len)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)p,
		.length = len,
		.iova = iova,
	};

	return ioctl(f, IOMMU_IOAS_MAP, &m);
}

static int unmap_all(int f, uint32_t ioas)
{
	struct iommu_ioas_unmap u = { .size = sizeof(u), .ioas_id = ioas,
				      .length = UINT64_MAX };

	return ioctl(f, IOMMU_IOAS_UNMAP, &u);
}

static int64_t refs(void *p, uint64_t len)
{
	struct iommu_test_cmd c = { .size = sizeof(c),
				    .op = IOMMU_TEST_OP_MD_CHECK_REFS };
	unsigned int r;

	/* The op checks an expected count: find the one it accepts. */
	c.check_refs.uptr = (uintptr_t)p;
	c.check_refs.length = len;
	for (r = 0; r != 8; r++) {
		c.check_refs.refs = r;
		if (!ioctl(fd, IOMMU_TEST_CMD, &c))
			return r;
	}
	return -1;
}

static int do_register(int f, void *p, uint64_t len, uint32_t flags,
		       uint32_t *id)
{
	struct uiommufd_mem_register r = { .size = sizeof(r),
					   .flags = flags,
					   .user_va = (uintptr_t)p,
					   .length = len };
	int rc = ioctl(f, UIOMMUFD_MEM_REGISTER, &r);

	if (!rc)
		*id = r.out_reg_id;
	return rc;
}

static int do_unregister(int f, uint32_t id)
{
	struct uiommufd_mem_unregister u = { .size = sizeof(u), .reg_id = id };

	return ioctl(f, UIOMMUFD_MEM_UNREGISTER, &u);
}

static int do_destroy(int f, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };

	return ioctl(f, IOMMU_DESTROY, &d);
}

static int info(int f, uint32_t id, struct uiommufd_mem_reg_info *i)
{
	memset(i, 0, sizeof(*i));
	i->size = sizeof(*i);
	i->reg_id = id;
	return ioctl(f, UIOMMUFD_MEM_REG_INFO, i);
}

static void test_query_lists_it(void)
{
	struct uiommufd_ext_info e[32];
	struct uiommufd_ext_query q = { .size = sizeof(q),
					.num_exts = 32,
					.entry_size = sizeof(e[0]),
					.exts = (uintptr_t)e };
	unsigned int i, found = 0;

	REQUIRE(ioctl(fd, UIOMMUFD_EXT_QUERY, &q) == 0);
	for (i = 0; i != q.num_exts && i != 32; i++) {
		if (e[i].id != UIOMMUFD_EXT_ID_MEM_REGISTER)
			continue;
		found++;
		CHECK_EQ(e[i].version, 1);
		CHECK_EQ(e[i].nr_cmds, 3);
		CHECK_EQ(e[i].cmds[0], UIOMMUFD_MEM_REGISTER);
		CHECK_EQ(e[i].cmds[1], UIOMMUFD_MEM_UNREGISTER);
		CHECK_EQ(e[i].cmds[2], UIOMMUFD_MEM_REG_INFO);
		CHECK(!strcmp(e[i].name, "mem-register"));
	}
	CHECK_EQ(found, 1);
}

static void test_size_rules(void)
{
	uint8_t b[256];
	uint32_t size, id = 0;

	/* Below the first version: EINVAL; a non-zero tail: E2BIG. */
	memset(b, 0, sizeof(b));
	size = offsetofend(struct uiommufd_mem_register, __reserved) - 1;
	memcpy(b, &size, 4);
	CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_REGISTER, b), -1);
	CHECK_EQ(errno, EINVAL);
	size = sizeof(struct uiommufd_mem_register) + 8;
	memcpy(b, &size, 4);
	b[sizeof(struct uiommufd_mem_register) + 3] = 1;
	CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_REGISTER, b), -1);
	CHECK_EQ(errno, E2BIG);
	memset(b, 0, sizeof(b));
	size = 7;
	memcpy(b, &size, 4);
	CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_UNREGISTER, b), -1);
	CHECK_EQ(errno, EINVAL);
	size = 4;
	memcpy(b, &size, 4);
	CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_REG_INFO, b), -1);
	CHECK_EQ(errno, EINVAL);

	/* Flags and __reserved: EOPNOTSUPP; bad ranges. */
	CHECK_EQ(do_register(fd, mem, PS, 2, &id), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	{
		struct uiommufd_mem_register r = { .size = sizeof(r),
						   .user_va = (uintptr_t)mem,
						   .length = PS,
						   .__reserved = 1 };

		CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_REGISTER, &r), -1);
		CHECK_EQ(errno, EOPNOTSUPP);
	}
	CHECK_EQ(do_register(fd, mem, 0, 0, &id), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(do_register(fd, (void *)(uintptr_t)(UINT64_MAX - PS), 2 * PS,
			     0, &id),
		 -1);
	CHECK_EQ(errno, EOVERFLOW);
	CHECK_EQ(do_unregister(fd, 9999), -1);
	CHECK_EQ(errno, ENOENT);
	{
		struct uiommufd_mem_reg_info i;

		CHECK_EQ(info(fd, 9999, &i), -1);
		CHECK_EQ(errno, ENOENT);
		i.flags = 1;
		CHECK_EQ(ioctl(fd, UIOMMUFD_MEM_REG_INFO, &i), -1);
		CHECK_EQ(errno, EOPNOTSUPP);
	}
	CHECK_EQ(refs(mem, LEN), 0);
}

static void test_two_ioas_pin_once(void)
{
	uint32_t a = ioas_alloc(fd), b = ioas_alloc(fd2), reg = 0, hwpt_b = 0;
	struct uiommufd_mem_reg_info i;

	REQUIRE(a && b);
	REQUIRE(mock_domain(fd, a, NULL) && mock_domain(fd2, b, &hwpt_b));

	/* Not registered: each map pins on its own. */
	REQUIRE(map(fd, a, MOCK_APERTURE_START, mem, LEN) == 0);
	REQUIRE(map(fd2, b, MOCK_APERTURE_START, mem, LEN) == 0);
	CHECK_EQ(refs(mem, LEN), 2);
	REQUIRE(unmap_all(fd, a) == 0 && unmap_all(fd2, b) == 0);
	CHECK_EQ(refs(mem, LEN), 0);

	/* Registered: one pin now, and none more for two maps. */
	REQUIRE(do_register(fd, mem, LEN, UIOMMUFD_MEM_REGISTER_WRITEABLE,
			    &reg) == 0);
	CHECK_EQ(refs(mem, LEN), 1);
	REQUIRE(info(fd, reg, &i) == 0);
	CHECK_EQ(i.out_user_va, (uintptr_t)mem);
	CHECK_EQ(i.out_length, LEN);
	CHECK_EQ(i.out_pinned_bytes, LEN);
	CHECK_EQ(i.out_nr_maps, 0);
	CHECK(i.out_account <= UIOMMUFD_MEM_ACCOUNT_MM);
	CHECK_EQ(i.out_charged_bytes,
		 i.out_account == UIOMMUFD_MEM_ACCOUNT_NONE ? 0 : LEN);
	CHECK_EQ(i.out_uid, getuid());

	REQUIRE(map(fd, a, MOCK_APERTURE_START, mem, LEN) == 0);
	REQUIRE(map(fd2, b, MOCK_APERTURE_START + LEN, mem + 8 * PS,
		    16 * PS) == 0);
	CHECK_EQ(refs(mem, LEN), 1);
	REQUIRE(info(fd, reg, &i) == 0);
	CHECK_EQ(i.out_nr_maps, 2);
	CHECK_EQ(i.out_pinned_bytes, LEN);
	CHECK_EQ(i.out_charged_bytes,
		 i.out_account == UIOMMUFD_MEM_ACCOUNT_NONE ? 0 : LEN);
	{
		struct iommu_test_cmd c = {
			.size = sizeof(c),
			.op = IOMMU_TEST_OP_MD_CHECK_MAP,
			.id = hwpt_b,
			.check_map = { .iova = MOCK_APERTURE_START + LEN,
				       .length = 16 * PS,
				       .uptr = (uintptr_t)mem + 8 * PS },
		};

		CHECK_EQ(ioctl(fd2, IOMMU_TEST_CMD, &c), 0);
	}

	/* Refused while a map uses it; nothing changes. */
	CHECK_EQ(do_unregister(fd, reg), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(do_destroy(fd, reg), -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(do_unregister(fd2, reg), -1); /* another context's object */
	CHECK_EQ(errno, ENOENT);
	CHECK_EQ(refs(mem, LEN), 1);
	REQUIRE(unmap_all(fd2, b) == 0);
	CHECK_EQ(do_destroy(fd, reg), -1);
	CHECK_EQ(errno, EBUSY);
	REQUIRE(unmap_all(fd, a) == 0);
	CHECK_EQ(refs(mem, LEN), 1);
	REQUIRE(info(fd, reg, &i) == 0);
	CHECK_EQ(i.out_nr_maps, 0);
	CHECK_EQ(do_destroy(fd, reg), 0);
	CHECK_EQ(refs(mem, LEN), 0);

	/* UNREGISTER does the same as IOMMU_DESTROY. */
	REQUIRE(do_register(fd2, mem, PS, 0, &reg) == 0);
	CHECK_EQ(refs(mem, PS), 1);
	CHECK_EQ(do_unregister(fd2, reg), 0);
	CHECK_EQ(refs(mem, PS), 0);
	CHECK_EQ(do_unregister(fd2, reg), -1);
	CHECK_EQ(errno, ENOENT);
	do_destroy(fd, a);
	do_destroy(fd2, b);
}

/* ---- fault injection: a failed call changes nothing ---- */

static int nth_fd(void)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth",
		 (long)syscall(SYS_gettid));
	return open(path, O_RDWR);
}

static long nth_get(int nfd)
{
	char b[32];
	ssize_t n = pread(nfd, b, sizeof(b) - 1, 0);

	if (n <= 1)
		return -1;
	b[n] = 0;
	return strtol(b, NULL, 10);
}

static int nth_set(int nfd, unsigned long v)
{
	char b[32];
	int len = snprintf(b, sizeof(b), "%lu", v);

	return pwrite(nfd, b, (size_t)len, 0) == len ? 0 : -1;
}

static void test_fail_nth(void)
{
	uint32_t a = ioas_alloc(fd), b = ioas_alloc(fd2), reg = 0;
	struct uiommufd_mem_reg_info i;
	unsigned long n, fired = 0;
	int nfd = nth_fd(), rc;
	uint32_t hwpt_b;
	long left;

	REQUIRE(nfd >= 0 && a && b);
	REQUIRE(mock_domain(fd, a, NULL) && mock_domain(fd2, b, &hwpt_b));
	/* REGISTER: failed, nothing pinned and no object. */
	for (n = 1; n < 200; n++) {
		REQUIRE(nth_set(nfd, n) == 0);
		rc = do_register(fd, mem, LEN, UIOMMUFD_MEM_REGISTER_WRITEABLE,
				 &reg);
		left = nth_get(nfd);
		CHECK_EQ(nth_set(nfd, 0), 0);
		if (left == 0) {
			CHECK_EQ(rc, -1);
			CHECK_EQ(refs(mem, LEN), 0);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		break;
	}
	CHECK(fired > 0);
	REQUIRE(n < 200);
	CHECK_EQ(refs(mem, LEN), 1);
	REQUIRE(map(fd, a, MOCK_APERTURE_START, mem, LEN) == 0);

	/* A map of registered memory in another context: failed, it left
	 * no area, no pin, no user of the registration. */
	fired = 0;
	for (n = 1; n < 200; n++) {
		REQUIRE(nth_set(nfd, n) == 0);
		rc = map(fd2, b, MOCK_APERTURE_START, mem, 8 * PS);
		left = nth_get(nfd);
		CHECK_EQ(nth_set(nfd, 0), 0);
		REQUIRE(info(fd, reg, &i) == 0);
		CHECK_EQ(refs(mem, LEN), 1);
		if (left == 0) {
			CHECK_EQ(rc, -1);
			CHECK_EQ(i.out_nr_maps, 1);
			fired++;
			continue;
		}
		CHECK_EQ(rc, 0);
		CHECK_EQ(i.out_nr_maps, 2);
		break;
	}
	CHECK(fired > 0);
	REQUIRE(n < 200);
	CHECK_EQ(unmap_all(fd2, b), 0);
	CHECK_EQ(unmap_all(fd, a), 0);
	CHECK_EQ(do_unregister(fd, reg), 0);
	CHECK_EQ(refs(mem, LEN), 0);
	close(nfd);
	do_destroy(fd, a);
	do_destroy(fd2, b);
}

static void test_no_extensions(void)
{
	uint8_t b[256] = { 0 };
	static const unsigned long nrs[] = { UIOMMUFD_MEM_REGISTER,
					     UIOMMUFD_MEM_UNREGISTER,
					     UIOMMUFD_MEM_REG_INFO };
	uint32_t size = sizeof(b) - 8;
	unsigned int k;

	memcpy(b, &size, sizeof(size));
	for (k = 0; k != 3; k++) {
		CHECK_EQ(ioctl(fd, nrs[k], b), -1);
		CHECK_EQ(errno, ENOTTY);
	}
}

int main(void)
{
	const char *noext = getenv("UIOMMUFD_NO_EXTENSIONS");

	fd = open("/dev/iommu", O_RDWR);
	fd2 = open("/dev/iommu", O_RDWR);
	if (fd < 0 || fd2 < 0) {
		perror("/dev/iommu");
		return 77;
	}
	if (noext && !strcmp(noext, "1")) {
		RUN(test_no_extensions);
		HARNESS_EXIT();
	}
	mem = mmap(NULL, LEN, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return 1;
	RUN(test_query_lists_it);
	RUN(test_size_rules);
	RUN(test_two_ioas_pin_once);
	RUN(test_fail_nth);
	close(fd2);
	close(fd);
	munmap(mem, LEN);
	HARNESS_EXIT();
}
