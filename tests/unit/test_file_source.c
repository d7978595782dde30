/* SPDX-License-Identifier: MIT */
/*
 * The file memory source through the public API (ufd_source_file(),
 * ufd_ioas_map_file(), ufd_source_file_revoke(), ufd_ctx_change_process()):
 * the bounds a file's size sets; DMA through a domain reaches the file's
 * pages, and keeps reaching them after the program unmapped its own
 * mapping and closed the fd; revoking faults DMA through the existing
 * IOPTEs and refuses new maps, restoring brings both back, and a domain
 * attached while revoked maps the area without letting DMA through;
 * pinned pages are charged to the caller of the map and move with
 * CHANGE_PROCESS, which refuses while a VA map exists.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine/engine.h"
#include "harness.h"

#define PS 4096ULL
#define LEN (8 * PS)
#define IOVA (1ULL << 30)

static struct ufd_engine *eng;

static struct ufd_device_info dev_info(void)
{
	return (struct ufd_device_info){
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 39) - 1,
		.pgsize_bitmap = PS | (2ULL << 20),
	};
}

/* A memfd of LEN bytes, filled with @c. */
static int new_memfd(char c)
{
	int fd = memfd_create("test-file-source", MFD_CLOEXEC);
	char page[PS];
	unsigned int i;

	if (fd < 0 || ftruncate(fd, LEN))
		return -1;
	memset(page, c, sizeof(page));
	for (i = 0; i < LEN / PS; i++)
		if (pwrite(fd, page, PS, (off_t)(i * PS)) != (ssize_t)PS)
			return -1;
	return fd;
}

static struct ufd_ctx *ctx_open(struct ufd_cred *cred)
{
	struct ufd_ctx *ctx = NULL;

	ufd_cred_self(cred);
	cred->cap_ipc_lock = false;
	cred->memlock_limit = UINT64_MAX;
	ufd_ctx_open(eng, cred, &ctx);
	return ctx;
}

static void test_bounds(void)
{
	struct ufd_source *src = NULL;
	int fd = new_memfd('a'), ro;
	char path[64];

	REQUIRE(fd >= 0);
	CHECK_EQ(ufd_source_file(fd, 0, 0, true, &src), -EINVAL);
	CHECK_EQ(ufd_source_file(fd, 0, LEN + 1, true, &src), -EINVAL);
	CHECK_EQ(ufd_source_file(fd, LEN, 1, true, &src), -EINVAL);
	CHECK_EQ(ufd_source_file(fd, ~0ULL, 2, true, &src), -EINVAL);
	CHECK_EQ(ufd_source_file(-1, 0, PS, true, &src), -EBADF);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ro = open(path, O_RDONLY | O_CLOEXEC);
	REQUIRE(ro >= 0);
	CHECK_EQ(ufd_source_file(ro, 0, PS, true, &src), -EACCES);
	CHECK_EQ(ufd_source_file(ro, PS, PS, false, &src), 0);
	if (src) {
		char c = 0;

		CHECK_EQ(src->ops->read(src, &c, PS + 5, 1), 0);
		CHECK_EQ(c, 'a');
		CHECK_EQ(src->ops->write(src, PS, &c, 1), -EFAULT);
		CHECK_EQ(src->ops->read(src, &c, 0, 1), -EFAULT); /* outside */
		ufd_source_put(src);
	}
	close(ro);
	CHECK_EQ(ftruncate(fd, PS), 0);
	CHECK_EQ(ufd_source_file(fd, 0, 2 * PS, true, &src), -EINVAL);
	close(fd);
}

static void test_dma_and_revoke(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_source *src = NULL;
	struct ufd_dma *dma = NULL;
	struct ufd_cred cred;
	struct ufd_ctx *ctx = ctx_open(&cred);
	uint32_t ioas, dev, dev2, pt;
	uint64_t iova = IOVA, iova2 = 2 * IOVA;
	char got[PS], *map;
	int fd = new_memfd('f');

	REQUIRE(ctx && fd >= 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev2) == 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_dma_open(ctx, dev, &dma) == 0);

	map = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	REQUIRE(map != MAP_FAILED);
	REQUIRE(ufd_source_file(fd, 0, LEN, true, &src) == 0);
	CHECK_EQ(ufd_ioas_map_file(ctx, ioas, &cred, src, PS, LEN - PS, &iova,
				   UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					   UFD_MAP_WRITE),
		 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), LEN - PS);
	/* The program lets go of its mapping and its fd. */
	munmap(map, LEN);
	close(fd);
	memset(got, 0, sizeof(got));
	CHECK_EQ(ufd_dma_read(dma, IOVA, got, PS), 0);
	CHECK_EQ(got[0], 'f');
	CHECK_EQ(ufd_dma_write(dma, IOVA, "written", 7), 0);

	/* Revoked: DMA through the existing IOPTEs faults. */
	CHECK_EQ(ufd_source_file_revoke(eng, src, true), 0);
	CHECK(ufd_source_file_revoked(src));
	CHECK_EQ(ufd_dma_read(dma, IOVA, got, PS), -EFAULT);
	CHECK_EQ(ufd_ioas_map_file(ctx, ioas, &cred, src, 0, PS, &iova2,
				   UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
		 -ENODEV);
	/* A domain attached now maps it, but lets no DMA through. */
	pt = ioas;
	CHECK_EQ(ufd_device_attach(ctx, dev2, &pt), 0);
	{
		struct ufd_dma *dma2 = NULL;

		CHECK_EQ(ufd_dma_open(ctx, dev2, &dma2), 0);
		if (dma2) {
			CHECK_EQ(ufd_dma_read(dma2, IOVA, got, PS), -EFAULT);
			ufd_dma_close(dma2);
		}
	}
	/* Restored: the same pages again. */
	CHECK_EQ(ufd_source_file_revoke(eng, src, false), 0);
	memset(got, 0, sizeof(got));
	CHECK_EQ(ufd_dma_read(dma, IOVA, got, PS), 0);
	CHECK(!memcmp(got, "written", 7));
	CHECK_EQ(ufd_ioas_map_file(ctx, ioas, &cred, src, 0, PS, &iova2,
				   UFD_MAP_FIXED_IOVA | UFD_MAP_READ),
		 0);
	CHECK_EQ(ufd_engine_check(eng), 0);

	ufd_dma_close(dma);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, NULL), 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), 0);
	ufd_source_put(src);
	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_device_detach(ctx, dev2), 0);
	ufd_ctx_close(ctx);
}

static void test_change_process(void)
{
	struct ufd_device_info info = dev_info();
	struct ufd_source *src = NULL, *local = ufd_source_local();
	struct ufd_cred cred, other;
	struct ufd_ctx *ctx = ctx_open(&cred);
	uint32_t ioas, dev, pt;
	uint64_t iova = IOVA, iova2 = 2 * IOVA;
	static char va[PS] __attribute__((aligned(4096)));
	int fd = new_memfd('c');

	REQUIRE(ctx && local && fd >= 0);
	REQUIRE(ufd_ioas_alloc(ctx, &ioas) == 0);
	REQUIRE(ufd_device_bind(ctx, &info, &dev) == 0);
	pt = ioas;
	REQUIRE(ufd_device_attach(ctx, dev, &pt) == 0);
	REQUIRE(ufd_source_file(fd, 0, LEN, true, &src) == 0);
	close(fd);
	REQUIRE(ufd_ioas_map_file(ctx, ioas, &cred, src, 0, LEN, &iova,
				  UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	other = cred;
	other.pid = cred.pid + 100000; /* another process, the same user */

	/* A VA map cannot move. */
	REQUIRE(ufd_ioas_map(ctx, ioas, local, (uintptr_t)va, PS, &iova2,
			     UFD_MAP_FIXED_IOVA | UFD_MAP_READ) == 0);
	CHECK_EQ(ufd_ctx_change_process(ctx, &other), -EINVAL);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, other.pid), 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, iova2, PS, NULL), 0);

	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), LEN);
	CHECK_EQ(ufd_ctx_change_process(ctx, &other), 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, other.pid), LEN);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, cred.uid), LEN);
	/* A new owner with too little RLIMIT_MEMLOCK: nothing moves. */
	other.pid++;
	other.uid = cred.uid + 1;
	other.memlock_limit = PS;
	CHECK_EQ(ufd_ctx_change_process(ctx, &other), -ENOMEM);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, other.pid - 1), LEN);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, other.uid), 0);
	CHECK_EQ(ufd_ctx_change_process(ctx, &cred), 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), LEN);
	CHECK_EQ(ufd_engine_check(eng), 0);

	CHECK_EQ(ufd_device_detach(ctx, dev), 0);
	CHECK_EQ(ufd_engine_vm_pinned_bytes(eng, cred.pid), 0);
	CHECK_EQ(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, NULL), 0);
	ufd_source_put(src);
	ufd_source_put(local);
	ufd_ctx_close(ctx);
}

int main(void)
{
	eng = ufd_engine_new();
	if (!eng)
		return 1;
	RUN(test_bounds);
	RUN(test_dma_and_revoke);
	RUN(test_change_process);
	ufd_engine_free(eng);
	HARNESS_EXIT();
}
