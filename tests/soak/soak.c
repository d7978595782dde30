/* SPDX-License-Identifier: MIT */
/*
 * The soak: WORKERS processes doing mixed operations at once on emulated
 * files (server mode), for SOAK_SECONDS, while the parent SIGKILLs one of
 * them every second and starts it again.  Each worker has a /dev/iommu of
 * its own and shares one with all the others (inherited); it maps shared
 * and private memory, copies between IOAS, reads and writes through access
 * objects, attaches the selftest's mock devices (a domain: pins, the DMA
 * path), opens fault queues; workers 0 and 1 also drive an emulated I/OAT
 * (cdev bind and attach, BAR MMIO, a DMA copy through the IO page table,
 * close with the device reset).  Run it under the launcher built with
 * ASan (build/san/uiommufd-run, UIOMMUFD_SELF_CHECK_MS: the daemon runs
 * the engine's invariant check periodically and aborts on damage) with
 * two --device ioat.  It fails if an operation that must succeed fails
 * for a worker that was not killed, if the daemon dies, if the shared
 * file does not work at the end, or on either of two memory checks:
 *
 *   - The daemon's private resident memory (RssAnon: its heap, page
 *     tables, ASan's) grows by more than SOAK_MAX_GROWTH_MB (default 6)
 *     over the second half of the run, after the first half warmed it up
 *     (ASan's 16 MiB quarantine fills and the allocator's caches grow
 *     there).  Runs here: +0.4 and -0.1 MiB under ASan in 90 s, +0.03
 *     MiB without it in 30 s.  A leak of 220 bytes per round, or of 140
 *     KiB per killed client, exceeds it.
 *   - Once the shared file is closed (which releases what killed workers
 *     left in it: IOAS whose areas pin their shared memory, as the
 *     kernel's would) and a call on another file has returned (the
 *     release barrier), the daemon still maps more than
 *     SOAK_MAX_SHARED_KB (default 1024) of shared memory: a client's
 *     memory mapped for nobody.  Runs here: 4 KiB.
 *
 * Shared memory is kept out of the first check: it is what the killed
 * workers' leftovers in the shared file hold, 1 MiB for each kill that
 * lands at the right moment, so it follows where the kills land (it made
 * the whole RSS grow 2 to 13 MiB in the second half of 90 s runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include "iommufd_test.h"

#define WORKERS 8
#define BUF (1UL << 20)
#define PAGE 4096UL
/* The selftest mock IOMMU's aperture starts here. */
#define MOCK_IOVA (1UL << 24)

static int shared_fd = -1;
/* Rounds done, per worker slot (shared with the workers). */
static unsigned long *rounds;

static int xioctl(int fd, unsigned long req, void *arg)
{
	return ioctl(fd, req, arg) ? -errno : 0;
}

static void fail(int w, const char *what, int rc)
{
	fprintf(stderr, "soak: worker %d: %s: %s\n", w, what, strerror(-rc));
	_exit(1);
}

static uint32_t ioas_new(int w, int fd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	int rc = xioctl(fd, IOMMU_IOAS_ALLOC, &a);

	if (rc)
		fail(w, "IOAS_ALLOC", rc);
	return a.out_ioas_id;
}

static void destroy(int w, int fd, uint32_t id)
{
	struct iommu_destroy d = { .size = sizeof(d), .id = id };
	int rc = xioctl(fd, IOMMU_DESTROY, &d);

	if (rc)
		fail(w, "DESTROY", rc);
}

static void map(int w, int fd, uint32_t ioas, void *va, size_t len,
		uint64_t iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
			 IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};
	int rc = xioctl(fd, IOMMU_IOAS_MAP, &m);

	if (rc)
		fail(w, "IOAS_MAP", rc);
}

/* The iommufd side: IOAS, maps, copies, accesses, mock domains, faults. */
static void round_iommufd(int w, int fd, char *shm, char *priv)
{
	struct iommu_ioas_copy cp = { .size = sizeof(cp) };
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	struct iommu_test_cmd acc = { .size = sizeof(acc) };
	struct iommu_test_cmd rw = { .size = sizeof(rw) };
	struct iommu_test_cmd md = { .size = sizeof(md) };
	uint32_t a = ioas_new(w, fd), b = ioas_new(w, fd);
	char got[16];
	int rc;

	map(w, fd, a, shm, BUF, MOCK_IOVA);
	map(w, fd, a, priv, BUF, MOCK_IOVA + BUF);
	cp.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		   IOMMU_IOAS_MAP_WRITEABLE;
	cp.dst_ioas_id = b;
	cp.src_ioas_id = a;
	cp.length = BUF;
	cp.dst_iova = MOCK_IOVA;
	cp.src_iova = MOCK_IOVA;
	if ((rc = xioctl(fd, IOMMU_IOAS_COPY, &cp)))
		fail(w, "IOAS_COPY", rc);
	/* A domain: pins both areas, fills a page table. */
	md.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	md.id = b;
	if ((rc = xioctl(fd, IOMMU_TEST_CMD, &md)))
		fail(w, "MOCK_DOMAIN", rc);
	acc.op = IOMMU_TEST_OP_CREATE_ACCESS;
	acc.id = a;
	if ((rc = xioctl(fd, IOMMU_TEST_CMD, &acc)))
		fail(w, "CREATE_ACCESS", rc);
	snprintf(shm + 64 * w, 16, "worker %d", w);
	rw.op = IOMMU_TEST_OP_ACCESS_RW;
	rw.id = acc.create_access.out_access_fd;
	rw.access_rw.iova = MOCK_IOVA + 64 * w;
	rw.access_rw.length = sizeof(got);
	rw.access_rw.uptr = (uintptr_t)got;
	if ((rc = xioctl(fd, IOMMU_TEST_CMD, &rw)))
		fail(w, "ACCESS_RW", rc);
	if (strncmp(got, shm + 64 * w, sizeof(got)))
		fail(w, "ACCESS_RW data", -EIO);
	close((int)acc.create_access.out_access_fd);
	if (!(rc = xioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa)))
		close((int)fa.out_fault_fd);
	else
		fail(w, "FAULT_QUEUE_ALLOC", rc);
	/* The mock device and its domain go with the device's destroy. */
	destroy(w, fd, md.mock_domain.out_stdev_id);
	destroy(w, fd, b);
	destroy(w, fd, a);
	destroy(w, fd, fa.out_fault_id);
}

/* An I/OAT: bind, attach, MMIO, one DMA copy, close (reset). */
static void round_device(int w, int fd, char *shm)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	char path[64];
	volatile uint8_t *bar;
	uint64_t *desc = (uint64_t *)(shm + BUF - PAGE);
	struct timespec t0, t1;
	uint16_t cmd = 6;
	uint32_t ioas;
	int dev, rc;

	snprintf(path, sizeof(path), "/dev/vfio/devices/vfio%d", w);
	dev = open(path, O_RDWR);
	if (dev < 0)
		fail(w, "open cdev", -errno);
	ioas = ioas_new(w, fd);
	bind.iommufd = fd;
	if ((rc = xioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind)))
		fail(w, "BIND", rc);
	at.pt_id = ioas;
	if ((rc = xioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at)))
		fail(w, "ATTACH", rc);
	map(w, fd, ioas, shm, BUF, 1UL << 32);
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if ((rc = xioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri)))
		fail(w, "REGION_INFO", rc);
	bar = mmap(NULL, ri.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		   (off_t)ri.offset);
	if (bar == MAP_FAILED)
		fail(w, "mmap BAR0", -errno);
	/* COMMAND: memory decode and bus master on. */
	if (pwrite(dev, &cmd, 2,
		   (off_t)(((uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) + 4)) != 2)
		fail(w, "COMMAND", -errno);
	if (bar[0x08] != 0x33)
		fail(w, "CBVER", -EIO);
	/* One 4 KiB copy: descriptor at the end of the buffer. */
	memset(desc, 0, 64);
	((uint32_t *)desc)[0] = 4096;
	desc[1] = 1UL << 32;                      /* src */
	desc[2] = (1UL << 32) + 8192;             /* dst */
	desc[3] = (1UL << 32) + BUF - PAGE;       /* next: itself */
	*(volatile uint8_t *)(bar + 0x84) = 0x20; /* CHANCMD reset */
	while (*(volatile uint8_t *)(bar + 0x84) & 0x20)
		;
	*(volatile uint64_t *)(bar + 0x90) = (1UL << 32) + BUF - PAGE;
	*(volatile uint16_t *)(bar + 0x80) = 0x0008;
	*(volatile uint16_t *)(bar + 0x86) = 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uint8_t st = *(volatile uint64_t *)(bar + 0x88) & 7;

		if (st == 1)
			break;
		if (st == 3)
			fail(w, "ioat halted", -EIO);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 10)
			fail(w, "ioat copy timed out", -ETIMEDOUT);
	}
	if (memcmp(shm, shm + 8192, 4096))
		fail(w, "ioat copy data", -EIO);
	munmap((void *)bar, ri.size);
	close(dev); /* unbinds, resets */
	destroy(w, fd, ioas);
}

static void worker(int w, int ndev)
{
	char *shm = mmap(NULL, BUF, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char *priv = mmap(NULL, BUF, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int own = open("/dev/iommu", O_RDWR);

	if (shm == MAP_FAILED || priv == MAP_FAILED || own < 0)
		fail(w, "setup", -errno);
	memset(shm, w, BUF);
	memset(priv, w, BUF);
	for (;;) {
		round_iommufd(w, own, shm, priv);
		round_iommufd(w, shared_fd, shm, priv);
		if (w < ndev)
			round_device(w, own, shm);
		__atomic_add_fetch(&rounds[w], 1, __ATOMIC_RELAXED);
	}
}

static pid_t spawn(int w, int ndev)
{
	pid_t pid = fork();

	if (!pid)
		worker(w, ndev);
	return pid;
}

/* A field of the daemon's /proc/PID/status in KiB ("VmRSS", "RssAnon",
 * "RssShmem"), or -1. */
static long daemon_status_kb(const char *field)
{
	const char *pid = getenv("UIOMMUFD_DAEMON_PID");
	size_t flen = strlen(field);
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (!pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%s/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			kb = atol(line + flen + 1);
			break;
		}
	fclose(f);
	return kb;
}

int main(void)
{
	const char *s = getenv("SOAK_SECONDS");
	const char *g = getenv("SOAK_MAX_GROWTH_MB");
	const char *devs = getenv("UIOMMUFD_DEVICES");
	int seconds = s ? atoi(s) : 60, ndev = 0, i, t, failed = 0;
	const char *sh = getenv("SOAK_MAX_SHARED_KB");
	long max_growth_kb = (g ? atol(g) : 6) * 1024, anon1, *anon;
	long max_shared_kb = sh ? atol(sh) : 1024;
	long rss1, shmem1, shmem_released;
	unsigned long kills = 0, respawns = 0;
	pid_t pids[WORKERS];
	uint32_t probe;

	if (devs)
		for (ndev = 1; *devs; devs++)
			ndev += *devs == ' ';
	if (ndev > 2)
		ndev = 2;
	shared_fd = open("/dev/iommu", O_RDWR);
	if (shared_fd < 0) {
		perror("soak: /dev/iommu");
		return 1;
	}
	rounds = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rounds == MAP_FAILED)
		return 1;
	if (seconds < 4)
		seconds = 4;
	anon = calloc((size_t)seconds, sizeof(*anon));
	if (!anon)
		return 1;
	srand((unsigned int)getpid());
	for (i = 0; i < WORKERS; i++)
		pids[i] = spawn(i, ndev);
	for (t = 0; t < seconds; t++) {
		int status, v = rand() % WORKERS;

		sleep(1);
		anon[t] = daemon_status_kb("RssAnon");
		/* A worker that ended by itself failed. */
		for (i = 0; i < WORKERS; i++) {
			if (waitpid(pids[i], &status, WNOHANG) == pids[i]) {
				fprintf(stderr, "soak: worker %d ended (status "
						"%#x)\n", i, status);
				failed = 1;
				pids[i] = spawn(i, ndev);
				respawns++;
			}
		}
		kill(pids[v], SIGKILL);
		waitpid(pids[v], NULL, 0);
		kills++;
		pids[v] = spawn(v, ndev);
	}
	for (i = 0; i < WORKERS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	/* The daemon still serves, and the shared file still works. */
	probe = ioas_new(-1, shared_fd);
	destroy(-1, shared_fd, probe);
	anon1 = daemon_status_kb("RssAnon");
	rss1 = daemon_status_kb("VmRSS");
	shmem1 = daemon_status_kb("RssShmem");
	/*
	 * What the killed workers left in the shared file (IOAS whose areas
	 * pin their shared memory, as the kernel's would) goes with it: once
	 * a call on another file returns (the release barrier), the daemon
	 * maps no client memory any more.
	 */
	close(shared_fd);
	{
		int fd = open("/dev/iommu", O_RDWR);

		if (fd < 0) {
			perror("soak: /dev/iommu");
			return 1;
		}
		destroy(-1, fd, ioas_new(-1, fd));
		close(fd);
	}
	shmem_released = daemon_status_kb("RssShmem");
	for (i = 0, t = 0; i < WORKERS; i++)
		t += (int)rounds[i];
	printf("soak: %d s, %d workers (%d with a device), %d rounds, %lu "
	       "SIGKILLs, %lu unexpected ends; daemon private RSS KiB at 1 s "
	       "%ld, 1/4 %ld, 1/2 %ld, 3/4 %ld, end %ld; at the end VmRSS %ld, "
	       "shared %ld, shared after the shared file's release %ld\n",
	       seconds, WORKERS, ndev, t, kills, respawns, anon[1],
	       anon[seconds / 4], anon[seconds / 2], anon[3 * seconds / 4],
	       anon1, rss1, shmem1, shmem_released);
	if (t < WORKERS) {
		fprintf(stderr, "soak: hardly any round completed\n");
		failed = 1;
	}
	/*
	 * Flat means: once warmed up (ASan's quarantine filled, the
	 * allocator's caches grown: the first half), the second half adds
	 * no more private memory than SOAK_MAX_GROWTH_MB, though as many
	 * clients are killed in it as in the first.  A leak per killed
	 * client or per operation grows linearly and shows there.
	 */
	if (anon[seconds / 2] < 0 || anon1 < 0) {
		fprintf(stderr, "soak: cannot read the daemon's memory "
				"(UIOMMUFD_DAEMON_PID: run under uiommufd-run)\n");
		failed = 1;
	} else if (anon1 - anon[seconds / 2] > max_growth_kb) {
		fprintf(stderr, "soak: daemon private memory grew by %ld KiB "
				"in the second half (bound %ld KiB)\n",
			anon1 - anon[seconds / 2], max_growth_kb);
		failed = 1;
	}
	if (shmem_released < 0 || shmem_released > max_shared_kb) {
		fprintf(stderr, "soak: the daemon still maps %ld KiB of shared "
				"memory after every client file was released "
				"(bound %ld KiB)\n",
			shmem_released, max_shared_kb);
		failed = 1;
	}
	free(anon);
	return failed;
}
