/* SPDX-License-Identifier: MIT */
/*
 * The VFIO files (src/uapi/vfio_*.c) driven through the file ops, as a
 * transport drives them: a machine of two I/OAT functions (group 3 with
 * cdev 0, group 4 with cdev 1), a fake caller whose fd table is a small
 * array here (fds FD_BASE and up; take_fd dups a real fd of this
 * process) and whose memory is this process's.  The cdev path, the group
 * path with a legacy container and with an iommufd as container, region
 * and IRQ info, config space, BAR access, interrupts into real eventfds,
 * I/OAT copies through the IO page table raising MSI-X (and INTx), a
 * fault that halts the channel without an interrupt, resets, peer-to-peer
 * DMA from one function into the other's BAR through a legacy container
 * (the fake caller's bar_lookup knows one BAR mapping), and the errno of
 * every rule.
 *
 * IOVA ranges are [iova, iova + len - 1].  The model's worker copies in
 * its own thread while this one polls CHANSTS; test_concurrent_opens runs
 * two threads over one container (the fake fd table has a lock).
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "uapi/dispatch.h"
#include "uapi/vfio.h"
#include "uiommufd.h"
#define HARNESS_MMAP
#include "harness.h"

#define MiB (1ULL << 20)
#define FD_BASE 1000
#define MAX_FILES 32

#define SPEC "ioat;0000:00:04.0;3;0;|ioat;0000:00:05.0;4;1;xfercap=12"
#define BDF0 "0000:00:04.0"
#define BDF1 "0000:00:05.0"

/* I/OAT registers (BAR0) and bits, as a driver knows them. */
#define XFERCAP 0x01
#define INTRCTRL 0x03
#define ATTNSTATUS 0x04
#define CBVER 0x08
#define CHANCTRL 0x80
#define CHANCMD 0x84
#define DMACOUNT 0x86
#define CHANSTS 0x88
#define CHAINADDR 0x90
#define CHANERR 0xa8
#define MSIX_TABLE 0x2000
#define INTRCTRL_MASTER 0x01
#define INTRCTRL_MSIX_VC 0x08
#define CTRL_REARM 0x0001
#define CTRL_ABORT_EN 0x0008
#define CMD_RESET 0x20
#define CMD_SUSPEND 0x04
#define ST_DONE 1
#define ST_SUSPENDED 2
#define ST_HALTED 3

#define REGION(i) ((uint64_t)(i) << 40)
#define CFG REGION(VFIO_PCI_CONFIG_REGION_INDEX)

/* ---- the fake transport ------------------------------------------------ */

struct tfile {
	bool used;
	struct ufd_file file;
};

/* The table is shared by the threads of test_concurrent_opens. */
static pthread_mutex_t files_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tfile files[MAX_FILES];
static struct ufd_engine *eng;
static struct ufd_caller caller;
static int make_file_error; /* the next make_file fails with it */

static struct ufd_file *t_file(int fd)
{
	struct ufd_file *f = NULL;

	pthread_mutex_lock(&files_lock);
	if (fd >= FD_BASE && fd < FD_BASE + MAX_FILES &&
	    files[fd - FD_BASE].used)
		f = &files[fd - FD_BASE].file;
	pthread_mutex_unlock(&files_lock);
	return f;
}

static int slot_new(const struct ufd_file *file)
{
	unsigned int i;
	int fd = -EMFILE;

	pthread_mutex_lock(&files_lock);
	for (i = 0; i < MAX_FILES; i++) {
		if (files[i].used)
			continue;
		files[i].used = true;
		files[i].file = *file;
		fd = FD_BASE + (int)i;
		break;
	}
	pthread_mutex_unlock(&files_lock);
	return fd;
}

static void slot_free(int fd)
{
	pthread_mutex_lock(&files_lock);
	files[fd - FD_BASE].used = false;
	pthread_mutex_unlock(&files_lock);
}

static int fake_make_file(const struct ufd_caller *c,
			  const struct ufd_file *file)
{
	int rc = make_file_error;

	(void)c;
	if (rc) {
		make_file_error = 0;
		return rc;
	}
	return slot_new(file);
}

static int fake_resolve_file(const struct ufd_caller *c, int fd,
			     struct ufd_file *out)
{
	struct ufd_file *f = t_file(fd);

	(void)c;
	if (!f)
		return -EBADF;
	*out = *f;
	return 0;
}

static int fake_take_fd(const struct ufd_caller *c, int fd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	(void)c;
	return nfd < 0 ? -errno : nfd;
}

static int fake_make_fd(const struct ufd_caller *c, struct ufd_ctx *ctx,
			enum ufd_fd_kind kind, uint32_t obj_id)
{
	struct ufd_file f = { .kind = kind, .ctx = ctx, .obj_id = obj_id };

	(void)c;
	ufd_ctx_get(ctx);
	return slot_new(&f);
}

static void fake_unmake_fd(const struct ufd_caller *c, int fd)
{
	struct ufd_file *f = t_file(fd);

	(void)c;
	if (f) {
		ufd_file_release(f, false);
		slot_free(fd);
	}
}

static int fake_resolve_fd(const struct ufd_caller *c, struct ufd_ctx *ctx,
			   int fd, enum ufd_fd_kind kind, uint32_t *obj_id)
{
	struct ufd_file *f = t_file(fd);

	(void)c;
	if (!f || f->kind != kind)
		return -EBADF;
	if (f->ctx != ctx)
		return -ENOENT;
	*obj_id = f->obj_id;
	return 0;
}

/* The caller's one BAR mapping (test_p2p): [va, va + len) of fd's BAR. */
static struct {
	uint64_t va, len;
	int fd;
	unsigned int region;
	uint64_t region_off;
} fake_bar;

static int fake_bar_lookup(const struct ufd_caller *c, uint64_t vaddr,
			   uint64_t len, struct ufd_bar_map *out)
{
	struct ufd_file *f;

	(void)c;
	if (!fake_bar.len || vaddr < fake_bar.va ||
	    vaddr - fake_bar.va >= fake_bar.len ||
	    len > fake_bar.len - (vaddr - fake_bar.va))
		return -ENOENT;
	f = t_file(fake_bar.fd);
	if (!f)
		return -ENOENT;
	out->file = *f;
	out->region = fake_bar.region;
	out->region_off = fake_bar.region_off + (vaddr - fake_bar.va);
	return 0;
}

static const struct ufd_caller_ops fake_ops = {
	.make_fd = fake_make_fd,
	.unmake_fd = fake_unmake_fd,
	.resolve_fd = fake_resolve_fd,
	.make_file = fake_make_file,
	.resolve_file = fake_resolve_file,
	.take_fd = fake_take_fd,
	.bar_lookup = fake_bar_lookup,
};

static int t_open(enum ufd_fd_kind kind, uint32_t index)
{
	struct ufd_file f;
	int rc, fd;

	rc = ufd_file_open(&f, &caller, kind, index, O_RDWR);
	if (rc)
		return rc;
	fd = slot_new(&f);
	if (fd < 0)
		ufd_file_release(&f, true);
	return fd;
}

static void t_close(int fd)
{
	struct ufd_file *f = t_file(fd);

	if (!f)
		return;
	ufd_file_release(f, true);
	slot_free(fd);
}

static long t_ioctl(int fd, unsigned long cmd, const void *arg)
{
	struct ufd_file *f = t_file(fd);

	return f ? ufd_file_ioctl(f, &caller, cmd, (uintptr_t)arg) : -EBADF;
}

static long t_ioctl_int(int fd, unsigned long cmd, uint64_t arg)
{
	struct ufd_file *f = t_file(fd);

	return f ? ufd_file_ioctl(f, &caller, cmd, arg) : -EBADF;
}

static long t_pread(int fd, void *buf, size_t n, uint64_t off)
{
	return ufd_file_read(t_file(fd), &caller, (uintptr_t)buf, n, &off);
}

static long t_pwrite(int fd, const void *buf, size_t n, uint64_t off)
{
	return ufd_file_write(t_file(fd), &caller, (uintptr_t)buf, n, &off);
}

static uint32_t cfg_rd(int fd, unsigned int off, unsigned int size)
{
	uint32_t v = 0;

	CHECK_EQ(t_pread(fd, &v, size, CFG + off), size);
	return v;
}

static void cfg_wr(int fd, unsigned int off, unsigned int size, uint32_t v)
{
	CHECK_EQ(t_pwrite(fd, &v, size, CFG + off), size);
}

static uint64_t mmio_rd(int fd, uint64_t off, unsigned int size)
{
	uint64_t v = 0;

	CHECK_EQ(ufd_file_mmio(t_file(fd), 0, off, size, false, &v), 0);
	return v;
}

static void mmio_wr(int fd, uint64_t off, unsigned int size, uint64_t v)
{
	CHECK_EQ(ufd_file_mmio(t_file(fd), 0, off, size, true, &v), 0);
}

/* ---- helpers over the ABI ------------------------------------------------ */

static uint32_t ioas_alloc(int iommufd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };

	CHECK_EQ(t_ioctl(iommufd, IOMMU_IOAS_ALLOC, &a), 0);
	return a.out_ioas_id;
}

static int ioas_map(int iommufd, uint32_t ioas, void *va, uint64_t len,
		    uint64_t iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_READABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)va,
		.length = len,
		.iova = iova,
	};

	return (int)t_ioctl(iommufd, IOMMU_IOAS_MAP, &m);
}

static int dma_map(int container, void *va, uint64_t len, uint64_t iova)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va,
		.iova = iova,
		.size = len,
	};

	return (int)t_ioctl(container, VFIO_IOMMU_MAP_DMA, &m);
}

static int bind(int dev, int iommufd, uint32_t *devid)
{
	struct vfio_device_bind_iommufd b = { .argsz = sizeof(b),
					      .iommufd = iommufd };
	int rc = (int)t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b);

	if (devid)
		*devid = b.out_devid;
	return rc;
}

static int attach(int dev, uint32_t *pt_id)
{
	struct vfio_device_attach_iommufd_pt a = { .argsz = sizeof(a),
						   .pt_id = *pt_id };
	int rc = (int)t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);

	*pt_id = a.pt_id;
	return rc;
}

static int detach(int dev)
{
	struct vfio_device_detach_iommufd_pt d = { .argsz = sizeof(d) };

	return (int)t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
}

static int set_irqs(int dev, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const void *data, size_t data_len)
{
	struct {
		struct vfio_irq_set hdr;
		uint8_t data[64];
	} s;

	memset(&s, 0, sizeof(s));
	s.hdr.argsz = (uint32_t)(sizeof(s.hdr) + data_len);
	s.hdr.flags = flags;
	s.hdr.index = index;
	s.hdr.start = start;
	s.hdr.count = count;
	if (data_len)
		memcpy(s.data, data, data_len);
	return (int)t_ioctl(dev, VFIO_DEVICE_SET_IRQS, &s);
}

static int irq_eventfds(int dev, uint32_t index, const int32_t *fds,
			uint32_t n)
{
	return set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				     VFIO_IRQ_SET_ACTION_TRIGGER,
			index, 0, n, fds, n * sizeof(*fds));
}

/* The count an eventfd holds (it is non-blocking), 0 if none. */
static uint64_t efd_take(int efd)
{
	uint64_t v = 0;

	if (read(efd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Poll CHANSTS until its state is one of @want (a bit mask), or 5 s. */
static unsigned int wait_state(int dev, unsigned int want)
{
	double end = now() + 5;
	unsigned int st;

	do {
		st = (unsigned int)(mmio_rd(dev, CHANSTS, 8) & 7);
		if (want & (1u << st))
			return st;
		sched_yield();
	} while (now() < end);
	return st;
}

/* ioat_init/ioat_reset as the selftest's driver does them. */
static void ioat_reset(int dev)
{
	double end = now() + 5;

	mmio_wr(dev, CHANERR, 4, mmio_rd(dev, CHANERR, 4));
	mmio_wr(dev, CHANCMD, 1, CMD_RESET);
	while ((mmio_rd(dev, CHANCMD, 1) & CMD_RESET) && now() < end)
		sched_yield();
	CHECK_EQ(mmio_rd(dev, CHANSTS, 8) & 7, ST_HALTED);
}

/* One descriptor at @desc (self-chained), copied to the IOVA @desc_iova. */
static void put_desc(uint8_t *desc, uint64_t desc_iova, uint32_t size,
		     uint32_t ctl, uint64_t src, uint64_t dst)
{
	memset(desc, 0, 64);
	memcpy(desc + 0, &size, 4);
	memcpy(desc + 4, &ctl, 4);
	memcpy(desc + 8, &src, 8);
	memcpy(desc + 16, &dst, 8);
	memcpy(desc + 24, &desc_iova, 8);
}

/* Start one descriptor and wait until DONE or HALTED. */
static unsigned int run_desc(int dev, uint64_t desc_iova)
{
	mmio_wr(dev, CHAINADDR, 8, desc_iova);
	mmio_wr(dev, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	mmio_wr(dev, DMACOUNT, 2, 1);
	return wait_state(dev, 1u << ST_DONE | 1u << ST_HALTED);
}

/* Memory for DMA: [IOVA_BASE, IOVA_BASE + MEM_LEN) maps mem. */
#define IOVA_BASE (16 * MiB)
#define MEM_LEN (4 * MiB)
#define IOVA_UNMAPPED (256 * MiB)
static uint8_t *mem, *mem_area;

/*
 * The driver's sequence on an opened device with memory mapped: bus
 * master on, MSI-X vector 0 into @efd, a copy with an interrupt.
 */
static void ioat_copy_test(int dev, int efd)
{
	const uint64_t desc_iova = IOVA_BASE, src = IOVA_BASE + 4096,
		       dst = IOVA_BASE + 2 * MiB;
	int32_t fd = efd;

	cfg_wr(dev, PCI_COMMAND, 2,
	       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		       PCI_COMMAND_INTX_DISABLE);
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, &fd, 1), 0);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	ioat_reset(dev);

	memset(mem + 4096, 'x', 4096);
	memset(mem + 2 * MiB, 'y', 4096);
	put_desc(mem, desc_iova, 4096, 0, src, dst);
	CHECK_EQ(run_desc(dev, desc_iova), ST_DONE);
	CHECK(!memcmp(mem + 4096, mem + 2 * MiB, 4096));
	CHECK_EQ(efd_take(efd), 0); /* no int_en: no interrupt */
	mmio_wr(dev, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(dev, 1u << ST_SUSPENDED), ST_SUSPENDED);

	/* send_msi: an 8-byte copy with int_en raises MSI-X vector 0. */
	put_desc(mem, desc_iova, 8, 1, src, dst + 8);
	CHECK_EQ(run_desc(dev, desc_iova), ST_DONE);
	CHECK_EQ(efd_take(efd), 1);

	/* From an unmapped IOVA: halted, an error bit, no interrupt. */
	put_desc(mem, desc_iova, 8, 1, IOVA_UNMAPPED, dst);
	CHECK_EQ(run_desc(dev, desc_iova), ST_HALTED);
	CHECK(mmio_rd(dev, CHANERR, 4) != 0);
	CHECK_EQ(efd_take(efd), 0);
	ioat_reset(dev);
	/* To an unmapped IOVA too. */
	put_desc(mem, desc_iova, 8, 1, src, IOVA_UNMAPPED);
	CHECK_EQ(run_desc(dev, desc_iova), ST_HALTED);
	CHECK_EQ(efd_take(efd), 0);
	ioat_reset(dev);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0),
		 0);
}

/* ---- tests ------------------------------------------------------------------ */

#ifndef __SANITIZE_THREAD__
/* How many threads of this process have signal @sig unblocked. */
static unsigned int threads_taking(int sig)
{
	unsigned int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], line[128];
		unsigned long long blocked;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
			 e->d_name);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "SigBlk: %llx", &blocked) == 1 &&
			    !(blocked & (1ULL << (sig - 1))))
				n++;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}
#endif

static void test_platform_spec(void)
{
	int fd;

	CHECK_EQ(ufd_vfio_platform_setup(eng, NULL), 0);
	CHECK_EQ(ufd_vfio_platform_setup(eng, ""), 0);
	/* No machine: every device and group node is absent. */
	CHECK_EQ(t_open(UFD_FD_VFIO_DEVICE, 0), -ENOENT);
	CHECK_EQ(t_open(UFD_FD_VFIO_GROUP, 3), -ENOENT);
	/* The container is there regardless. */
	fd = t_open(UFD_FD_VFIO_CONTAINER, 0);
	CHECK(fd >= FD_BASE);
	CHECK_EQ(t_ioctl_int(fd, VFIO_GET_API_VERSION, 0), VFIO_API_VERSION);
	t_close(fd);
	CHECK_EQ(t_open(UFD_FD_VFIO_CONTAINER, 1), -ENOENT);

	CHECK_EQ(ufd_vfio_platform_setup(eng, "nosuch;0000:00:04.0;3;0;"),
		 -ENODEV);
	CHECK_EQ(ufd_vfio_platform_setup(eng, "ioat;0000:00:04.0;3;0"),
		 -EINVAL);
	CHECK_EQ(ufd_vfio_platform_setup(eng, "ioat;00:04;3;0;"), -EINVAL);
	CHECK_EQ(ufd_vfio_platform_setup(eng, "ioat;0000:00:04.0;x;0;"),
		 -EINVAL);
	CHECK_EQ(ufd_vfio_platform_setup(eng, "ioat;0000:00:04.0;3;-1;"),
		 -EINVAL);
	CHECK_EQ(ufd_vfio_platform_setup(
			 eng, "ioat;0000:00:04.0;3;0;|ioat;0000:00:04.0;4;1;"),
		 -EINVAL); /* the same address twice */
	CHECK_EQ(ufd_vfio_platform_setup(
			 eng, "ioat;0000:00:04.0;3;0;|ioat;0000:00:05.0;4;0;"),
		 -EINVAL); /* the same cdev twice */
	CHECK_EQ(ufd_vfio_platform_setup(eng, "ioat;0000:00:04.0;3;0;bogus=1"),
		 -EINVAL); /* the model refuses its arguments */
	CHECK_EQ(t_open(UFD_FD_VFIO_DEVICE, 0), -ENOENT);

	CHECK_EQ(ufd_vfio_platform_setup(eng, SPEC), 0);
	CHECK_EQ(ufd_vfio_platform_setup(eng, SPEC), -EBUSY);
#ifndef __SANITIZE_THREAD__ /* TSan's own thread takes signals */
	/* The models' threads take no signal of the process (SIGCHLD). */
	CHECK_EQ(threads_taking(SIGCHLD), 1);
#endif
}

static void test_cdev_path(void)
{
	struct vfio_device_bind_iommufd b;
	struct vfio_device_attach_iommufd_pt a;
	struct vfio_device_detach_iommufd_pt d;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	uint32_t devid = 0, ioas, pt, big[8];
	int iommufd, dev, dev2, group, other;
	uint64_t v;
	uint8_t *ro;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	REQUIRE(iommufd >= FD_BASE);
	CHECK_EQ(t_open(UFD_FD_VFIO_DEVICE, 7), -ENOENT);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(dev >= FD_BASE);

	/* Nothing but BIND before the bind. */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info), -EINVAL);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_RESET, NULL), -EINVAL);
	CHECK_EQ(t_ioctl(dev, 0x3bff, NULL), -EINVAL);
	CHECK_EQ(t_pread(dev, &v, 2, CFG), -EINVAL);
	CHECK_EQ(t_pwrite(dev, &v, 2, CFG), -EINVAL);
	{
		struct ufd_file_mmap out;

		CHECK_EQ(ufd_file_mmap(t_file(dev), 0, 4096, PROT_READ, &out),
			 -EINVAL);
	}

	/* BIND's own rules, in the kernel's order. */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, (void *)8), -EFAULT);
	b = (struct vfio_device_bind_iommufd){ .argsz = 12,
					       .iommufd = iommufd };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b), -EINVAL);
	b = (struct vfio_device_bind_iommufd){ .argsz = sizeof(b),
					       .flags = 2,
					       .iommufd = iommufd };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b), -EINVAL);
	CHECK_EQ(bind(dev, -2, NULL), -EINVAL);
	CHECK_EQ(bind(dev, FD_BASE + MAX_FILES - 1, NULL), -EBADF);
	other = t_open(UFD_FD_VFIO_CONTAINER, 0);
	CHECK_EQ(bind(dev, other, NULL), -EBADFD);
	t_close(other);
	memset(big, 0, sizeof(big));
	big[0] = sizeof(big);
	big[2] = (uint32_t)iommufd;
	big[7] = 1; /* a byte we do not know that is not zero */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, big), -E2BIG);
	{
		uint8_t uuid[16] = { 1 };

		b = (struct vfio_device_bind_iommufd){
			.argsz = sizeof(b),
			.flags = VFIO_DEVICE_BIND_FLAG_TOKEN,
			.iommufd = iommufd,
			.token_uuid_ptr = (uintptr_t)uuid,
		};
		/* Neither PF nor VF: a token is wrong. */
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b), -EINVAL);
		b.token_uuid_ptr = 8;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &b), -EFAULT);
	}

	/* A bind whose reply cannot be written is undone. */
	ro = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(ro != MAP_FAILED);
	b = (struct vfio_device_bind_iommufd){ .argsz = sizeof(b),
					       .iommufd = iommufd };
	memcpy(ro, &b, sizeof(b));
	mprotect(ro, 4096, PROT_READ);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, ro), -EFAULT);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info), -EINVAL);

	CHECK_EQ(bind(dev, iommufd, &devid), 0);
	CHECK(devid != 0);
	CHECK_EQ(ufd_obj_kind(t_file(iommufd)->ctx, devid), UFD_KIND_DEVICE);
	CHECK_EQ(bind(dev, iommufd, NULL), -EINVAL); /* bound twice */
	/* Another cdev file of the device cannot bind meanwhile. */
	dev2 = t_open(UFD_FD_VFIO_DEVICE, 0);
	CHECK(dev2 >= FD_BASE);
	CHECK_EQ(bind(dev2, iommufd, NULL), -EINVAL);
	t_close(dev2);
	/* cdev and group exclude each other. */
	CHECK_EQ(t_open(UFD_FD_VFIO_GROUP, 3), -EBUSY);

	/* GET_INFO works after the bind, without an attach. */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info), 0);
	CHECK_EQ(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	CHECK_EQ(info.num_regions, VFIO_PCI_NUM_REGIONS);
	CHECK_EQ(info.num_irqs, VFIO_PCI_NUM_IRQS);
	CHECK_EQ(info.cap_offset, 0);
	info.argsz = 8;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info), -EINVAL);
	{
		/* Only argsz bytes are written back. */
		uint32_t small[6] = { 16, 0, 0, 0, 0xdead, 0xbeef };

		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, small), 0);
		CHECK_EQ(small[3], VFIO_PCI_NUM_IRQS);
		CHECK_EQ(small[4], 0xdead);
	}

	/* ATTACH and DETACH. */
	ioas = ioas_alloc(iommufd);
	a = (struct vfio_device_attach_iommufd_pt){ .argsz = 8, .pt_id = ioas };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
	a = (struct vfio_device_attach_iommufd_pt){ .argsz = 16, .flags = 2,
						    .pt_id = ioas };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
	a = (struct vfio_device_attach_iommufd_pt){
		.argsz = 12, .flags = VFIO_DEVICE_ATTACH_PASID, .pt_id = ioas
	};
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
	a.argsz = 16;
	/* The VT-d model has no PASID. */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -EINVAL);
	/* 6.12 has no DETACH_PASID (which 7.3 takes, below): EINVAL. */
	caller.kernel = &ufd_personality_6_12;
	{
		struct vfio_device_detach_iommufd_pt d612 = {
			.argsz = 12, .flags = VFIO_DEVICE_DETACH_PASID
		};

		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d612),
			 -EINVAL);
	}
	caller.kernel = NULL;
	pt = UINT32_MAX;
	CHECK_EQ(attach(dev, &pt), -ENOENT);
	pt = devid; /* not a page table */
	CHECK_EQ(attach(dev, &pt), -EINVAL);
	/* An attach whose reply fails is undone: the IOAS is free again. */
	a = (struct vfio_device_attach_iommufd_pt){ .argsz = 16,
						    .pt_id = ioas };
	mprotect(ro, 4096, PROT_READ | PROT_WRITE);
	memcpy(ro, &a, sizeof(a));
	mprotect(ro, 4096, PROT_READ);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, ro), -EFAULT);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK(pt != ioas);
	CHECK_EQ(ufd_obj_kind(t_file(iommufd)->ctx, pt), UFD_KIND_HWPT_PAGING);
	{
		struct iommu_destroy dst = { .size = sizeof(dst), .id = ioas };

		CHECK_EQ(t_ioctl(iommufd, IOMMU_DESTROY, &dst), -EBUSY);
	}
	/* Attaching again replaces. */
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	d = (struct vfio_device_detach_iommufd_pt){ .argsz = 4 };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), -EINVAL);
	d = (struct vfio_device_detach_iommufd_pt){ .argsz = 12, .flags = 4 };
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), -EINVAL);
	d = (struct vfio_device_detach_iommufd_pt){
		.argsz = 8, .flags = VFIO_DEVICE_DETACH_PASID
	};
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), -EINVAL);
	d.argsz = 12;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d), 0);
	CHECK_EQ(detach(dev), 0);
	CHECK_EQ(detach(dev), 0); /* detached already: nothing to do */
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);

	/* Hot reset: the device alone, named by its device ID. */
	{
		struct {
			struct vfio_pci_hot_reset_info hdr;
			struct vfio_pci_dependent_device dev[2];
		} hr;
		struct {
			struct vfio_pci_hot_reset hdr;
			int32_t fds[2];
		} r;

		memset(&hr, 0, sizeof(hr));
		hr.hdr.argsz = 8;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hr),
			 -EINVAL);
		hr.hdr.argsz = sizeof(hr.hdr);
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hr),
			 -ENOSPC);
		CHECK_EQ(hr.hdr.count, 1);
		hr.hdr.argsz = sizeof(hr);
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hr),
			 0);
		CHECK_EQ(hr.hdr.flags, VFIO_PCI_HOT_RESET_FLAG_DEV_ID |
					       VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED);
		CHECK_EQ(hr.hdr.count, 1);
		CHECK_EQ(hr.dev[0].devid, devid);
		CHECK_EQ(hr.dev[0].bus, 0);
		CHECK_EQ(hr.dev[0].devfn, 4 << 3);
		memset(&r, 0, sizeof(r));
		r.hdr.argsz = 8;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.hdr.argsz = sizeof(r);
		r.hdr.flags = 1;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.hdr.flags = 0;
		r.hdr.count = 1; /* a cdev passes no group */
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.hdr.count = 0;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), 0);
	}

	/* The device's DMA goes through the IOAS. */
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	{
		int efd = eventfd(0, EFD_NONBLOCK);

		ioat_copy_test(dev, efd);
		/* Detached: DMA faults (the IOMMU blocks it). */
		CHECK_EQ(detach(dev), 0);
		cfg_wr(dev, PCI_COMMAND, 2,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		put_desc(mem, IOVA_BASE, 8, 0, IOVA_BASE + 4096,
			 IOVA_BASE + 8192);
		CHECK_EQ(run_desc(dev, IOVA_BASE), ST_HALTED);
		ioat_reset(dev);
		pt = ioas;
		CHECK_EQ(attach(dev, &pt), 0);
		CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
		close(efd);
	}

	/* Groups, containers: not for a cdev file. */
	group = t_open(UFD_FD_VFIO_GROUP, 4);
	CHECK(group >= FD_BASE);
	CHECK_EQ(bind(dev, group, NULL), -EINVAL); /* bound already */
	t_close(group);

	/* The last close resets the device and unbinds it. */
	t_close(dev);
	CHECK_EQ(ufd_obj_kind(t_file(iommufd)->ctx, devid), UFD_KIND_NONE);
	{
		struct iommu_destroy dst = { .size = sizeof(dst), .id = ioas };

		CHECK_EQ(t_ioctl(iommufd, IOMMU_DESTROY, &dst), 0);
	}
	/* Open again: bus master is off, the group usable again. */
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	CHECK_EQ(bind(dev, iommufd, &devid), 0);
	CHECK_EQ(cfg_rd(dev, PCI_COMMAND, 2) & PCI_COMMAND_MASTER, 0);
	t_close(dev);
	group = t_open(UFD_FD_VFIO_GROUP, 3);
	CHECK(group >= FD_BASE);
	/* ...and the cdev cannot bind while the group is open. */
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	CHECK_EQ(bind(dev, iommufd, NULL), -EBUSY);
	t_close(dev);
	t_close(group);
	t_close(iommufd);
	munmap(ro, 4096);
}

static void test_regions_and_irq_info(void)
{
	struct vfio_region_info ri;
	struct {
		struct vfio_region_info info;
		struct vfio_info_cap_header cap;
	} rc;
	struct vfio_irq_info ii;
	uint32_t devid;
	unsigned int i;
	int iommufd, dev;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 1);
	REQUIRE(bind(dev, iommufd, &devid) == 0);

	memset(&ri, 0, sizeof(ri));
	ri.argsz = 16;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	ri.argsz = sizeof(ri);
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK_EQ(ri.size, 4096);
	CHECK_EQ(ri.offset, CFG);
	CHECK_EQ(ri.flags, VFIO_REGION_INFO_FLAG_READ |
				   VFIO_REGION_INFO_FLAG_WRITE);
	/* BAR0: 16 KiB, mmappable, MSI-X table inside: MSIX_MAPPABLE. */
	ri.index = 0;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
	CHECK_EQ(ri.size, 16384);
	CHECK_EQ(ri.offset, 0);
	CHECK_EQ(ri.flags, VFIO_REGION_INFO_FLAG_READ |
				   VFIO_REGION_INFO_FLAG_WRITE |
				   VFIO_REGION_INFO_FLAG_MMAP |
				   VFIO_REGION_INFO_FLAG_CAPS);
	CHECK_EQ(ri.argsz, sizeof(rc)); /* room the chain needs */
	CHECK_EQ(ri.cap_offset, 0);
	memset(&rc, 0, sizeof(rc));
	rc.info.argsz = sizeof(rc);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &rc), 0);
	CHECK_EQ(rc.info.cap_offset, sizeof(rc.info));
	CHECK_EQ(rc.cap.id, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
	CHECK_EQ(rc.cap.version, 1);
	CHECK_EQ(rc.cap.next, 0);
	/* BAR1 is BAR0's upper half; 2-5, the ROM: nothing. */
	for (i = 1; i <= VFIO_PCI_ROM_REGION_INDEX; i++) {
		memset(&ri, 0, sizeof(ri));
		ri.argsz = sizeof(ri);
		ri.index = i;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), 0);
		CHECK_EQ(ri.size, 0);
		CHECK_EQ(ri.flags, 0);
		CHECK_EQ(ri.offset, REGION(i));
	}
	ri.index = VFIO_PCI_VGA_REGION_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	ri.index = VFIO_PCI_NUM_REGIONS;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &ri), -EINVAL);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, (void *)16),
		 -EFAULT);

	memset(&ii, 0, sizeof(ii));
	ii.argsz = 12;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);
	ii.argsz = sizeof(ii);
	ii.index = VFIO_PCI_INTX_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1);
	CHECK_EQ(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_MASKABLE |
				   VFIO_IRQ_INFO_AUTOMASKED);
	ii.index = VFIO_PCI_MSI_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1); /* one MSI vector, below MSI-X */
	CHECK_EQ(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ii.index = VFIO_PCI_MSIX_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1);
	CHECK_EQ(ii.flags, VFIO_IRQ_INFO_EVENTFD); /* dynamic MSI-X */
	ii.index = VFIO_PCI_ERR_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1); /* a PCIe function */
	ii.index = VFIO_PCI_REQ_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), 0);
	CHECK_EQ(ii.count, 1);
	CHECK_EQ(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	ii.index = VFIO_PCI_NUM_IRQS;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &ii), -EINVAL);

	/* Commands a vfio-pci device does not have. */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_QUERY_GFX_PLANE, &ii), -ENOTTY);
	CHECK_EQ(t_ioctl(dev, VFIO_GROUP_GET_STATUS, &ii), -ENOTTY);
	CHECK_EQ(t_ioctl(dev, IOMMU_IOAS_ALLOC, &ii), -ENOTTY);
	t_close(dev);
	t_close(iommufd);
}

static void test_config_space(void)
{
	uint8_t b[16];
	uint32_t v, devid;
	int iommufd, dev, msix;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);

	/* The IDs the model (and so sysfs) reports. */
	CHECK_EQ(cfg_rd(dev, PCI_VENDOR_ID, 2), 0x8086);
	CHECK_EQ(cfg_rd(dev, PCI_DEVICE_ID, 2), 0x2021);
	CHECK_EQ(cfg_rd(dev, PCI_VENDOR_ID, 4), 0x20218086);
	CHECK_EQ(cfg_rd(dev, PCI_CLASS_DEVICE, 2), 0x0880);
	/* Any length, any alignment, cut into aligned pieces. */
	CHECK_EQ(t_pread(dev, b, 7, CFG + 1), 7);
	CHECK_EQ(b[0], 0x80);
	CHECK_EQ(b[1], 0x21);
	CHECK_EQ(b[2], 0x20);
	/* Right after open: memory decode on, bus master off. */
	v = cfg_rd(dev, PCI_COMMAND, 2);
	CHECK_EQ(v & PCI_COMMAND_MASTER, 0);
	CHECK(v & PCI_COMMAND_MEMORY);
	cfg_wr(dev, PCI_COMMAND, 2, v | PCI_COMMAND_MASTER);
	CHECK(cfg_rd(dev, PCI_COMMAND, 2) & PCI_COMMAND_MASTER);
	cfg_wr(dev, PCI_COMMAND, 2, v & ~PCI_COMMAND_MASTER);
	CHECK_EQ(cfg_rd(dev, PCI_COMMAND, 2) & PCI_COMMAND_MASTER, 0);
	/* BAR sizing: all-ones reads back the size mask. */
	cfg_wr(dev, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(dev, PCI_BASE_ADDRESS_0, 4) & ~0xfu, 0xffffc000);
	cfg_wr(dev, PCI_BASE_ADDRESS_0, 4, 0xfebf0000);
	CHECK_EQ(cfg_rd(dev, PCI_BASE_ADDRESS_0, 4) & ~0xfu, 0xfebf0000);
	/* Extended config space: the I/OAT's error registers. */
	CHECK_EQ(cfg_rd(dev, 0x180, 4), 0);
	cfg_wr(dev, 0x180, 4, cfg_rd(dev, 0x148, 4));
	CHECK_EQ(t_pread(dev, &v, 4, CFG + 4094), -EFAULT);
	CHECK_EQ(t_pread(dev, &v, 4, CFG + 4096), -EFAULT);
	CHECK_EQ(t_pread(dev, &v, 0, CFG + 8192), 0);
	CHECK_EQ(t_pread(dev, &v, 2, REGION(VFIO_PCI_NUM_REGIONS)), -EINVAL);
	CHECK_EQ(t_pread(dev, &v, 2, REGION(VFIO_PCI_ROM_REGION_INDEX)),
		 -EINVAL);
	CHECK_EQ(t_pwrite(dev, &v, 2, REGION(VFIO_PCI_ROM_REGION_INDEX)),
		 -EINVAL);
	CHECK_EQ(t_pread(dev, &v, 2, REGION(VFIO_PCI_VGA_REGION_INDEX)),
		 -EINVAL);
	CHECK_EQ(t_pread(dev, (void *)8, 2, CFG), -EFAULT);
	/* The MSI-X capability belongs to SET_IRQS: writes are dropped. */
	msix = 0;
	for (v = cfg_rd(dev, PCI_CAPABILITY_LIST, 1); v;
	     v = cfg_rd(dev, v + 1, 1))
		if (cfg_rd(dev, v, 1) == PCI_CAP_ID_MSIX)
			msix = (int)v;
	REQUIRE(msix);
	cfg_wr(dev, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(cfg_rd(dev, msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE,
		 0);
	/* read() and write() go at the file's position: BAR0 offset 0. */
	CHECK_EQ(ufd_file_read(t_file(dev), &caller, (uintptr_t)b, 2, NULL), 2);
	CHECK_EQ(b[1], 20); /* XFERCAP: cdev 0 has the default, 1 MiB */
	t_close(dev);
	t_close(iommufd);
}

static void test_bar_access(void)
{
	struct ufd_file_mmap out;
	uint32_t devid;
	uint64_t v;
	uint8_t b[32];
	int iommufd, dev;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 1);
	REQUIRE(bind(dev, iommufd, &devid) == 0);

	CHECK_EQ(ufd_file_mmap(t_file(dev), 0, 16384, PROT_READ | PROT_WRITE,
			       &out),
		 0);
	CHECK_EQ(out.region, 0);
	CHECK_EQ(out.region_off, 0);
	CHECK(out.trapped);
	CHECK_EQ(ufd_file_mmap(t_file(dev), 8192, 8192, PROT_READ, &out), 0);
	CHECK_EQ(out.region_off, 8192);
	CHECK_EQ(ufd_file_mmap(t_file(dev), 0, 16384 + 4096, PROT_READ, &out),
		 -EINVAL);
	CHECK_EQ(ufd_file_mmap(t_file(dev), 100, 4096, PROT_READ, &out),
		 -EINVAL);
	CHECK_EQ(ufd_file_mmap(t_file(dev), CFG, 4096, PROT_READ, &out),
		 -EINVAL);
	CHECK_EQ(ufd_file_mmap(t_file(dev), REGION(2), 4096, PROT_READ, &out),
		 -EINVAL);
	CHECK_EQ(ufd_file_mmap(t_file(dev), REGION(9), 4096, PROT_READ, &out),
		 -EINVAL);

	/* The trapped mapping and pread/pwrite reach the same registers. */
	CHECK_EQ(mmio_rd(dev, CBVER, 1), 0x33);
	CHECK_EQ(mmio_rd(dev, XFERCAP, 1), 12);
	CHECK_EQ(t_pread(dev, b, 1, CBVER), 1);
	CHECK_EQ(b[0], 0x33);
	v = 0x1122334455667788ULL;
	CHECK_EQ(t_pwrite(dev, &v, 8, CHAINADDR), 8);
	CHECK_EQ(mmio_rd(dev, CHAINADDR, 8), v);
	CHECK_EQ(t_pread(dev, b, 12, CHANSTS), 12);
	/* The MSI-X table: all-ones through pread, real through mmap. */
	CHECK_EQ(t_pread(dev, b, 16, MSIX_TABLE), 16);
	CHECK_EQ(b[0], 0xff);
	CHECK_EQ(b[15], 0xff);
	CHECK_EQ(mmio_rd(dev, MSIX_TABLE + 12, 4), 1); /* masked */
	/* Past the end: clamped; at the end: -EINVAL. */
	CHECK_EQ(t_pread(dev, b, 32, 16384 - 8), 8);
	CHECK_EQ(t_pread(dev, b, 4, 16384), -EINVAL);
	CHECK_EQ(t_pread(dev, b, 4, REGION(1)), -EINVAL);
	CHECK_EQ(ufd_file_mmio(t_file(dev), 0, 16384, 4, false, &v), -EINVAL);
	CHECK_EQ(ufd_file_mmio(t_file(dev), 1, 0, 4, false, &v), -EINVAL);
	/* Memory decode off: BAR accesses fail as vfio-pci's do. */
	cfg_wr(dev, PCI_COMMAND, 2, 0);
	CHECK_EQ(t_pread(dev, b, 1, CBVER), -EIO);
	CHECK_EQ(ufd_file_mmio(t_file(dev), 0, CBVER, 1, false, &v), -EIO);
	cfg_wr(dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	CHECK_EQ(mmio_rd(dev, CBVER, 1), 0x33);
	t_close(dev);
	t_close(iommufd);
}

static void test_set_irqs(void)
{
	struct vfio_irq_set hdr;
	uint32_t devid;
	int32_t fds[2];
	uint8_t yes = 1, no = 0;
	int iommufd, dev, efd, efd2, pipefd[2];

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	efd = eventfd(0, EFD_NONBLOCK);
	efd2 = eventfd(0, EFD_NONBLOCK);
	REQUIRE(pipe(pipefd) == 0);

	/* vfio_set_irqs_validate_and_prepare()'s rules. */
	memset(&hdr, 0, sizeof(hdr));
	hdr.argsz = 16;
	hdr.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	hdr.index = VFIO_PCI_MSIX_IRQ_INDEX;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_SET_IRQS, &hdr), -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_NUM_IRQS, 0, 1, NULL, 0),
		 -EINVAL);
	CHECK_EQ(set_irqs(dev, 1u << 6 | VFIO_IRQ_SET_DATA_NONE,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &yes, 1),
		 -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL); /* no data type */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 1, 0, NULL, 0),
		 -EINVAL); /* start past the vectors */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 2, NULL, 0),
		 -EINVAL); /* count past them */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL, 0),
		 -EINVAL); /* disabling MSI that is not enabled */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, fds, 2),
		 -EINVAL); /* data shorter than count fds */
	fds[0] = 9999;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), -EBADF);
	fds[0] = pipefd[0];
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), -EINVAL);
	{
		/* The fds lie on a page that is not there. */
		uint8_t *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct vfio_irq_set *at;

		REQUIRE(two != MAP_FAILED);
		munmap(two + 4096, 4096);
		at = (struct vfio_irq_set *)(two + 4096 - sizeof(*at));
		at->argsz = sizeof(*at) + 4;
		at->flags = VFIO_IRQ_SET_DATA_EVENTFD |
			    VFIO_IRQ_SET_ACTION_TRIGGER;
		at->index = VFIO_PCI_MSIX_IRQ_INDEX;
		at->start = 0;
		at->count = 1;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_SET_IRQS, at), -EFAULT);
		munmap(two, 4096);
	}
	/* Masking MSI-X: vfio-pci has none. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -ENOTTY);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_MASK |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -ENOTTY);
	/* Triggering or disabling what is not enabled. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0),
		 -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0),
		 -ERANGE); /* enabling no vector */

	/* MSI-X: enable, loopback trigger, replace, fd -1, disable. */
	fds[0] = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_BOOL |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &no, 1),
		 0);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_BOOL |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, &yes, 1),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	/* The test closes its fd: ours still works (a dup of it). */
	fds[0] = dup(efd2);
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), 0);
	close(fds[0]);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(efd_take(efd2), 1);
	/* A failed replacement changes nothing. */
	fds[0] = pipefd[1];
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd2), 1);
	fds[0] = -1;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd2), 0);
	/* INTx while MSI-X is on: one index at a time. */
	fds[0] = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, fds, 1), -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 0, NULL, 0),
		 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSIX_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL);

	/* MSI: one vector; loopback; MSI-X meanwhile refused. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 2, fds, 8),
		 -EINVAL);
	fds[0] = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, fds, 1), -EINVAL);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 1, NULL, 0),
		 -ENOTTY);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL, 0),
		 0);

	/* INTx: mask and unmask need INTx enabled; then loopback. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL);
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_MASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, fds, 4),
		 -ENOTTY);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &yes, 1),
		 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 0); /* nothing was pending */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL, 0),
		 0);

	/* ERR and REQ: one eventfd each, loopback, release. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_REQ_IRQ_INDEX, 0, 1, NULL, 0),
		 -EINVAL); /* none set */
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_REQ_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_REQ_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_REQ_IRQ_INDEX, 0, 0, NULL, 0),
		 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_MASK,
			  VFIO_PCI_ERR_IRQ_INDEX, 0, 1, NULL, 0),
		 -ENOTTY);
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_ERR_IRQ_INDEX, fds, 1), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_BOOL |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_ERR_IRQ_INDEX, 0, 1, &yes, 1),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	/* ...left set: the last close lets it go. */
	t_close(dev);
	t_close(iommufd);
	close(efd);
	close(efd2);
	close(pipefd[0]);
	close(pipefd[1]);
}

/* The device's INTx: automasked, held while masked, resent on unmask. */
static void test_intx_delivery(void)
{
	uint32_t devid, ioas, pt;
	int32_t fd;
	int iommufd, dev, efd;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	ioas = ioas_alloc(iommufd);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, &fd, 1), 0);
	cfg_wr(dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MASTER);
	ioat_reset(dev);
	put_desc(mem, IOVA_BASE, 8, 1, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 1); /* and now masked */
	/* Still asserted (ATTNSTATUS not read): unmask sends it again. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	/* The driver acknowledges: the line drops; unmask really unmasks. */
	CHECK_EQ(mmio_rd(dev, ATTNSTATUS, 4), 1);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 0);
	/* Masked by the program: the next interrupt waits for unmask. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_MASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	mmio_wr(dev, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(dev, 1u << ST_SUSPENDED), ST_SUSPENDED);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, NULL, 0),
		 0);
	CHECK_EQ(efd_take(efd), 1);
	t_close(dev);
	t_close(iommufd);
	close(efd);
}

/* The device's MSI (MSI-X off): the function's own message. */
static void test_msi_delivery(void)
{
	uint32_t devid, ioas, pt, v, msi = 0;
	int32_t fd;
	int iommufd, dev, efd;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	ioas = ioas_alloc(iommufd);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	for (v = cfg_rd(dev, PCI_CAPABILITY_LIST, 1); v;
	     v = cfg_rd(dev, v + 1, 1))
		if (cfg_rd(dev, v, 1) == PCI_CAP_ID_MSI)
			msi = v;
	REQUIRE(msi);
	efd = eventfd(0, EFD_NONBLOCK);
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSI_IRQ_INDEX, &fd, 1), 0);
	/* SET_IRQS turned the capability on; the program cannot. */
	CHECK(cfg_rd(dev, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE);
	cfg_wr(dev, msi + PCI_MSI_FLAGS, 2, 0);
	CHECK(cfg_rd(dev, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE);
	cfg_wr(dev, PCI_COMMAND, 2,
	       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		       PCI_COMMAND_INTX_DISABLE);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	ioat_reset(dev);
	put_desc(mem, IOVA_BASE, 8, 1, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 1);
	/* Disabled: off in the capability too; the next one goes nowhere. */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_MSI_IRQ_INDEX, 0, 0, NULL, 0),
		 0);
	CHECK_EQ(cfg_rd(dev, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_ENABLE, 0);
	mmio_wr(dev, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(dev, 1u << ST_SUSPENDED), ST_SUSPENDED);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 0);
	t_close(dev);
	t_close(iommufd);
	close(efd);
}

static void test_reset_and_features(void)
{
	struct {
		struct vfio_device_feature hdr;
		struct vfio_device_low_power_entry_with_wakeup entry;
	} f;
	uint32_t devid, ioas, pt;
	uint64_t v;
	int32_t fd;
	int iommufd, dev, efd;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	ioas = ioas_alloc(iommufd);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	efd = eventfd(0, EFD_NONBLOCK);

	/* RESET keeps the config state (and MSI-X) but resets the model. */
	cfg_wr(dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, &fd, 1), 0);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	ioat_reset(dev);
	put_desc(mem, IOVA_BASE, 8, 0, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_RESET, NULL), 0);
	CHECK_EQ(mmio_rd(dev, CHANSTS, 8) & 7, ST_HALTED);
	CHECK_EQ(mmio_rd(dev, INTRCTRL, 1), 0);
	CHECK_EQ(cfg_rd(dev, PCI_COMMAND, 2),
		 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	put_desc(mem, IOVA_BASE, 8, 1, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 1);

	/* VFIO_DEVICE_FEATURE's general rules. */
	memset(&f, 0, sizeof(f));
	f.hdr.argsz = 4;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.argsz = sizeof(f.hdr);
	f.hdr.flags = 1u << 20 | VFIO_DEVICE_FEATURE_PROBE;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_PCI_VF_TOKEN;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -ENOTTY);
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIGRATION;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -ENOTTY);
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -ENOTTY);
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | 999;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -ENOTTY);

	/* Low power: PROBE, SET only, once; mmap access off meanwhile. */
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), 0);
	f.hdr.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.flags = VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.flags = VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), 0);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	CHECK_EQ(ufd_file_mmio(t_file(dev), 0, CBVER, 1, false, &v), -EIO);
	f.hdr.flags = VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_EXIT;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), 0);
	CHECK_EQ(mmio_rd(dev, CBVER, 1), 0x33);
	/* With a wake-up eventfd: the next access signals it and wakes. */
	f.hdr.argsz = sizeof(f.hdr) + 4;
	f.hdr.flags = VFIO_DEVICE_FEATURE_SET |
		      VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.hdr.argsz = sizeof(f);
	f.entry.wakeup_eventfd = -1;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EINVAL);
	f.entry.wakeup_eventfd = 9999;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), -EBADF);
	f.entry.wakeup_eventfd = efd;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_FEATURE, &f), 0);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(cfg_rd(dev, PCI_VENDOR_ID, 2), 0x8086);
	CHECK_EQ(efd_take(efd), 1);
	CHECK_EQ(mmio_rd(dev, CBVER, 1), 0x33);
	t_close(dev);
	t_close(iommufd);
	close(efd);
}

static void test_group_legacy_container(void)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	struct vfio_device_info info = { .argsz = sizeof(info) };
	struct vfio_device_attach_iommufd_pt a = { .argsz = sizeof(a) };
	uint32_t devid;
	int container, group, dev, dev2, cdev, iommufd, efd, fd;
	char *name;

	container = t_open(UFD_FD_VFIO_CONTAINER, 0);
	REQUIRE(container >= FD_BASE);
	CHECK_EQ(t_ioctl_int(container, VFIO_GET_API_VERSION, 0), 0);
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION,
			     VFIO_TYPE1_IOMMU),
		 1);
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION,
			     VFIO_TYPE1v2_IOMMU),
		 1);
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION, VFIO_UNMAP_ALL),
		 1);
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION,
			     VFIO_DMA_CC_IOMMU),
		 0);
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION, 77), 0);
	/* No group, no IOMMU: the rest has no driver to go to. */
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
		 -EINVAL);
	CHECK_EQ(dma_map(container, mem, 4096, IOVA_BASE), -EINVAL);
	CHECK_EQ(t_ioctl_int(container, IOMMU_IOAS_ALLOC, 0), -EINVAL);

	CHECK_EQ(t_open(UFD_FD_VFIO_GROUP, 5), -ENOENT);
	group = t_open(UFD_FD_VFIO_GROUP, 3);
	REQUIRE(group >= FD_BASE);
	CHECK_EQ(t_open(UFD_FD_VFIO_GROUP, 3), -EBUSY); /* one open */
	st.argsz = 4;
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_STATUS, &st), -EINVAL);
	st.argsz = sizeof(st);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK_EQ(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF0), -EINVAL);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_UNSET_CONTAINER, NULL), -EINVAL);
	CHECK_EQ(t_ioctl(group, VFIO_DEVICE_GET_INFO, &info), -ENOTTY);

	/* SET_CONTAINER's argument is a pointer to an int fd. */
	fd = FD_BASE + MAX_FILES - 1;
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, (void *)8), -EFAULT);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &fd), -EBADF);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &group), -EBADFD);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &container), 0);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &container),
		 -EINVAL);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK_EQ(st.flags,
		 VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	/* A container needs its IOMMU before a device opens. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF0), -EINVAL);
	CHECK_EQ(dma_map(container, mem, 4096, IOVA_BASE), -EINVAL);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, 42), -ENODEV);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_UNMAP_ALL),
		 -EINVAL);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
		 0);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
		 -EINVAL); /* once */
	CHECK_EQ(t_ioctl_int(container, VFIO_CHECK_EXTENSION,
			     VFIO_DMA_CC_IOMMU),
		 1);
	CHECK_EQ(t_ioctl_int(container, 0x3bff, 0), -ENOTTY);
	CHECK_EQ(dma_map(container, mem, MEM_LEN, IOVA_BASE), 0);

	/* GET_DEVICE_FD by name, as vfio_pci_core_match() reads it. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, (void *)8), -EFAULT);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF1), -ENODEV);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.00"),
		 -ENODEV);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF0 " junk"),
		 -EINVAL);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD,
			 BDF0 " vf_token=2ab74924-c335-45f4-9b16-8569e5b08258"),
		 -EINVAL); /* not a VF or PF: no token */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD,
			 BDF0 " vf_token=2ab74924-c335"),
		 -EINVAL);
	name = malloc(8192);
	memset(name, 'a', 8192);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, name), -EINVAL);
	free(name);
	/* The fd could not be made: the open is undone. */
	make_file_error = -EMFILE;
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF0), -EMFILE);
	/* No device was left open: the container can be unset. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &container), 0);
	/* The container lost its IOMMU with its last group: set it again. */
	CHECK_EQ(dma_map(container, mem, 4096, IOVA_BASE), -EINVAL);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU), 0);
	CHECK_EQ(dma_map(container, mem, MEM_LEN, IOVA_BASE), 0);

	dev = (int)t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF0);
	REQUIRE(dev >= FD_BASE);
	CHECK_EQ(t_file(dev)->kind, UFD_FD_VFIO_DEVICE);
	CHECK_EQ(t_file(dev)->obj_id, 0);
	dev2 = (int)t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD,
			    "0000:00:04.0 ");
	CHECK(dev2 >= FD_BASE); /* a device opens more than once here */
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info), 0);
	CHECK_EQ(cfg_rd(dev, PCI_VENDOR_ID, 2), 0x8086);
	/* Not a cdev file: no bind, no attach. */
	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	CHECK_EQ(bind(dev, iommufd, &devid), -EINVAL);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a), -ENOTTY);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &a), -ENOTTY);
	/* The cdev of a device in use through its group: -EBUSY at bind. */
	cdev = t_open(UFD_FD_VFIO_DEVICE, 0);
	CHECK_EQ(bind(cdev, iommufd, NULL), -EBUSY);
	t_close(cdev);
	/* Hot reset: the group names the device; a group fd proves it. */
	{
		struct {
			struct vfio_pci_hot_reset_info hdr;
			struct vfio_pci_dependent_device dev;
		} hr;
		struct {
			struct vfio_pci_hot_reset hdr;
			int32_t fds[2];
		} r;

		memset(&hr, 0, sizeof(hr));
		hr.hdr.argsz = sizeof(hr);
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, &hr),
			 0);
		CHECK_EQ(hr.hdr.flags, 0);
		CHECK_EQ(hr.dev.group_id, 3);
		memset(&r, 0, sizeof(r));
		r.hdr.argsz = sizeof(r.hdr);
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.hdr.argsz = sizeof(r);
		r.hdr.count = 2;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.hdr.count = 1;
		r.fds[0] = FD_BASE + MAX_FILES - 1;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EBADF);
		r.fds[0] = container;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), -EINVAL);
		r.fds[0] = group;
		CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_PCI_HOT_RESET, &r), 0);
	}

	/* DMA through the container's mappings. */
	efd = eventfd(0, EFD_NONBLOCK);
	ioat_copy_test(dev, efd);
	close(efd);

	/* Devices are open: the container stays, and so does the group. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_UNSET_CONTAINER, NULL), -EBUSY);
	t_close(group);
	CHECK_EQ(t_open(UFD_FD_VFIO_GROUP, 3), -EBUSY);
	t_close(container);
	CHECK_EQ(cfg_rd(dev2, PCI_VENDOR_ID, 2), 0x8086);
	t_close(dev);
	CHECK_EQ(mmio_rd(dev2, CBVER, 1), 0x33);
	t_close(dev2);
	/* All gone: the group opens again, with no container. */
	group = t_open(UFD_FD_VFIO_GROUP, 3);
	CHECK(group >= FD_BASE);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK_EQ(st.flags, VFIO_GROUP_FLAGS_VIABLE);
	t_close(group);
	t_close(iommufd);
}

static void test_group_iommufd_container(void)
{
	struct iommu_vfio_ioas vi = { .size = sizeof(vi),
				      .op = IOMMU_VFIO_IOAS_GET };
	struct vfio_group_status st = { .argsz = sizeof(st) };
	int iommufd, group, dev, efd;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	group = t_open(UFD_FD_VFIO_GROUP, 4);
	REQUIRE(iommufd >= FD_BASE && group >= FD_BASE);
	CHECK_EQ(t_ioctl(iommufd, IOMMU_VFIO_IOAS, &vi), -ENODEV);
	/* An iommufd as container: the compat IOAS is made for it. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_SET_CONTAINER, &iommufd), 0);
	CHECK_EQ(t_ioctl(iommufd, IOMMU_VFIO_IOAS, &vi), 0);
	CHECK(vi.ioas_id != 0);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_STATUS, &st), 0);
	CHECK_EQ(st.flags,
		 VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET);
	/* Without a compat IOAS (cleared by the program): nothing to attach. */
	vi.op = IOMMU_VFIO_IOAS_CLEAR;
	CHECK_EQ(t_ioctl(iommufd, IOMMU_VFIO_IOAS, &vi), 0);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF1), -ENODEV);
	vi.op = IOMMU_VFIO_IOAS_SET;
	CHECK_EQ(t_ioctl(iommufd, IOMMU_VFIO_IOAS, &vi), 0);
	/* No SET_IOMMU needed: the device attaches to the compat IOAS. */
	dev = (int)t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF1);
	REQUIRE(dev >= FD_BASE);
	CHECK_EQ(t_ioctl_int(iommufd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	CHECK_EQ(dma_map(iommufd, mem, MEM_LEN, IOVA_BASE), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	ioat_copy_test(dev, efd);
	close(efd);
	/* An iommufd container is let go even with devices open. */
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_UNSET_CONTAINER, NULL), 0);
	CHECK_EQ(t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF1), -EINVAL);
	CHECK_EQ(mmio_rd(dev, CBVER, 1), 0x33);
	t_close(iommufd); /* the device keeps the context */
	CHECK_EQ(cfg_rd(dev, PCI_DEVICE_ID, 2), 0x2021);
	t_close(dev);
	t_close(group);
}

/*
 * Peer-to-peer through a legacy container: device A (cdev 0) DMAs to an
 * IOVA that MAP_DMA mapped from an mmap of device B's BAR0, and reaches
 * B's registers; an iommufd as container refuses such a map.
 */
#define P2P_IOVA (64 * MiB)
static void test_p2p(void)
{
	struct vfio_iommu_type1_dma_unmap um = { .argsz = sizeof(um) };
	const uint64_t desc_iova = IOVA_BASE, buf = IOVA_BASE + 2 * MiB;
	int container, g3, g4, a, b, iommufd;
	uint64_t charged;
	uint8_t *va;

	va = mmap(NULL, 16384, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	REQUIRE(va != MAP_FAILED);
	container = t_open(UFD_FD_VFIO_CONTAINER, 0);
	g3 = t_open(UFD_FD_VFIO_GROUP, 3);
	g4 = t_open(UFD_FD_VFIO_GROUP, 4);
	REQUIRE(container >= FD_BASE && g3 >= FD_BASE && g4 >= FD_BASE);
	CHECK_EQ(t_ioctl(g3, VFIO_GROUP_SET_CONTAINER, &container), 0);
	CHECK_EQ(t_ioctl(g4, VFIO_GROUP_SET_CONTAINER, &container), 0);
	CHECK_EQ(t_ioctl_int(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU),
		 0);
	a = (int)t_ioctl(g3, VFIO_GROUP_GET_DEVICE_FD, BDF0);
	b = (int)t_ioctl(g4, VFIO_GROUP_GET_DEVICE_FD, BDF1);
	REQUIRE(a >= FD_BASE && b >= FD_BASE);
	CHECK_EQ(dma_map(container, mem, MEM_LEN, IOVA_BASE), 0);

	/* Not (yet) a BAR: PROT_NONE memory cannot be pinned. */
	CHECK_EQ(dma_map(container, va, 4096, P2P_IOVA), -EFAULT);
	fake_bar.va = (uintptr_t)va;
	fake_bar.len = 8192;
	fake_bar.fd = b;
	fake_bar.region = VFIO_PCI_BAR0_REGION_INDEX;
	fake_bar.region_off = 0;
	/* Sticking out of the mapping: memory again. */
	CHECK_EQ(dma_map(container, va, 16384, P2P_IOVA), -EFAULT);
	CHECK_EQ(dma_map(container, va + 1, 4096, P2P_IOVA), -EINVAL);
	/* Not charged to RLIMIT_MEMLOCK (the kernel does not count PFNMAP). */
	caller.cred.cap_ipc_lock = false;
	caller.cred.memlock_limit = 0;
	charged = ufd_engine_pinned_bytes_user(eng, caller.cred.uid);
	CHECK_EQ(dma_map(container, va, 8192, P2P_IOVA), 0);
	CHECK_EQ(ufd_engine_pinned_bytes_user(eng, caller.cred.uid), charged);
	caller.cred.cap_ipc_lock = true;
	caller.cred.memlock_limit = UINT64_MAX;
	CHECK_EQ(dma_map(container, va, 4096, P2P_IOVA), -EEXIST);

	cfg_wr(a, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg_wr(b, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ioat_reset(a);
	/* A reads B's CBVER: 1 byte from P2P_IOVA + 0x08. */
	memset(mem + 2 * MiB, 0, 16);
	put_desc(mem, desc_iova, 1, 0, P2P_IOVA + CBVER, buf);
	CHECK_EQ(run_desc(a, desc_iova), ST_DONE);
	CHECK_EQ(mem[2 * MiB], 0x33);
	/* A writes B's INTRDELAY (0x0c, 16 bits); B reads it back. */
	mmio_wr(a, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(a, 1u << ST_SUSPENDED), ST_SUSPENDED);
	mem[2 * MiB + 8] = 0x34;
	mem[2 * MiB + 9] = 0x12;
	put_desc(mem, desc_iova, 2, 0, buf + 8, P2P_IOVA + 0x0c);
	CHECK_EQ(run_desc(a, desc_iova), ST_DONE);
	CHECK_EQ(mmio_rd(b, 0x0c, 2), 0x1234);
	CHECK_EQ(mmio_rd(a, 0x0c, 2), 0); /* A's own is untouched */
	/* B's second page (past its registers) reads through too. */
	mmio_wr(a, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(a, 1u << ST_SUSPENDED), ST_SUSPENDED);
	put_desc(mem, desc_iova, 8, 0, P2P_IOVA + MSIX_TABLE - 8, buf);
	CHECK_EQ(run_desc(a, desc_iova), ST_DONE);

	/* B's memory decode off: the access fails, A halts. */
	cfg_wr(b, PCI_COMMAND, 2, 0);
	mmio_wr(a, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(wait_state(a, 1u << ST_SUSPENDED), ST_SUSPENDED);
	put_desc(mem, desc_iova, 1, 0, P2P_IOVA + CBVER, buf);
	CHECK_EQ(run_desc(a, desc_iova), ST_HALTED);
	ioat_reset(a);
	cfg_wr(b, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);

	/* Unmap as for memory; then the IOVA faults. */
	um.iova = P2P_IOVA;
	um.size = 8192;
	CHECK_EQ(t_ioctl(container, VFIO_IOMMU_UNMAP_DMA, &um), 0);
	CHECK_EQ(um.size, 8192);
	put_desc(mem, desc_iova, 1, 0, P2P_IOVA + CBVER, buf);
	CHECK_EQ(run_desc(a, desc_iova), ST_HALTED);
	ioat_reset(a);
	/* Mapped again, then the device goes: the mapping outlives it. */
	CHECK_EQ(dma_map(container, va, 4096, P2P_IOVA), 0);
	fake_bar.len = 0;
	t_close(b);
	t_close(a);
	t_close(g4);
	t_close(g3);
	t_close(container);

	/* An iommufd as container: no peer-to-peer, as iommufd. */
	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	g4 = t_open(UFD_FD_VFIO_GROUP, 4);
	REQUIRE(iommufd >= FD_BASE && g4 >= FD_BASE);
	CHECK_EQ(t_ioctl(g4, VFIO_GROUP_SET_CONTAINER, &iommufd), 0);
	b = (int)t_ioctl(g4, VFIO_GROUP_GET_DEVICE_FD, BDF1);
	REQUIRE(b >= FD_BASE);
	CHECK_EQ(t_ioctl_int(iommufd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	fake_bar.len = 8192;
	fake_bar.fd = b;
	CHECK_EQ(dma_map(iommufd, va, 4096, P2P_IOVA), -EFAULT);
	fake_bar.len = 0;
	t_close(b);
	t_close(g4);
	t_close(iommufd);
	munmap(va, 16384);
}

/* Wait up to 5 s for eventfd @efd to be signalled; its count, or 0. */
static uint64_t efd_wait(int efd)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };

	if (poll(&pfd, 1, 5000) != 1)
		return 0;
	return efd_take(efd);
}

/* Eventfds the program signals: INTx unmask and ioeventfds. */
static void test_virqfds(void)
{
	struct vfio_device_ioeventfd ioe;
	uint32_t devid, ioas, pt;
	int32_t fd;
	double end;
	int iommufd, dev, efd, ufd, iofd;
	uint64_t one = 1;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	ioas = ioas_alloc(iommufd);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	ufd = eventfd(0, EFD_NONBLOCK);
	iofd = eventfd(0, EFD_NONBLOCK);

	/* INTx with an unmask eventfd. */
	fd = ufd;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 -EINVAL); /* INTx not enabled */
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, &fd, 1), 0);
	fd = 9999;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 -EBADF);
	fd = ufd;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 -EBUSY); /* one at a time */
	cfg_wr(dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MASTER);
	ioat_reset(dev);
	put_desc(mem, IOVA_BASE, 8, 1, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 1); /* automasked, the line still up */
	/* Signalling the unmask eventfd unmasks: the interrupt comes again,
	 * and the unmask eventfd's count is taken. */
	CHECK_EQ(write(ufd, &one, sizeof(one)), sizeof(one));
	CHECK_EQ(efd_wait(efd), 1);
	end = now() + 5;
	while (now() < end) {
		struct pollfd pfd = { .fd = ufd, .events = POLLIN };

		if (poll(&pfd, 1, 0) == 0)
			break;
		sched_yield();
	}
	CHECK_EQ(efd_take(ufd), 0);
	/* Removed (fd -1): a signal does nothing any more. */
	fd = -1;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 0);
	CHECK_EQ(write(ufd, &one, sizeof(one)), sizeof(one));
	usleep(20000);
	CHECK_EQ(efd_take(efd), 0);
	CHECK_EQ(efd_take(ufd), 1);
	/* Registered again, then INTx disabled: it goes with INTx. */
	fd = ufd;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 0);
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL, 0),
		 0);
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_INTX_IRQ_INDEX, &fd, 1), 0);
	fd = ufd;
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD |
				       VFIO_IRQ_SET_ACTION_UNMASK,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 1, &fd, 4),
		 0); /* not -EBUSY: the old one went */
	CHECK_EQ(set_irqs(dev, VFIO_IRQ_SET_DATA_NONE |
				       VFIO_IRQ_SET_ACTION_TRIGGER,
			  VFIO_PCI_INTX_IRQ_INDEX, 0, 0, NULL, 0),
		 0);

	/* VFIO_DEVICE_IOEVENTFD's rules. */
	memset(&ioe, 0, sizeof(ioe));
	ioe.argsz = 24;
	ioe.flags = VFIO_DEVICE_IOEVENTFD_64;
	ioe.offset = CHAINADDR;
	ioe.fd = iofd;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.argsz = sizeof(ioe);
	ioe.flags = 0;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.flags = VFIO_DEVICE_IOEVENTFD_8 | VFIO_DEVICE_IOEVENTFD_16;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.flags = 0x10;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.flags = VFIO_DEVICE_IOEVENTFD_64;
	ioe.fd = -2;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.fd = iofd;
	ioe.offset = CFG;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.offset = 16384 - 4;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.offset = REGION(1);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.offset = MSIX_TABLE + 8;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EINVAL);
	ioe.offset = CHAINADDR;
	ioe.data = 0x123440;
	ioe.fd = -1;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -ENODEV);
	ioe.fd = 9999;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EBADF);
	ioe.fd = iofd;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), 0);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -EEXIST);
	/* A signal writes the value into the BAR. */
	mmio_wr(dev, CHAINADDR, 8, 0);
	CHECK_EQ(write(iofd, &one, sizeof(one)), sizeof(one));
	end = now() + 5;
	while (mmio_rd(dev, CHAINADDR, 8) != 0x123440 && now() < end)
		sched_yield();
	CHECK_EQ(mmio_rd(dev, CHAINADDR, 8), 0x123440);
	/* Another value at the same place is another ioeventfd. */
	ioe.data = 0x5000;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), 0);
	ioe.fd = -1;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), 0);
	ioe.data = 0x123440;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), 0);
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), -ENODEV);
	mmio_wr(dev, CHAINADDR, 8, 0);
	CHECK_EQ(write(iofd, &one, sizeof(one)), sizeof(one));
	usleep(20000);
	CHECK_EQ(mmio_rd(dev, CHAINADDR, 8), 0);
	/* One left registered: the last close takes it. */
	ioe.fd = iofd;
	CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_IOEVENTFD, &ioe), 0);
	t_close(dev);
	t_close(iommufd);
	close(efd);
	close(ufd);
	close(iofd);
}

/* DevCtl's Initiate-FLR through config space: a reset, state kept. */
static void test_config_flr(void)
{
	uint32_t devid, ioas, pt, v, pcie = 0;
	int32_t fd;
	int iommufd, dev, efd;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	dev = t_open(UFD_FD_VFIO_DEVICE, 0);
	REQUIRE(bind(dev, iommufd, &devid) == 0);
	ioas = ioas_alloc(iommufd);
	pt = ioas;
	CHECK_EQ(attach(dev, &pt), 0);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	efd = eventfd(0, EFD_NONBLOCK);
	for (v = cfg_rd(dev, PCI_CAPABILITY_LIST, 1); v;
	     v = cfg_rd(dev, v + 1, 1))
		if (cfg_rd(dev, v, 1) == PCI_CAP_ID_EXP)
			pcie = v;
	REQUIRE(pcie);
	cfg_wr(dev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	fd = efd;
	CHECK_EQ(irq_eventfds(dev, VFIO_PCI_MSIX_IRQ_INDEX, &fd, 1), 0);
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	CHECK_EQ(mmio_rd(dev, INTRCTRL, 1), INTRCTRL_MSIX_VC);
	v = cfg_rd(dev, pcie + PCI_EXP_DEVCTL, 2);
	cfg_wr(dev, pcie + PCI_EXP_DEVCTL, 2, v | PCI_EXP_DEVCTL_BCR_FLR);
	CHECK_EQ(cfg_rd(dev, pcie + PCI_EXP_DEVCTL, 2), v);
	CHECK_EQ(mmio_rd(dev, INTRCTRL, 1), 0); /* the function was reset */
	CHECK_EQ(cfg_rd(dev, PCI_COMMAND, 2),
		 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	/* ...and MSI-X still goes to the eventfd. */
	mmio_wr(dev, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	put_desc(mem, IOVA_BASE, 8, 1, IOVA_BASE + 4096, IOVA_BASE + 8192);
	CHECK_EQ(run_desc(dev, IOVA_BASE), ST_DONE);
	CHECK_EQ(efd_take(efd), 1);
	/* One byte at a time works the same. */
	cfg_wr(dev, pcie + PCI_EXP_DEVCTL + 1, 1,
	       (v | PCI_EXP_DEVCTL_BCR_FLR) >> 8);
	CHECK_EQ(mmio_rd(dev, INTRCTRL, 1), 0);
	t_close(dev);
	t_close(iommufd);
	close(efd);
}

/* Detach, reset and close while the model's worker is copying. */
static void test_dma_vs_teardown(void)
{
	uint32_t devid, ioas, pt;
	unsigned int st;
	int iommufd, dev, round;

	iommufd = t_open(UFD_FD_IOMMUFD, 0);
	ioas = ioas_alloc(iommufd);
	CHECK_EQ(ioas_map(iommufd, ioas, mem, MEM_LEN, IOVA_BASE), 0);
	for (round = 0; round < 3; round++) {
		dev = t_open(UFD_FD_VFIO_DEVICE, 1); /* 4 KiB transfers */
		REQUIRE(bind(dev, iommufd, &devid) == 0);
		pt = ioas;
		CHECK_EQ(attach(dev, &pt), 0);
		cfg_wr(dev, PCI_COMMAND, 2,
		       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
		ioat_reset(dev);
		/* 65535 copies of 4 KiB: long enough to be caught running. */
		put_desc(mem, IOVA_BASE, 4096, 0, IOVA_BASE + 4096,
			 IOVA_BASE + 2 * MiB);
		mmio_wr(dev, CHAINADDR, 8, IOVA_BASE);
		mmio_wr(dev, CHANCTRL, 2, CTRL_ABORT_EN);
		mmio_wr(dev, DMACOUNT, 2, 65535);
		switch (round) {
		case 0:
			/* Detached under it: the copy faults and halts. */
			CHECK_EQ(detach(dev), 0);
			st = wait_state(dev, 1u << ST_DONE | 1u << ST_HALTED);
			CHECK(st == ST_HALTED || st == ST_DONE);
			break;
		case 1:
			/* A reset cancels it. */
			CHECK_EQ(t_ioctl(dev, VFIO_DEVICE_RESET, NULL), 0);
			CHECK_EQ(mmio_rd(dev, CHANSTS, 8) & 7, ST_HALTED);
			break;
		default:
			break; /* closed while it runs */
		}
		t_close(dev);
	}
	t_close(iommufd);
}

struct opener {
	int container;
	uint32_t group_nr;
	const char *bdf;
	int rc;
};

/* What the perf test's threads do, on one container. */
static void *open_in_container(void *arg)
{
	struct opener *o = arg;
	struct vfio_device_info info = { .argsz = sizeof(info) };
	int group, dev, i;

	o->rc = 0;
	for (i = 0; i < 20 && !o->rc; i++) {
		group = t_open(UFD_FD_VFIO_GROUP, o->group_nr);
		if (group < 0) {
			o->rc = group;
			break;
		}
		o->rc = (int)t_ioctl(group, VFIO_GROUP_SET_CONTAINER,
				     &o->container);
		/* One thread wins SET_IOMMU; the others get -EINVAL. */
		t_ioctl_int(o->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
		dev = o->rc ? -1 :
			      (int)t_ioctl(group, VFIO_GROUP_GET_DEVICE_FD,
					   o->bdf);
		if (!o->rc && dev < 0)
			o->rc = dev;
		if (!o->rc)
			o->rc = (int)t_ioctl(dev, VFIO_DEVICE_GET_INFO, &info);
		if (dev >= 0)
			t_close(dev);
		t_close(group);
	}
	return NULL;
}


static void test_concurrent_opens(void)
{
	struct opener o[2];
	pthread_t th[2];
	int container, i;

	container = t_open(UFD_FD_VFIO_CONTAINER, 0);
	REQUIRE(container >= FD_BASE);
	for (i = 0; i < 2; i++) {
		o[i].container = container;
		o[i].group_nr = 3 + (uint32_t)i;
		o[i].bdf = i ? BDF1 : BDF0;
		pthread_create(&th[i], NULL, open_in_container, &o[i]);
	}
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		CHECK_EQ(o[i].rc, 0);
	}
	t_close(container);
}

static void test_ioctl_names(void)
{
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_DEVICE,
					  VFIO_DEVICE_SET_IRQS),
		      "VFIO_DEVICE_SET_IRQS"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_DEVICE,
					  VFIO_DEVICE_BIND_IOMMUFD),
		      "VFIO_DEVICE_BIND_IOMMUFD"));
	/* One number, one name per kind. */
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_DEVICE, 0x3b70),
		      "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_CONTAINER, 0x3b70),
		      "VFIO_IOMMU_GET_INFO"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_CONTAINER, 0x3b75),
		      "VFIO_IOMMU_DIRTY_PAGES"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_GROUP,
					  VFIO_GROUP_GET_DEVICE_FD),
		      "VFIO_GROUP_GET_DEVICE_FD"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_GROUP, 0x3b70), "?"));
	CHECK(!strcmp(ufd_file_ioctl_name(UFD_FD_VFIO_CONTAINER,
					  VFIO_SET_IOMMU),
		      "VFIO_SET_IOMMU"));
}

int main(void)
{
	eng = ufd_engine_new();
	if (!eng)
		return 1;
	caller.ops = &fake_ops;
	caller.eng = eng;
	caller.mem = ufd_source_local();
	ufd_cred_self(&caller.cred);
	caller.cred.cap_ipc_lock = true;
	caller.cred.memlock_limit = UINT64_MAX;
	mem = harness_map_aligned(MEM_LEN, &mem_area);
	if (!mem)
		return 1;

	RUN(test_platform_spec);
	RUN(test_cdev_path);
	RUN(test_regions_and_irq_info);
	RUN(test_config_space);
	RUN(test_bar_access);
	RUN(test_set_irqs);
	RUN(test_intx_delivery);
	RUN(test_msi_delivery);
	RUN(test_reset_and_features);
	RUN(test_virqfds);
	RUN(test_config_flr);
	RUN(test_group_legacy_container);
	RUN(test_group_iommufd_container);
	RUN(test_p2p);
	RUN(test_dma_vs_teardown);
	RUN(test_concurrent_opens);
	RUN(test_ioctl_names);

	ufd_vfio_platform_teardown();
	munmap(mem_area, MEM_LEN + 2 * MiB);
	ufd_source_put(caller.mem);
	CHECK_EQ(ufd_engine_check(eng), 0);
	ufd_engine_free(eng);
	HARNESS_EXIT();
}
