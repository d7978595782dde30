// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the VFIO files: the legacy container, groups and
 * devices (src/uapi/vfio_*.c) over an emulated machine of an I/OAT device
 * and an 82576 NIC with SR-IOV (its sriov_numvfs file makes and removes
 * VFs, each a device of its own group), driven the way a transport drives
 * them (ufd_file_open, _ioctl, _read/_write with positions, _mmap, _mmio,
 * _release).  Every input is a sequence of operations on at most
 * MAX_SLOTS open files; at its end every file still open is released and
 * the VFs removed, so the machine is back at rest (devices reset on their
 * last close) for the next input.
 *
 * Memory: the caller's memory is a sandbox (sandbox.h), so no address an
 * input makes up reaches the fuzzer's own memory, and the device models'
 * DMA only ever lands in the arena.  The only fds a call may take from the
 * "caller" (SET_IRQS, IOEVENTFD) are two eventfds of the harness.
 *
 * Input format: records of [selector, slot, then the operation's bytes];
 * a missing byte reads as 0.  What each selector does is in run_op().
 * Single-threaded harness; the models' workers run as they do in the
 * daemon.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "engine/engine.h"
#include "uapi/dispatch.h"
#include "uapi/vfio.h"
#include "uiommufd.h"

#define PAGE 4096ULL
#define ARENA_BASE 0x10000000ULL
#define ARENA_SIZE (4ULL << 20)
#define NPAGES (ARENA_SIZE / PAGE)
#define CMD_OFF (ARENA_SIZE - 2 * PAGE)
#define STR_OFF (ARENA_SIZE - PAGE)

#define MAX_SLOTS 12
#define FD_BASE 100
#define MAX_OPS 96
#define SPEC "ioat;0000:00:04.0;3;0;xfercap=12|igb;0000:00:05.0;4;1;"
/* The igb's sriov_numvfs (UFD_FD_SRIOV_NUMVFS): its routing index. */
#define NIC_ROUTING 0x0028u

__attribute__((noreturn, format(printf, 1, 2))) static void
die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fuzz_vfio: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

#include "sandbox.h"

static struct {
	const uint8_t *p;
	size_t n;
	struct sandbox sb;
	struct ufd_engine *eng;
	struct ufd_caller caller;
	struct {
		bool used;
		struct ufd_file file;
	} slots[MAX_SLOTS];
	int efd[2];  /* the eventfds a call may take */
} S;

static uint8_t u8(void)
{
	uint8_t v = 0;

	if (S.n) {
		v = *S.p++;
		S.n--;
	}
	return v;
}

static uint16_t u16(void)
{
	return (uint16_t)(u8() | u8() << 8);
}

static uint32_t u32(void)
{
	return (uint32_t)u16() | (uint32_t)u16() << 16;
}

/* ---- the fake transport ------------------------------------------------ */

static struct ufd_file *slot_file(int fd)
{
	if (fd < FD_BASE || fd >= FD_BASE + MAX_SLOTS ||
	    !S.slots[fd - FD_BASE].used)
		return NULL;
	return &S.slots[fd - FD_BASE].file;
}

static int slot_new(const struct ufd_file *file)
{
	unsigned int i;

	for (i = 0; i < MAX_SLOTS; i++) {
		if (S.slots[i].used)
			continue;
		S.slots[i].used = true;
		S.slots[i].file = *file;
		return FD_BASE + (int)i;
	}
	return -EMFILE;
}

static void slot_close(int fd)
{
	struct ufd_file *f = slot_file(fd);

	if (!f)
		return;
	ufd_file_release(f, true);
	S.slots[fd - FD_BASE].used = false;
}

static int fake_make_file(const struct ufd_caller *c,
			  const struct ufd_file *file)
{
	return slot_new(file);
}

static int fake_make_fd(const struct ufd_caller *c, struct ufd_ctx *ctx,
			enum ufd_fd_kind kind, uint32_t obj_id)
{
	struct ufd_file f = { .kind = kind, .ctx = ctx, .obj_id = obj_id };
	int fd;

	ufd_ctx_get(ctx);
	fd = slot_new(&f);
	if (fd < 0)
		ufd_ctx_put(ctx);
	return fd;
}

static void fake_unmake_fd(const struct ufd_caller *c, int fd)
{
	struct ufd_file *f = slot_file(fd);

	if (!f)
		return;
	ufd_file_release(f, false);
	S.slots[fd - FD_BASE].used = false;
}

static int fake_resolve_file(const struct ufd_caller *c, int fd,
			     struct ufd_file *out)
{
	struct ufd_file *f = slot_file(fd);

	if (!f)
		return -EBADF;
	*out = *f;
	return 0;
}

static int fake_resolve_fd(const struct ufd_caller *c, struct ufd_ctx *ctx,
			   int fd, enum ufd_fd_kind kind, uint32_t *obj_id)
{
	struct ufd_file *f = slot_file(fd);

	if (!f || f->kind != kind)
		return -EBADF;
	if (f->ctx != ctx)
		return -ENOENT;
	*obj_id = f->obj_id;
	return 0;
}

/* Only the harness's eventfds: signalling must never reach another fd. */
static int fake_take_fd(const struct ufd_caller *c, int fd)
{
	int nfd;

	if (fd != S.efd[0] && fd != S.efd[1])
		return -EBADF;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	return nfd < 0 ? -errno : nfd;
}

static const struct ufd_caller_ops fake_ops = {
	.make_fd = fake_make_fd,
	.unmake_fd = fake_unmake_fd,
	.resolve_fd = fake_resolve_fd,
	.make_file = fake_make_file,
	.resolve_file = fake_resolve_file,
	.take_fd = fake_take_fd,
};

/* ---- operations ---------------------------------------------------------- */

static const unsigned long vfio_cmds[] = {
	VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU,
	VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA,
	VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER,
	VFIO_GROUP_UNSET_CONTAINER, VFIO_GROUP_GET_DEVICE_FD,
	VFIO_DEVICE_GET_INFO, VFIO_DEVICE_GET_REGION_INFO,
	VFIO_DEVICE_GET_IRQ_INFO, VFIO_DEVICE_SET_IRQS, VFIO_DEVICE_RESET,
	VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_DEVICE_PCI_HOT_RESET,
	VFIO_DEVICE_FEATURE, VFIO_DEVICE_BIND_IOMMUFD,
	VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT,
	VFIO_DEVICE_IOEVENTFD, IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP,
	IOMMU_IOAS_UNMAP, IOMMU_VFIO_IOAS,
};

static const enum ufd_fd_kind open_kinds[] = {
	UFD_FD_IOMMUFD, UFD_FD_VFIO_CONTAINER, UFD_FD_VFIO_GROUP,
	UFD_FD_VFIO_DEVICE, UFD_FD_SRIOV_NUMVFS,
};

static int slot_fd(uint8_t v)
{
	return FD_BASE + v % MAX_SLOTS;
}

/* An fd number as an input names one: a slot, an eventfd, or garbage. */
static int gen_fd(uint8_t v)
{
	switch (v >> 6) {
	case 0:
	case 1:
		return slot_fd(v);
	case 2:
		return S.efd[v & 1];
	default:
		return (int)(int8_t)v;
	}
}

static void arena_put(uint64_t off, const void *buf, size_t len)
{
	if (off < ARENA_SIZE && len <= ARENA_SIZE - off)
		memcpy(S.sb.mem + off, buf, len);
}

/*
 * An ioctl: the command's struct from the input at CMD_OFF, its first u32
 * (argsz or size) usually made plausible, pointers in it left as the
 * input made them (they go through the sandbox), and fd fields (where the
 * commands have them) named from slots or eventfds.
 */
static void op_ioctl(struct ufd_file *f)
{
	unsigned long cmd;
	uint8_t sel = u8(), shape = u8();
	uint8_t buf[256];
	uint64_t arg = ARENA_BASE + CMD_OFF;
	unsigned int i, len = shape & 0x80 ? u8() : 64;

	cmd = sel < 240 ? vfio_cmds[sel % (sizeof(vfio_cmds) /
					   sizeof(vfio_cmds[0]))] :
			  (unsigned long)u32();
	if (len > sizeof(buf))
		len = sizeof(buf);
	for (i = 0; i < len; i++)
		buf[i] = u8();
	if (!(shape & 1)) {
		/* argsz/size: the struct's plausible size, or a bit off. */
		uint32_t sz = 8 + (shape >> 1 & 0x1f) * 4;

		memcpy(buf, &sz, sizeof(sz));
	}
	switch (cmd) {
	case VFIO_GROUP_SET_CONTAINER: {
		int fd = gen_fd(buf[4]);

		memcpy(buf, &fd, sizeof(fd));
		break;
	}
	case VFIO_DEVICE_BIND_IOMMUFD: {
		int32_t fd = gen_fd(buf[12]);

		memcpy(buf + 8, &fd, sizeof(fd));
		break;
	}
	case VFIO_DEVICE_SET_IRQS:
	case VFIO_DEVICE_IOEVENTFD:
		/* Eventfds, where the data or fd field is. */
		for (i = 20; i + 4 <= len && i < 40; i += 4) {
			int fd = gen_fd(buf[i]);

			if (shape & 2)
				memcpy(buf + i, &fd, sizeof(fd));
		}
		break;
	case VFIO_GROUP_GET_DEVICE_FD: {
		static const char *const names[] = {
			"0000:00:04.0", "0000:00:05.0", "0000:00:04.0 x",
			"0000:00:05.0 vf_token=00000000-0000-0000-0000-000000000000",
			"00:04.0", "",
			"0000:01:15.0 vf_token=00000000-0000-0000-0000-000000000000",
			"0000:01:15.0",
		};
		const char *name = names[shape % 8];

		arena_put(STR_OFF, name, strlen(name) + 1);
		arg = shape & 0x40 ? ARENA_BASE + STR_OFF :
				     ARENA_BASE + CMD_OFF;
		break;
	}
	case VFIO_CHECK_EXTENSION:
	case VFIO_SET_IOMMU:
		arg = buf[0] % 12;
		break;
	default:
		break;
	}
	arena_put(CMD_OFF, buf, len);
	if (shape & 0x20)
		arg = ARENA_BASE + ARENA_SIZE - (shape & 0x1f); /* edge */
	ufd_file_ioctl(f, &S.caller, cmd, arg);
}

static void op_rw(struct ufd_file *f, bool write)
{
	static const char *const numvfs[] = { "0", "1", "2\n", "8", "9",
					      "x", "0x3", "65536" };
	uint64_t pos = (uint64_t)(u8() % 10) << 40 | u16();
	uint64_t count = u8() % 24;
	uint64_t buf = ARENA_BASE + (u8() & 1 ? 0 : ARENA_SIZE - 8);
	uint8_t how = u8();

	if (how & 1)
		pos = u32() | (uint64_t)u32() << 32;
	if (f->kind == UFD_FD_SRIOV_NUMVFS && write && (how & 4)) {
		/* A number, as a program writes one. */
		const char *text = numvfs[how >> 5];

		arena_put(0, text, strlen(text));
		buf = ARENA_BASE;
		count = strlen(text);
		pos = 0;
	}
	if (write)
		ufd_file_write(f, &S.caller, buf, count, how & 2 ? NULL : &pos);
	else
		ufd_file_read(f, &S.caller, buf, count, how & 2 ? NULL : &pos);
}

static void op_mmio(struct ufd_file *f)
{
	static const unsigned int sizes[] = { 1, 2, 4, 8, 3, 16 };
	unsigned int region = u8() % 8, size = sizes[u8() % 6];
	uint64_t off = u32() & 0x1ffff, val = u32();
	bool write = u8() & 1;

	ufd_file_mmio(f, region, off, size, write, &val);
}

static void op_mmap(struct ufd_file *f)
{
	struct ufd_file_mmap where;
	uint64_t off = (uint64_t)(u8() % 10) << 40 | (uint64_t)u16() << 4;
	uint64_t len = (uint64_t)u16() << 4;

	ufd_file_mmap(f, off, len, u8() & 7, &where);
}

/* IOAS_MAP of arena pages on an iommufd or container slot's context. */
static void op_map_arena(struct ufd_file *f)
{
	struct iommu_ioas_map m = { .size = sizeof(m) };
	uint32_t ioas_id;

	if (!f->ctx)
		return;
	m.ioas_id = u8() % 4;
	if (!m.ioas_id && !ufd_ctx_get_compat_ioas(f->ctx, &ioas_id))
		m.ioas_id = ioas_id;
	m.flags = IOMMU_IOAS_MAP_FIXED_IOVA | (u8() & 6);
	m.user_va = ARENA_BASE + (u8() % 16) * PAGE;
	m.length = (1 + u8() % 16) * PAGE;
	m.iova = (uint64_t)(u8() % 64) * PAGE;
	arena_put(CMD_OFF, &m, sizeof(m));
	if (f->kind == UFD_FD_IOMMUFD)
		ufd_file_ioctl(f, &S.caller, IOMMU_IOAS_MAP,
			       ARENA_BASE + CMD_OFF);
}

static void run_op(void)
{
	uint8_t sel = u8();
	int fd = slot_fd(u8());
	struct ufd_file *f = slot_file(fd);

	switch (sel % 9) {
	case 0: { /* open a node */
		struct ufd_file nf;
		enum ufd_fd_kind kind = open_kinds[u8() % 5];
		uint32_t index = u8() % 14;

		if (kind == UFD_FD_SRIOV_NUMVFS)
			index = index & 1 ? NIC_ROUTING : index;
		if (!ufd_file_open(&nf, &S.caller, kind, index, O_RDWR) &&
		    slot_new(&nf) < 0)
			ufd_file_release(&nf, true);
		break;
	}
	case 1:
		slot_close(fd);
		break;
	case 2:
	case 3:
		if (f)
			op_ioctl(f);
		break;
	case 4:
		if (f)
			op_rw(f, u8() & 1);
		break;
	case 5:
		if (f)
			op_mmio(f);
		break;
	case 6:
		if (f)
			op_mmap(f);
		break;
	case 7:
		if (f)
			op_map_arena(f);
		break;
	case 8: { /* what the program's side of the eventfds sees */
		uint64_t v;

		if (read(S.efd[u8() & 1], &v, sizeof(v)) < 0 &&
		    errno != EAGAIN)
			die("eventfd read: %s", strerror(errno));
		break;
	}
	}
}

/* Write 0 to the NIC's sriov_numvfs (nothing is open: it must work). */
static void numvfs_zero(void)
{
	struct ufd_file nf;
	long rc;

	if (ufd_file_open(&nf, &S.caller, UFD_FD_SRIOV_NUMVFS, NIC_ROUTING,
			  O_RDWR))
		die("cannot open sriov_numvfs");
	arena_put(0, "0", 1);
	rc = ufd_file_write(&nf, &S.caller, ARENA_BASE, 1, NULL);
	ufd_file_release(&nf, true);
	if (rc != 1)
		die("sriov_numvfs 0 at rest: %ld", rc);
}

static void setup_once(void)
{
	static bool done;
	int rc;

	if (done)
		return;
	done = true;
	S.eng = ufd_engine_new();
	if (!S.eng)
		die("no engine");
	rc = ufd_vfio_platform_setup(S.eng, SPEC);
	if (rc)
		die("platform setup: %d", rc);
	S.sb.mem = aligned_alloc(PAGE, ARENA_SIZE);
	if (!S.sb.mem)
		die("no arena");
	memset(S.sb.mem, 0, ARENA_SIZE);
	S.sb.src.ops = &sb_ops;
	S.sb.src.refs = 1;
	S.sb.src.space_id = 0x5a4db0c6;
	S.sb.src.owner_pid = getpid();
	S.caller.ops = &fake_ops;
	S.caller.eng = S.eng;
	S.caller.mem = &S.sb.src;
	ufd_cred_self(&S.caller.cred);
	S.caller.cred.cap_ipc_lock = true;
	S.caller.cred.memlock_limit = UINT64_MAX;
	S.efd[0] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	S.efd[1] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (S.efd[0] < 0 || S.efd[1] < 0)
		die("eventfd");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned int i;

	setup_once();
	S.p = data;
	S.n = size;
	for (i = 0; i < MAX_OPS && S.n; i++)
		run_op();
	/* Back at rest: every file released, devices reset, VFs gone. */
	for (i = 0; i < MAX_SLOTS; i++)
		slot_close(FD_BASE + (int)i);
	numvfs_zero();
	return 0;
}
