/* SPDX-License-Identifier: MIT */
/*
 * The host a device model test gives its functions (test_ioat.c,
 * test_igb.c, test_igbvf.c): DMA through an engine DMA port of a device
 * bound into a context and attached to an IOAS that maps the test's
 * memory, and interrupts counted per index and per vector.
 *
 * Ranges are [iova, iova + len).  Locking: the counts are under h->lock
 * (the models send interrupts from their worker threads); the port is set
 * before the function is made and closed after it is destroyed.
 */
#ifndef UFD_TESTS_UNIT_PCI_HOST_H
#define UFD_TESTS_UNIT_PCI_HOST_H

#include <pthread.h>
#include <stdint.h>

#include "devices/pci.h"
#include "uiommufd.h"

#define PCI_HOST_VECTORS 16

struct host {
	struct ufd_dma *port;
	int fail_reads; /* make every dma_read fail with this (if not 0) */
	pthread_mutex_t lock;
	unsigned int irqs[3];			/* per index: INTx, MSI, MSI-X */
	unsigned int vec[PCI_HOST_VECTORS];	/* per vector below 16 */
	unsigned int last_vector;
};

static int host_dma_read(void *arg, uint64_t iova, void *buf, size_t len)
{
	struct host *h = arg;

	if (h->fail_reads)
		return h->fail_reads;
	return ufd_dma_read(h->port, iova, buf, len);
}

static int host_dma_write(void *arg, uint64_t iova, const void *buf, size_t len)
{
	struct host *h = arg;

	return ufd_dma_write(h->port, iova, buf, len);
}

static void host_irq(void *arg, unsigned int index, unsigned int vector)
{
	struct host *h = arg;

	pthread_mutex_lock(&h->lock);
	if (index < 3)
		h->irqs[index]++;
	if (vector < PCI_HOST_VECTORS)
		h->vec[vector]++;
	h->last_vector = vector;
	pthread_mutex_unlock(&h->lock);
}

static const struct ufd_pci_host_ops host_ops = {
	.dma_read = host_dma_read,
	.dma_write = host_dma_write,
	.irq = host_irq,
};

/* Interrupts of @index so far. */
static inline unsigned int irqs(struct host *h, unsigned int index)
{
	unsigned int n;

	pthread_mutex_lock(&h->lock);
	n = h->irqs[index];
	pthread_mutex_unlock(&h->lock);
	return n;
}

/*
 * A device behind an IOMMU with the aperture [1 MiB, 256 TiB) and the IO
 * page sizes @pgsizes (0: 4K, 2M and 1G) bound into @ctx, attached to a
 * new IOAS (*@ioas, *@pt) that maps [@mem, @mem + @len) of @src at
 * @iova, and its DMA port in h->port.  0 or -errno (what was made stays,
 * for the caller's cleanup).
 */
static inline int host_attach(struct host *h, struct ufd_ctx *ctx,
			      struct ufd_source *src, void *mem, size_t len,
			      uint64_t iova, uint64_t pgsizes, uint32_t *ioas,
			      uint32_t *dev, uint32_t *pt)
{
	const struct ufd_device_info info = {
		.aperture_start = 1ULL << 20,
		.aperture_last = (1ULL << 48) - 1,
		.pgsize_bitmap = pgsizes ? pgsizes :
				 (1ULL << 12) | (2ULL << 20) | (1ULL << 30),
	};
	int rc;

	rc = ufd_ioas_alloc(ctx, ioas);
	if (!rc)
		rc = ufd_device_bind(ctx, &info, dev);
	*pt = *ioas;
	if (!rc)
		rc = ufd_device_attach(ctx, *dev, pt);
	if (!rc)
		rc = ufd_ioas_map(ctx, *ioas, src, (uintptr_t)mem, len, &iova,
				  UFD_MAP_FIXED_IOVA | UFD_MAP_READ |
					  UFD_MAP_WRITE);
	if (!rc)
		rc = ufd_dma_open(ctx, *dev, &h->port);
	return rc;
}

#endif
