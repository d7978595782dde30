// SPDX-License-Identifier: MIT
/*
 * consumer: a program that uses the INSTALLED libuiommufd, the way a
 * package's user would (tests/consumer/run.sh builds it against a staged
 * `make install` with pkg-config and links the shared library).
 *
 * It checks the version API, makes an engine, a context and an IOAS, maps
 * a buffer, binds a device, attaches it, and reads the buffer back by DMA
 * at the IOVA.  It also includes <linux/vfio.h> -- the system's (from
 * linux-libc-dev), which uiommufd.pc's Cflags must not shadow -- and our
 * <linux/iommufd.h> through its namespaced path.  Exit 0 on success.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uiommufd.h>
#include <linux/vfio.h> /* the system's */
#include <uiommufd/uapi/linux/iommufd.h> /* ours, by its namespaced path */

#define CHECK(expr)                                                          \
	do {                                                                 \
		int rc_ = (expr);                                            \
		if (rc_ < 0) {                                               \
			fprintf(stderr, "consumer: %s: %s\n", #expr,         \
				strerror(-rc_));                             \
			return 1;                                            \
		}                                                            \
	} while (0)

int main(void)
{
	static char buf[2 * 4096] __attribute__((aligned(4096)));
	char out[sizeof(buf)];
	struct ufd_device_info info = {
		.aperture_start = 0,
		.aperture_last = (1ULL << 48) - 1,
		.pgsize_bitmap = 4096,
	};
	struct ufd_engine *eng;
	struct ufd_ctx *ctx;
	struct ufd_source *src;
	struct ufd_cred cred;
	struct ufd_dma *dma;
	uint32_t ioas, dev, pt;
	uint64_t iova = 0, unmapped = 0;

	if (ufd_version_major() != UFD_VERSION_MAJOR ||
	    ufd_version_minor() != UFD_VERSION_MINOR ||
	    !ufd_check_version(UFD_VERSION_MAJOR, UFD_VERSION_MINOR) ||
	    ufd_check_version(UFD_VERSION_MAJOR + 1, 0) ||
	    !UFD_CHECK_VERSION(UFD_VERSION_MAJOR, 0)) {
		fprintf(stderr, "consumer: version API disagrees: lib %d.%d, header %d.%d\n",
			ufd_version_major(), ufd_version_minor(),
			UFD_VERSION_MAJOR, UFD_VERSION_MINOR);
		return 1;
	}
	/* Both ABI headers are there, and neither hid the other. */
	(void)sizeof(struct iommu_ioas_alloc);
	(void)sizeof(struct vfio_iommu_type1_dma_map);

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 7 + 1);

	eng = ufd_engine_new();
	if (!eng) {
		fprintf(stderr, "consumer: ufd_engine_new failed\n");
		return 1;
	}
	ufd_cred_self(&cred);
	CHECK(ufd_ctx_open(eng, &cred, &ctx));
	CHECK(ufd_ioas_alloc(ctx, &ioas));
	src = ufd_source_local();
	if (!src) {
		fprintf(stderr, "consumer: ufd_source_local failed\n");
		return 1;
	}
	CHECK(ufd_ioas_map(ctx, ioas, src, (uint64_t)(uintptr_t)buf, sizeof(buf),
			   &iova, UFD_MAP_READ | UFD_MAP_WRITE));
	CHECK(ufd_device_bind(ctx, &info, &dev));
	pt = ioas;
	CHECK(ufd_device_attach(ctx, dev, &pt));
	CHECK(ufd_dma_open(ctx, dev, &dma));
	CHECK(ufd_dma_read(dma, iova, out, sizeof(out)));
	if (memcmp(out, buf, sizeof(buf))) {
		fprintf(stderr, "consumer: DMA read at IOVA 0x%llx differs from the buffer\n",
			(unsigned long long)iova);
		return 1;
	}
	ufd_dma_close(dma);
	CHECK(ufd_device_unbind(ctx, dev));
	CHECK(ufd_ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped));
	if (unmapped != sizeof(buf)) {
		fprintf(stderr, "consumer: unmapped %llu bytes\n",
			(unsigned long long)unmapped);
		return 1;
	}
	ufd_source_put(src);
	ufd_ctx_close(ctx);
	ufd_engine_free(eng);
	printf("consumer: ok: libuiommufd %d.%d, DMA read of %zu bytes at IOVA 0x%llx (hwpt %u)\n",
	       ufd_version_major(), ufd_version_minor(), sizeof(buf),
	       (unsigned long long)iova, pt);
	return 0;
}
