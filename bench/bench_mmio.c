// SPDX-License-Identifier: MIT
/*
 * (f) An emulated VFIO device from the program's side (run under
 * uiommufd-run --device ioat): a trapped BAR load and a posted BAR store,
 * each as a ratio to a plain system call and to a signal delivery measured
 * in this run (a trapped access is a SIGSEGV plus a round trip to the
 * daemon; a posted store skips waiting for the answer); and the ioat
 * model's copy bandwidth through the IO page table (descriptors and data
 * reached by DMA through the device's domain) as a ratio to memcpy.
 * Nothing here fails on a threshold; BROKEN means wrong data or a failed
 * call.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "common.h"

#define CBVER 0x08
#define INTRDELAY 0x0c
#define XFERCAP 0x01
#define CHANCTRL 0x80
#define CHANCMD 0x84
#define DMACOUNT 0x86
#define CHANSTS 0x88
#define CHAINADDR 0x90
#define CHANERR 0xa8

#define COPY_BYTES (64UL << 20)
#define IOVA_BASE 0x40000000ULL

struct desc {
	uint32_t size, ctl;
	uint64_t src, dst, next, rsv[4];
};

static volatile uint8_t *bar;

static void *rd_ptr(size_t off)
{
	return (void *)(uintptr_t)(bar + off);
}

static void bar_read_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++)
		escape((void *)(uintptr_t)*(volatile uint8_t *)rd_ptr(CBVER));
}

static void bar_write_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++)
		*(volatile uint16_t *)rd_ptr(INTRDELAY) = (uint16_t)(i & 0xfff);
	/* The last one is done before the figure counts it. */
	escape((void *)(uintptr_t)*(volatile uint16_t *)rd_ptr(INTRDELAY));
}

static void on_usr1(int sig)
{
	(void)sig;
}

static void signal_body(void *arg, uint64_t iters)
{
	uint64_t i;

	for (i = 0; i != iters; i++)
		raise(SIGUSR1);
}

static uint8_t status(void)
{
	return (uint8_t)(*(volatile uint64_t *)rd_ptr(CHANSTS) & 7);
}

static void chan_reset(void)
{
	*(volatile uint32_t *)rd_ptr(CHANERR) =
		*(volatile uint32_t *)rd_ptr(CHANERR);
	*(volatile uint8_t *)rd_ptr(CHANCMD) = 0x20;
	while (*(volatile uint8_t *)rd_ptr(CHANCMD) & 0x20)
		;
}

int main(void)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	struct vfio_region_info ci = { .argsz = sizeof(ci) };
	struct iommu_ioas_alloc ia = { .size = sizeof(ia) };
	struct iommu_ioas_map im = { .size = sizeof(im) };
	double sys_ns, sig_ns, rd_ns, wr_ns, memcpy_gbps, best = 1e30;
	size_t chunk, nd, i, len;
	struct sigaction sa;
	uint16_t cmd;
	uint8_t *mem, *src, *dst;
	struct desc *d;
	int iommufd, dev, run;
	void *p;

	if (!getenv("UIOMMUFD_DEVICES")) {
		printf("(f) bench_mmio: SKIP (run under uiommufd-run --device ioat)\n");
		return 0;
	}
	iommufd = open("/dev/iommu", O_RDWR);
	dev = open("/dev/vfio/devices/vfio0", O_RDWR);
	if (iommufd < 0 || dev < 0)
		die("open", -errno);
	if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &ia))
		die("IOAS_ALLOC", -errno);
	bind.iommufd = iommufd;
	at.pt_id = ia.out_ioas_id;
	if (ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		die("bind/attach", -errno);
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	ci.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ci))
		die("GET_REGION_INFO", -errno);
	p = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		 (off_t)ri.offset);
	if (p == MAP_FAILED)
		die("mmap BAR0", -errno);
	bar = p;
	if (*(volatile uint8_t *)rd_ptr(CBVER) != 0x33)
		die("CBVER", -EIO);
	/* Memory decode and bus master on. */
	cmd = 0x0006;
	if (pwrite(dev, &cmd, 2, (off_t)(ci.offset + 4)) != 2)
		die("COMMAND", -errno);

	sys_ns = limit_syscall_ns();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sig_ns = bench_ns(signal_body, NULL, 50, 5);
	rd_ns = bench_ns(bar_read_body, NULL, 100, 5);
	wr_ns = bench_ns(bar_write_body, NULL, 100, 5);
	memcpy_gbps = limit_memcpy_gbps(COPY_BYTES);

	/* Source, destination and descriptors: shared memory, as guests'. */
	chunk = (size_t)1 << *(volatile uint8_t *)rd_ptr(XFERCAP);
	if (chunk > COPY_BYTES)
		chunk = COPY_BYTES;
	nd = COPY_BYTES / chunk;
	len = 2 * COPY_BYTES + 2 * 1024 * 1024;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap buffers", -errno);
	src = mem;
	dst = mem + COPY_BYTES;
	d = (struct desc *)(mem + 2 * COPY_BYTES);
	for (i = 0; i < COPY_BYTES; i += 4096)
		src[i] = (uint8_t)(i >> 12), dst[i] = 0;
	im.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		   IOMMU_IOAS_MAP_WRITEABLE;
	im.ioas_id = ia.out_ioas_id;
	im.user_va = (uintptr_t)mem;
	im.length = len;
	im.iova = IOVA_BASE;
	if (ioctl(iommufd, IOMMU_IOAS_MAP, &im))
		die("IOAS_MAP", -errno);
	for (i = 0; i < nd; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].size = (uint32_t)chunk;
		d[i].src = IOVA_BASE + i * chunk;
		d[i].dst = IOVA_BASE + COPY_BYTES + i * chunk;
		d[i].next = IOVA_BASE + 2 * COPY_BYTES +
			    ((i + 1) % nd) * sizeof(*d);
	}
	for (run = 0; run < 5; run++) {
		uint64_t t0, t1;
		uint8_t s;

		chan_reset();
		*(volatile uint64_t *)rd_ptr(CHAINADDR) =
			IOVA_BASE + 2 * COPY_BYTES;
		*(volatile uint16_t *)rd_ptr(CHANCTRL) = 0x0008;
		t0 = now_ns();
		*(volatile uint16_t *)rd_ptr(DMACOUNT) = (uint16_t)nd;
		while ((s = status()) != 1 && s != 3)
			usleep(50);
		t1 = now_ns();
		if (s != 1)
			die("ioat copy halted", -EIO);
		if ((double)(t1 - t0) < best)
			best = (double)(t1 - t0);
	}
	for (i = 0; i < COPY_BYTES; i += 4096)
		if (dst[i] != (uint8_t)(i >> 12))
			die("ioat copy: wrong data", -EIO);

	printf("(f) emulated VFIO device (ioat, BAR0 trapped; server mode)\n");
	printf("limits (this run): getppid() %.0f ns, signal delivery "
	       "(raise + empty handler) %.0f ns, memcpy %.1f GB/s\n",
	       sys_ns, sig_ns, memcpy_gbps);
	printf("  BAR read  (u8 load, waited for)  %7.0f ns  %6.1fx syscall  "
	       "%5.1fx signal\n", rd_ns, rd_ns / sys_ns, rd_ns / sig_ns);
	printf("  BAR write (u16 store, posted)    %7.0f ns  %6.1fx syscall  "
	       "%5.1fx signal\n", wr_ns, wr_ns / sys_ns, wr_ns / sig_ns);
	printf("  ioat copy of %lu MiB in %zu descriptors of %zu KiB, through "
	       "the IO page table: %.2f GB/s = %.2fx memcpy\n",
	       COPY_BYTES >> 20, nd, chunk >> 10,
	       (double)COPY_BYTES / best, (double)COPY_BYTES / best /
	       memcpy_gbps);
	summary("(f) BAR read %.0f ns = %.1fx syscall = %.1fx signal; posted "
		"BAR write %.0f ns = %.1fx syscall; ioat copy %.2fx memcpy",
		rd_ns, rd_ns / sys_ns, rd_ns / sig_ns, wr_ns, wr_ns / sys_ns,
		(double)COPY_BYTES / best / memcpy_gbps);
	target("trapped-bar-read-vs-signal", rd_ns / sig_ns, false, 3);
	target("posted-bar-write-vs-signal", wr_ns / sig_ns, false, 1.5);
	return 0;
}
