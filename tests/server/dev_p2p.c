/* SPDX-License-Identifier: MIT */
/*
 * Peer-to-peer DMA as a program sees it, under uiommufd-run --device ioat
 * (server mode): through the legacy type1 container (/dev/vfio/vfio, the
 * device's group 0), VFIO_IOMMU_MAP_DMA of a range of the device's BAR0
 * mmap succeeds, and the device's own DMA (an I/OAT copy) reaches its
 * registers at that IOVA: it reads CBVER (0x33) and writes INTRDELAY.
 * The daemon follows the program's mappings: after munmap (whole, or a
 * part) or a MAP_FIXED over the BAR, a map of what is gone fails
 * (EFAULT, as memory that cannot be pinned).  IOVA ranges are [iova, iova + len - 1].  Written from
 * the VFIO uAPI (linux/vfio.h) and the I/OAT register layout.
 */
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "common.h"

/* I/OAT registers (BAR0). */
#define CBVER 0x08
#define INTRDELAY 0x0c
#define CHANCTRL 0x80
#define CHANCMD 0x84
#define DMACOUNT 0x86
#define CHANSTS 0x88
#define CHAINADDR 0x90
#define CHANERR 0xa8
#define CTRL_REARM 0x0001
#define CTRL_ABORT_EN 0x0008
#define CMD_RESET 0x20
#define CMD_SUSPEND 0x04
#define ST_DONE 1
#define ST_SUSPENDED 2
#define ST_HALTED 3

#define MEM_IOVA 0x1000000ULL   /* 16 MiB: descriptors and buffers */
#define MEM_LEN 0x10000ULL
#define BAR_IOVA 0x4000000ULL   /* 64 MiB: the BAR */

static int container = -1, group = -1, dev = -1;
static volatile uint8_t *bar;
static size_t bar_size;
static uint64_t bar_offset;
static uint8_t *mem;

static uint64_t rd(size_t off, unsigned int size)
{
	volatile uint8_t *p = bar + off;

	switch (size) {
	case 1:
		return *p;
	case 2:
		return *(volatile uint16_t *)p;
	case 4:
		return *(volatile uint32_t *)p;
	default:
		return *(volatile uint64_t *)p;
	}
}

static void wr(size_t off, unsigned int size, uint64_t v)
{
	volatile uint8_t *p = bar + off;

	switch (size) {
	case 1:
		*p = (uint8_t)v;
		break;
	case 2:
		*(volatile uint16_t *)p = (uint16_t)v;
		break;
	case 4:
		*(volatile uint32_t *)p = (uint32_t)v;
		break;
	default:
		*(volatile uint64_t *)p = v;
	}
}

static int dma_map(int fd, const volatile void *va, uint64_t len,
		   uint64_t iova)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = len,
	};

	return xioctl(fd, VFIO_IOMMU_MAP_DMA, &m);
}

static int dma_unmap(int fd, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u), .iova = iova, .size = len,
	};

	return xioctl(fd, VFIO_IOMMU_UNMAP_DMA, &u);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned int wait_state(unsigned int want)
{
	double end = now() + 5;
	unsigned int st;

	do {
		st = (unsigned int)(rd(CHANSTS, 8) & 7);
		if (want & (1u << st))
			return st;
		sched_yield();
	} while (now() < end);
	return st;
}

static void chan_reset(void)
{
	double end = now() + 5;

	wr(CHANERR, 4, rd(CHANERR, 4));
	wr(CHANCMD, 1, CMD_RESET);
	while ((rd(CHANCMD, 1) & CMD_RESET) && now() < end)
		sched_yield();
}

/* One self-chained descriptor at mem[0]: copy @size from @src to @dst. */
static unsigned int copy(uint32_t size, uint64_t src, uint64_t dst)
{
	uint64_t desc = MEM_IOVA;
	uint32_t ctl = 0;

	memset(mem, 0, 64);
	memcpy(mem + 0, &size, 4);
	memcpy(mem + 4, &ctl, 4);
	memcpy(mem + 8, &src, 8);
	memcpy(mem + 16, &dst, 8);
	memcpy(mem + 24, &desc, 8);
	wr(CHAINADDR, 8, desc);
	wr(CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	wr(DMACOUNT, 2, 1);
	return wait_state(1u << ST_DONE | 1u << ST_HALTED);
}

/* Back to a state a new descriptor chain can start from. */
static void suspend(void)
{
	wr(CHANCMD, 1, CMD_SUSPEND);
	wait_state(1u << ST_SUSPENDED | 1u << ST_HALTED);
}

static int setup(void)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	const char *bdf = getenv("UIOMMUFD_DEVICES");
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	void *p;

	container = open("/dev/vfio/vfio", O_RDWR);
	group = open("/dev/vfio/0", O_RDWR);
	if (container < 0 || group < 0 ||
	    xioctl(group, VFIO_GROUP_GET_STATUS, &st) ||
	    xioctl(group, VFIO_GROUP_SET_CONTAINER, &container) ||
	    ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -1;
	dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev < 0)
		return -1;
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pwrite(dev, &cmd, 2, (off_t)(ri.offset + PCI_COMMAND)) != 2)
		return -1;
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    !(ri.flags & VFIO_REGION_INFO_FLAG_MMAP) || ri.size < 2 * PAGE)
		return -1;
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 (off_t)ri.offset);
	if (p == MAP_FAILED)
		return -1;
	bar = p;
	bar_size = ri.size;
	bar_offset = ri.offset;
	/* Shared: the daemon reaches it directly (private memory it reaches
	 * only through the process, and DMA there faults). */
	mem = mmap(NULL, MEM_LEN, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || dma_map(container, mem, MEM_LEN, MEM_IOVA))
		return -1;
	chan_reset();
	return 0;
}

static void test_self_p2p(void)
{
	const uint64_t buf = MEM_IOVA + 0x1000;

	CHECK_EQ(dma_map(container, bar, bar_size, BAR_IOVA), 0);
	/* The device reads its own CBVER through the IOMMU. */
	mem[0x1000] = 0;
	CHECK_EQ(copy(1, BAR_IOVA + CBVER, buf), ST_DONE);
	CHECK_EQ(mem[0x1000], 0x33);
	/* And writes its INTRDELAY (16 bits). */
	suspend();
	mem[0x1008] = 0x21;
	mem[0x1009] = 0x03;
	CHECK_EQ(copy(2, buf + 8, BAR_IOVA + INTRDELAY), ST_DONE);
	CHECK_EQ(rd(INTRDELAY, 2), 0x0321);
	wr(INTRDELAY, 2, 0);
	suspend();
	CHECK_EQ(dma_unmap(container, BAR_IOVA, bar_size), 0);
	/* Unmapped: the copy faults. */
	CHECK_EQ(copy(1, BAR_IOVA + CBVER, buf), ST_HALTED);
	chan_reset();
}

static void test_mappings_followed(void)
{
	volatile uint8_t *p;

	/* A part of the BAR: its first page. */
	CHECK_EQ(dma_map(container, bar, PAGE, BAR_IOVA), 0);
	CHECK_EQ(dma_unmap(container, BAR_IOVA, PAGE), 0);
	/* More than the mapping: not a BAR, and not memory either. */
	CHECK_EQ(dma_map(container, bar, bar_size + PAGE, BAR_IOVA), -EFAULT);

	/* A second mapping, its last page unmapped: the rest still maps. */
	p = mmap(NULL, bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 (off_t)bar_offset);
	REQUIRE(p != MAP_FAILED);
	CHECK_EQ(rd(CBVER, 1), 0x33);
	CHECK_EQ(munmap((void *)(p + bar_size - PAGE), PAGE), 0);
	CHECK_EQ(dma_map(container, p + bar_size - PAGE, PAGE, BAR_IOVA),
		 -EFAULT);
	CHECK_EQ(dma_map(container, p, bar_size, BAR_IOVA), -EFAULT);
	CHECK_EQ(dma_map(container, p + PAGE, bar_size - 2 * PAGE, BAR_IOVA),
		 0);
	CHECK_EQ(dma_unmap(container, BAR_IOVA, bar_size - 2 * PAGE), 0);
	/* Memory mapped over its first page: that page is memory now. */
	CHECK(mmap((void *)p, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == (void *)p);
	CHECK_EQ(dma_map(container, p, 2 * PAGE, BAR_IOVA), -EFAULT);
	CHECK_EQ(dma_map(container, p, PAGE, BAR_IOVA), 0); /* memory */
	CHECK_EQ(dma_unmap(container, BAR_IOVA, PAGE), 0);
	CHECK_EQ(munmap((void *)p, bar_size), 0);
	CHECK_EQ(dma_map(container, p + PAGE, PAGE, BAR_IOVA), -EFAULT);
	/* The first mapping is untouched. */
	CHECK_EQ(dma_map(container, bar, bar_size, BAR_IOVA), 0);
	CHECK_EQ(dma_unmap(container, BAR_IOVA, bar_size), 0);
}

int main(void)
{
	if (!getenv("UIOMMUFD_DEVICES")) {
		fprintf(stderr, "SKIP: run under uiommufd-run --device ioat\n");
		return 77;
	}
	if (setup()) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 1;
	}
	RUN(test_self_p2p);
	RUN(test_mappings_followed);
	munmap((void *)bar, bar_size);
	munmap(mem, MEM_LEN);
	close(dev);
	close(group);
	close(container);
	return harness_failed;
}
