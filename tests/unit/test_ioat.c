/* SPDX-License-Identifier: MIT */
/*
 * The device models (src/devices/): the generic PCI function through a
 * small model of the test's own (config write masks and write-1-to-clear
 * bits, BAR sizing, the capability list, INTx / MSI / MSI-X delivery and
 * masking, FLR), then the I/OAT model driven exactly as a driver drives
 * it: bound to an engine device attached to an IOAS, its DMA going
 * through the IO page table, registers polled from this thread while the
 * model's worker copies.  Checks what Linux's ioatdma, the VFIO
 * selftest's ioat driver and DPDK's ioat dmadev rely on.
 *
 * IOVA ranges here are [iova, iova + len).  The host ops count interrupts
 * under a mutex: the model sends them from its worker thread.
 */
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "engine/engine.h" /* ufd_fail_nth */
#include "uiommufd.h"
#define HARNESS_MMAP
#include "harness.h"
#include "pci_host.h"

#define PS 4096ULL
#define MiB (1ULL << 20)

/* The I/OAT registers as a driver knows them (BAR0 offsets). */
#define CHANCNT 0x00
#define XFERCAP 0x01
#define INTRCTRL 0x03
#define ATTNSTATUS 0x04
#define CBVER 0x08
#define DMACAP 0x10
#define CHANCTRL 0x80
#define CHANCMD 0x84
#define DMACOUNT 0x86
#define CHANSTS 0x88
#define CHAINADDR 0x90
#define CHANCMP 0x98
#define CHANERR 0xa8
#define MSIX_TABLE 0x2000
#define MSIX_PBA 0x3000

#define INTRCTRL_MASTER 0x01
#define INTRCTRL_INT_STATUS 0x02
#define INTRCTRL_INT 0x04
#define INTRCTRL_MSIX_VC 0x08
#define CTRL_REARM 0x0001
#define CTRL_ERR_COMPL 0x0004
#define CTRL_ABORT_EN 0x0008
#define CTRL_ERR_INT 0x0010
#define CTRL_IN_USE 0x0100
#define CMD_RESET 0x20
#define CMD_RESUME 0x10
#define CMD_ABORT 0x08
#define CMD_SUSPEND 0x04
#define ST_ACTIVE 0
#define ST_DONE 1
#define ST_SUSPENDED 2
#define ST_HALTED 3
#define ST_ARMED 4
#define ERR_SRC 0x0001
#define ERR_DST 0x0002
#define ERR_NEXT 0x0004
#define ERR_ALIGN 0x0008
#define ERR_CHAIN 0x0010
#define ERR_READ_DATA 0x0100
#define ERR_WRITE_DATA 0x0200
#define ERR_CONTROL 0x0400
#define ERR_LENGTH 0x0800
#define ERR_COMPL_ADDR 0x1000
#define D_INT 0x01
#define D_COMPL 0x08
#define D_NULL 0x20
#define D_FILL (1u << 24)

/* Guest memory: one 8 MiB mapping at IOVA_BASE. */
#define IOVA_BASE (1ULL << 32)
#define IOVA_UNMAPPED (IOVA_BASE + (1ULL << 30))
#define DESC_OFF 0
#define CMP_OFF (1 * MiB)
#define SRC_OFF (2 * MiB)
#define DST_OFF (4 * MiB)
#define DST2_OFF (6 * MiB)

static struct ufd_engine *eng;
static struct ufd_source *src;
static uint8_t *mem;
static const size_t mem_len = 8 * MiB;

/* ---- the rig: engine device, IOAS, mapping, port, model instance -------- */

struct rig {
	struct ufd_ctx *ctx;
	uint32_t ioas, dev, pt;
	struct host host;
	struct ufd_pci_dev *pdev;
};

static int rig_open(struct rig *r, const struct ufd_pci_model *model,
		    const char *args)
{
	struct ufd_cred cred;
	int rc;

	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->host.lock, NULL);
	ufd_cred_self(&cred);
	cred.cap_ipc_lock = true;
	rc = ufd_ctx_open(eng, &cred, &r->ctx);
	if (!rc)
		rc = host_attach(&r->host, r->ctx, src, mem, mem_len,
				 IOVA_BASE, 0, &r->ioas, &r->dev, &r->pt);
	if (!rc)
		rc = ufd_pci_dev_create(model, args, &host_ops, &r->host,
					&r->pdev);
	return rc;
}

static void rig_close(struct rig *r)
{
	ufd_pci_dev_destroy(r->pdev);
	ufd_dma_close(r->host.port);
	if (r->ctx)
		ufd_ctx_close(r->ctx);
	pthread_mutex_destroy(&r->host.lock);
}

static uint64_t rd(struct rig *r, unsigned int off, unsigned int size)
{
	uint64_t v = 0xdeadbeef;

	CHECK_EQ(ufd_pci_bar_read(r->pdev, 0, off, size, &v), 0);
	return v;
}

static void wr(struct rig *r, unsigned int off, unsigned int size, uint64_t v)
{
	CHECK_EQ(ufd_pci_bar_write(r->pdev, 0, off, size, v), 0);
}

static uint32_t cfg_rd(struct rig *r, unsigned int off, unsigned int size)
{
	uint32_t v = 0xdeadbeef;

	CHECK_EQ(ufd_pci_cfg_read(r->pdev, off, size, &v), 0);
	return v;
}

static void cfg_wr(struct rig *r, unsigned int off, unsigned int size,
		   uint32_t v)
{
	CHECK_EQ(ufd_pci_cfg_write(r->pdev, off, size, v), 0);
}

static unsigned int status(struct rig *r)
{
	return (unsigned int)(rd(r, CHANSTS, 8) & 7);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Poll CHANSTS until it leaves ACTIVE, as a driver spins; 20 s at most. */
static unsigned int wait_idle(struct rig *r)
{
	double end = now() + 20;
	unsigned int st;

	while ((st = status(r)) == ST_ACTIVE && now() < end)
		sched_yield();
	return st;
}

static uint64_t desc_iova(unsigned int i)
{
	return IOVA_BASE + DESC_OFF + 64ULL * i;
}

static void desc_set(unsigned int i, uint32_t size, uint32_t ctl, uint64_t s,
		     uint64_t d, uint64_t next)
{
	uint8_t *p = mem + DESC_OFF + 64 * i;

	memset(p, 0, 64);
	memcpy(p + 0, &size, 4);
	memcpy(p + 4, &ctl, 4);
	memcpy(p + 8, &s, 8);
	memcpy(p + 16, &d, 8);
	memcpy(p + 24, &next, 8);
}

static uint64_t cmp_value(void)
{
	uint64_t v;

	memcpy(&v, mem + CMP_OFF, 8);
	return v;
}

/* Bus master on, the channel reset (and found HALTED), as drivers start. */
static void enable(struct rig *r)
{
	cfg_wr(r, PCI_COMMAND, 2,
	       PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
		       PCI_COMMAND_INTX_DISABLE);
	wr(r, CHANERR, 4, rd(r, CHANERR, 4));
	wr(r, CHANCMD, 1, CMD_RESET);
	CHECK_EQ(rd(r, CHANCMD, 1) & CMD_RESET, 0);
	CHECK_EQ(status(r), ST_HALTED);
}

/* Load the chain (as two 32-bit writes, as ioatdma does, or one 64-bit). */
static void start(struct rig *r, uint64_t chain, uint16_t ctrl, uint16_t count,
		  bool halves)
{
	if (halves) {
		wr(r, CHAINADDR, 4, chain & 0xffffffff);
		wr(r, CHAINADDR + 4, 4, chain >> 32);
	} else {
		wr(r, CHAINADDR, 8, chain);
	}
	wr(r, CHANCMP, 8, IOVA_BASE + CMP_OFF);
	wr(r, CHANCTRL, 2, ctrl);
	wr(r, DMACOUNT, 2, count);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 12));
}

/* ---- the generic PCI function, through a model of the test's own -------- */

static unsigned int testdev_resets;
static uint64_t testdev_scratch;
static bool testdev_fail;

static int testdev_create(struct ufd_pci_dev *pdev, const char *args)
{
	int rc;

	rc = ufd_pci_add_bar(pdev, 0, 4096, UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_bar(pdev, 2, MiB,
				     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_PREFETCH);
	if (!rc)
		rc = ufd_pci_add_pm_cap(pdev, 0x40);
	if (!rc)
		rc = ufd_pci_add_msi_cap(pdev, 0x50, 4);
	if (!rc)
		rc = ufd_pci_add_msix_cap(pdev, 0x70, 8, 2, 0, 2, 0x800);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0x80, PCI_EXP_TYPE_ENDPOINT);
	if (!rc)
		rc = ufd_pci_set_intx_pin(pdev, 1);
	if (!rc)
		rc = ufd_pci_cfg_define(pdev, 0x200, 4, 0, 0, 0xffffffff);
	if (!rc)
		rc = ufd_pci_cfg_define(pdev, 0x204, 4, 0, 0xffffffff, 0);
	if (!rc && testdev_fail)
		rc = -ENOSPC; /* after the MSI-X table was allocated */
	return rc;
}

static void testdev_reset(struct ufd_pci_dev *pdev)
{
	testdev_resets++;
	testdev_scratch = 0;
}

static uint64_t testdev_read(struct ufd_pci_dev *pdev, unsigned int bar,
			     uint64_t off, unsigned int size)
{
	return testdev_scratch;
}

static void testdev_write(struct ufd_pci_dev *pdev, unsigned int bar,
			  uint64_t off, unsigned int size, uint64_t value)
{
	testdev_scratch = value;
}

static const struct ufd_pci_model testdev = {
	.name = "testdev",
	.description = "the unit test's own function",
	.vendor_id = 0x1234,
	.device_id = 0x5678,
	.subsystem_vendor_id = 0x1af4,
	.subsystem_id = 0x1100,
	.class_code = 0x0c0330,
	.revision = 7,
	.create = testdev_create,
	.reset = testdev_reset,
	.bar_read = testdev_read,
	.bar_write = testdev_write,
};

/*
 * A VF of the test's own, shaped as an 82576 VF (which needs an igb PF:
 * test_igbvf.c drives that one): BAR0, MSI-X with 3 vectors in BAR3,
 * PCIe with FLR.
 */
static int sriovvf_create(struct ufd_pci_dev *pdev, const char *args)
{
	int rc;

	(void)args;
	rc = ufd_pci_add_bar(pdev, 0, 0x4000,
			     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_bar(pdev, 3, 0x4000,
				     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_msix_cap(pdev, 0x70, 3, 3, 0, 3, 0x2000);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0xa0, PCI_EXP_TYPE_ENDPOINT);
	return rc;
}

static const struct ufd_pci_model sriovvf = {
	.name = "sriovvf",
	.description = "the unit test's own virtual function",
	.vendor_id = 0x8086,
	.device_id = 0x10ca,
	.class_code = 0x020000,
	.create = sriovvf_create,
};

/* A PF of the test's own with SR-IOV; its VFs are sriovvf functions. */
static int sriovdev_create(struct ufd_pci_dev *pdev, const char *args)
{
	const struct ufd_pci_sriov sriov = {
		.vf_model = &sriovvf,
		.total_vfs = 4,
		.first_vf_offset = 0x180,
		.vf_stride = 2,
		.vf_bar = { [0] = { 0x4000, UFD_PCI_BAR_MEM64 },
			    [3] = { 0x4000, UFD_PCI_BAR_MEM64 } },
	};
	int rc;

	rc = ufd_pci_add_bar(pdev, 0, 4096, UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0x80, PCI_EXP_TYPE_ENDPOINT);
	if (!rc)
		rc = ufd_pci_add_sriov_cap(pdev, 0x100, &sriov);
	return rc;
}

/* BAR0 offset 8 reads as a PF STATUS with link up at 1000 full duplex. */
static uint64_t sriovdev_read(struct ufd_pci_dev *pdev, unsigned int bar,
			      uint64_t off, unsigned int size)
{
	return off == 8 ? 0x80083 : 0;
}

static const struct ufd_pci_model sriovdev = {
	.name = "sriovdev",
	.description = "the unit test's own SR-IOV physical function",
	.vendor_id = 0x8086,
	.device_id = 0x10c9,
	.class_code = 0x020000,
	.create = sriovdev_create,
	.bar_read = sriovdev_read,
};

static void test_pci_sriov(void)
{
	const struct ufd_pci_sriov bad = { .vf_model = &ufd_pci_model_igbvf,
					   .total_vfs = 2,
					   .vf_stride = 1 };
	struct host vfhost = { 0 };
	struct ufd_pci_dev_info info;
	struct ufd_pci_dev *pf, *vf, *vf1;
	uint32_t v = 0;
	unsigned int at = 0x100;

	pthread_mutex_init(&vfhost.lock, NULL);
	REQUIRE(ufd_pci_dev_create(&sriovdev, NULL, NULL, NULL, &pf) == 0);
	/* The extended capability: ID 0x10, version 1, the only one. */
	CHECK_EQ(ufd_pci_cfg_read(pf, at, 4, &v), 0);
	CHECK_EQ(v, 0x00010010u);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_TOTAL_VF, 2, &v), 0);
	CHECK_EQ(v, 4u);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_VF_OFFSET, 2, &v), 0);
	CHECK_EQ(v, 0x180u);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_VF_DID, 2, &v), 0);
	CHECK_EQ(v, 0x10cau);
	/* A VF BAR sizes like a BAR: all-ones reads back the size mask. */
	CHECK_EQ(ufd_pci_cfg_write(pf, at + PCI_SRIOV_BAR, 4, 0xffffffff), 0);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_BAR, 4, &v), 0);
	CHECK_EQ(v, 0xffffc004u);
	/* Only one SR-IOV capability; not in standard space. */
	CHECK_EQ(ufd_pci_add_sriov_cap(pf, 0x200, &bad), -EINVAL);
	ufd_pci_dev_info(pf, &info);
	CHECK_EQ(info.sriov_total_vfs, 4);
	CHECK_EQ(info.sriov_vf_stride, 2);
	CHECK(!info.is_vf);

	/* No VF before VF Enable; none beyond NumVFs, none beyond TotalVFs. */
	CHECK_EQ(ufd_pci_vf_create(pf, 0, &host_ops, &vfhost, &vf), -EINVAL);
	CHECK_EQ(ufd_pci_sriov_set_num_vfs(pf, 5), -EINVAL);
	CHECK_EQ(ufd_pci_sriov_set_num_vfs(pf, 2), 0);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_CTRL, 2, &v), 0);
	CHECK_EQ(v & (PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE),
		 (unsigned int)(PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE));
	CHECK_EQ(ufd_pci_vf_create(pf, 2, &host_ops, &vfhost, &vf), -EINVAL);
	/* The igbvf model is made by SR-IOV only. */
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_igbvf, NULL, NULL, NULL,
				    &vf),
		 -EINVAL);
	REQUIRE(ufd_pci_vf_create(pf, 0, &host_ops, &vfhost, &vf) == 0);
	REQUIRE(ufd_pci_vf_create(pf, 1, NULL, NULL, &vf1) == 0);
	ufd_pci_dev_info(vf1, &info);
	CHECK(info.is_vf);
	CHECK_EQ(info.vf_index, 1u);
	CHECK_EQ(info.device_id, 0x10ca);
	CHECK_EQ(info.msix_vectors, 3u);
	CHECK_EQ(info.bar[0].size, 0x4000u);
	CHECK(info.flr);

	/* An FLR of the PF keeps its VFs enabled (the host restores it). */
	ufd_pci_flr(pf);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_NUM_VF, 2, &v), 0);
	CHECK_EQ(v, 2u);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_CTRL, 2, &v), 0);
	CHECK(v & PCI_SRIOV_CTRL_VFE);

	/* The PF knows its VFs; an index is taken once. */
	CHECK(pf->vfs[0] == vf && pf->vfs[1] == vf1 && !pf->vfs[2]);
	CHECK_EQ(ufd_pci_vf_create(pf, 1, NULL, NULL,
				   &(struct ufd_pci_dev *){ NULL }),
		 -EBUSY);
	ufd_pci_flr(vf);
	ufd_pci_dev_destroy(vf1);
	CHECK(!pf->vfs[1]);
	ufd_pci_dev_destroy(vf);
	CHECK(!pf->vfs[0]);
	CHECK_EQ(ufd_pci_sriov_set_num_vfs(pf, 0), 0);
	CHECK_EQ(ufd_pci_cfg_read(pf, at + PCI_SRIOV_CTRL, 2, &v), 0);
	CHECK(!(v & PCI_SRIOV_CTRL_VFE));
	ufd_pci_dev_destroy(pf);
	pthread_mutex_destroy(&vfhost.lock);
}

static void raise_vector(struct rig *r, unsigned int vector)
{
	ufd_pci_lock(r->pdev);
	ufd_pci_raise_irq(r->pdev, vector);
	ufd_pci_unlock(r->pdev);
}

static uint64_t bar2_rd(struct rig *r, uint64_t off, unsigned int size)
{
	uint64_t v = 0;

	CHECK_EQ(ufd_pci_bar_read(r->pdev, 2, off, size, &v), 0);
	return v;
}

static void bar2_wr(struct rig *r, uint64_t off, unsigned int size, uint64_t v)
{
	CHECK_EQ(ufd_pci_bar_write(r->pdev, 2, off, size, v), 0);
}

static void test_pci_header_and_bars(void)
{
	struct ufd_pci_dev_info info;
	struct ufd_pci_dev *failed = NULL;
	struct rig r;
	unsigned int at, order[8], n = 0;

	REQUIRE(rig_open(&r, &testdev, NULL) == 0);
	/* Identity is read-only. */
	CHECK_EQ(cfg_rd(&r, PCI_VENDOR_ID, 4), 0x56781234);
	cfg_wr(&r, PCI_VENDOR_ID, 4, 0);
	CHECK_EQ(cfg_rd(&r, PCI_VENDOR_ID, 2), 0x1234);
	CHECK_EQ(cfg_rd(&r, PCI_CLASS_REVISION, 4), 0x0c033007);
	CHECK_EQ(cfg_rd(&r, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x11001af4);
	CHECK_EQ(cfg_rd(&r, PCI_HEADER_TYPE, 1), 0);
	CHECK_EQ(cfg_rd(&r, PCI_INTERRUPT_PIN, 1), 1);
	/* COMMAND keeps only the bits it implements. */
	cfg_wr(&r, PCI_COMMAND, 2, 0xffff);
	CHECK_EQ(cfg_rd(&r, PCI_COMMAND, 2),
		 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE);
	/* STATUS: CAP_LIST read-only, error bits write-1-to-clear. */
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	ufd_pci_lock(r.pdev);
	ufd_pci_cfg_set(r.pdev, PCI_STATUS, 2,
			ufd_pci_cfg_get(r.pdev, PCI_STATUS, 2) |
				PCI_STATUS_REC_MASTER_ABORT |
				PCI_STATUS_SIG_SYSTEM_ERROR);
	ufd_pci_unlock(r.pdev);
	cfg_wr(&r, PCI_STATUS, 2, 0);
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_REC_MASTER_ABORT);
	cfg_wr(&r, PCI_STATUS, 2, PCI_STATUS_REC_MASTER_ABORT);
	CHECK_EQ(cfg_rd(&r, PCI_STATUS, 2),
		 PCI_STATUS_CAP_LIST | PCI_STATUS_SIG_SYSTEM_ERROR);
	/* BAR sizing: all-ones reads back the size mask and the type. */
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4), 0xfffff000);
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xfebc1234);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4), 0xfebc1000);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_1, 4), 0);
	cfg_wr(&r, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_1, 4), 0);
	cfg_wr(&r, PCI_BASE_ADDRESS_2, 4, 0xffffffff);
	cfg_wr(&r, PCI_BASE_ADDRESS_3, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_2, 4),
		 0xfff00000 | PCI_BASE_ADDRESS_MEM_TYPE_64 |
			 PCI_BASE_ADDRESS_MEM_PREFETCH);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_3, 4), 0xffffffff);
	cfg_wr(&r, PCI_BASE_ADDRESS_3, 4, 0x00000012);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_3, 4), 0x12);
	cfg_wr(&r, PCI_ROM_ADDRESS, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&r, PCI_ROM_ADDRESS, 4), 0);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_5, 4), 0);
	/* The capability list, in the order the model built it. */
	for (at = cfg_rd(&r, PCI_CAPABILITY_LIST, 1); at && n < 8;
	     at = cfg_rd(&r, at + 1, 1))
		order[n++] = cfg_rd(&r, at, 1);
	REQUIRE(n == 4);
	CHECK_EQ(order[0], PCI_CAP_ID_PM);
	CHECK_EQ(order[1], PCI_CAP_ID_MSI);
	CHECK_EQ(order[2], PCI_CAP_ID_MSIX);
	CHECK_EQ(order[3], PCI_CAP_ID_EXP);
	CHECK_EQ(cfg_rd(&r, 0x100, 4), 0); /* no extended capabilities */
	/* A model's registers: write-1-to-clear and read-write. */
	ufd_pci_lock(r.pdev);
	ufd_pci_cfg_set(r.pdev, 0x200, 4, 0xff);
	ufd_pci_unlock(r.pdev);
	cfg_wr(&r, 0x200, 1, 0x0f);
	CHECK_EQ(cfg_rd(&r, 0x200, 4), 0xf0);
	cfg_wr(&r, 0x204, 4, 0x12345678);
	cfg_wr(&r, 0x206, 1, 0xab);
	CHECK_EQ(cfg_rd(&r, 0x204, 4), 0x12ab5678);
	CHECK_EQ(cfg_rd(&r, 0x203, 2), 0x7800); /* unaligned is fine */
	/* PM: D0 and D3hot only. */
	cfg_wr(&r, 0x44, 2, 3);
	CHECK_EQ(cfg_rd(&r, 0x44, 2) & 3, 3);
	cfg_wr(&r, 0x44, 2, 1);
	CHECK_EQ(cfg_rd(&r, 0x44, 2) & 3, 3);
	cfg_wr(&r, 0x44, 2, 0);
	CHECK_EQ(cfg_rd(&r, 0x44, 2), PCI_PM_CTRL_NO_SOFT_RESET);
	/* Bounds. */
	{
		uint32_t v;

		CHECK_EQ(ufd_pci_cfg_read(r.pdev, 4095, 2, &v), -EINVAL);
		CHECK_EQ(ufd_pci_cfg_read(r.pdev, 0, 3, &v), -EINVAL);
		CHECK_EQ(ufd_pci_cfg_write(r.pdev, 4096, 1, 0), -EINVAL);
		CHECK_EQ(ufd_pci_cfg_read(r.pdev, 4095, 1, &v), 0);
	}
	/* Building: conflicts and bad arguments are refused, nothing done. */
	CHECK_EQ(ufd_pci_add_msi_cap(r.pdev, 0xa0, 2), -EEXIST);
	CHECK_EQ(ufd_pci_add_pm_cap(r.pdev, 0x84), -EEXIST);
	CHECK_EQ(ufd_pci_add_bar(r.pdev, 3, 4096, 0), -EBUSY);
	CHECK_EQ(ufd_pci_add_bar(r.pdev, 4, 1000, 0), -EINVAL);
	CHECK_EQ(ufd_pci_add_bar(r.pdev, 5, 4096, UFD_PCI_BAR_MEM64), -EINVAL);
	CHECK_EQ(ufd_pci_add_bar(r.pdev, 4, 1ULL << 32, 0), -EINVAL);
	CHECK_EQ(ufd_pci_cfg_define(r.pdev, 0x52, 2, 0, 0xffff, 0), -EINVAL);
	CHECK_EQ(ufd_pci_cfg_define(r.pdev, 0x204, 4, 0, 0, 0), -EINVAL);
	/* What VFIO's GET_REGION_INFO and GET_IRQ_INFO need. */
	ufd_pci_dev_info(r.pdev, &info);
	CHECK_EQ(info.vendor_id, 0x1234);
	CHECK_EQ(info.config_size, 4096);
	CHECK_EQ(info.bar[0].size, 4096);
	CHECK_EQ(info.bar[0].flags, UFD_PCI_BAR_MMAP);
	CHECK_EQ(info.bar[1].size, 0);
	CHECK_EQ(info.bar[2].size, MiB);
	CHECK_EQ(info.bar[2].flags, UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_PREFETCH);
	CHECK_EQ(info.msi_vectors, 4);
	CHECK_EQ(info.msix_vectors, 8);
	CHECK_EQ(info.msix_table_bar, 2);
	CHECK_EQ(info.msix_table_size, 128);
	CHECK_EQ(info.msix_pba_offset, 0x800);
	CHECK_EQ(info.msix_pba_size, 8);
	CHECK_EQ(info.intx_pin, 1);
	CHECK(info.flr && info.pm);
	/* BAR accesses: the model's, and bounds. */
	CHECK_EQ(ufd_pci_bar_write(r.pdev, 0, 8, 4, 0x1122334455ULL), 0);
	CHECK_EQ(testdev_scratch, 0x22334455);
	{
		uint64_t v;

		CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, 4093, 4, &v), -EINVAL);
		CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, 0, 3, &v), -EINVAL);
		CHECK_EQ(ufd_pci_bar_read(r.pdev, 1, 0, 4, &v), -EINVAL);
		CHECK_EQ(ufd_pci_bar_read(r.pdev, 6, 0, 4, &v), -EINVAL);
		CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, ~0ULL, 8, &v), -EINVAL);
	}
	rig_close(&r);

	/* A create that fails leaves nothing behind (ASan checks leaks). */
	testdev_fail = true;
	CHECK_EQ(ufd_pci_dev_create(&testdev, NULL, NULL, NULL, &failed),
		 -ENOSPC);
	CHECK(!failed);
	testdev_fail = false;
}

static void test_pci_interrupts(void)
{
	struct rig r;
	unsigned int msi = 0x50, msix = 0x70;

	REQUIRE(rig_open(&r, &testdev, NULL) == 0);
	/* INTx: a level; one message for the rising edge. */
	raise_vector(&r, 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 1);
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK(ufd_pci_intx_asserted(r.pdev));
	raise_vector(&r, 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 1);
	cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	cfg_wr(&r, PCI_COMMAND, 2, 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 2);
	ufd_pci_lock(r.pdev);
	ufd_pci_lower_intx(r.pdev);
	ufd_pci_unlock(r.pdev);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	CHECK(!(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));

	/* MSI: 64-bit, maskable, 4 vectors; MME is clamped to MMC. */
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_FLAGS, 2),
		 PCI_MSI_FLAGS_MASKBIT | PCI_MSI_FLAGS_64BIT | (2 << 1));
	cfg_wr(&r, msi + PCI_MSI_ADDRESS_LO, 4, 0xfee00003);
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_ADDRESS_LO, 4), 0xfee00000);
	cfg_wr(&r, msi + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | (7 << 4));
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_FLAGS, 2) & PCI_MSI_FLAGS_QSIZE,
		 2 << 4);
	raise_vector(&r, 3);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 1);
	CHECK_EQ(r.host.last_vector, 3);
	raise_vector(&r, 4); /* beyond the enabled count: dropped */
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 1);
	cfg_wr(&r, msi + PCI_MSI_MASK_64, 4, 0x2);
	raise_vector(&r, 1);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 1);
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_PENDING_64, 4), 0x2);
	cfg_wr(&r, msi + PCI_MSI_PENDING_64, 4, 0); /* read-only */
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_PENDING_64, 4), 0x2);
	cfg_wr(&r, msi + PCI_MSI_MASK_64, 4, 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSI), 2);
	CHECK_EQ(r.host.last_vector, 1);
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_PENDING_64, 4), 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 2); /* not while MSI is on */
	cfg_wr(&r, msi + PCI_MSI_FLAGS, 2, 0);

	/* MSI-X: vectors masked at power-on; PBA; delivery at unmask. */
	cfg_wr(&r, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(bar2_rd(&r, 2 * 16 + 12, 4), 1);
	raise_vector(&r, 2);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 0);
	CHECK_EQ(bar2_rd(&r, 0x800, 8), 1u << 2);
	bar2_wr(&r, 0x800, 8, 0); /* the PBA is read-only */
	CHECK_EQ(bar2_rd(&r, 0x800, 8), 1u << 2);
	bar2_wr(&r, 2 * 16, 8, 0xfee00000);
	bar2_wr(&r, 2 * 16 + 8, 4, 0x4021);
	bar2_wr(&r, 2 * 16 + 12, 4, 0xfffffffe); /* only bit 0 is writable */
	CHECK_EQ(bar2_rd(&r, 2 * 16 + 12, 4), 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 1);
	CHECK_EQ(r.host.last_vector, 2);
	CHECK_EQ(bar2_rd(&r, 0x800, 8), 0);
	CHECK_EQ(bar2_rd(&r, 2 * 16, 8), 0xfee00000);
	CHECK_EQ(bar2_rd(&r, 2 * 16 + 8, 2), 0x4021);
	/* The function mask holds every vector. */
	cfg_wr(&r, msix + PCI_MSIX_FLAGS, 2,
	       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	raise_vector(&r, 2);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 1);
	cfg_wr(&r, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 2);
	raise_vector(&r, 8); /* no such vector */
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 2);
	/* Straddling the table's end: all-ones, and no write. */
	CHECK_EQ(bar2_rd(&r, 124, 8), ~0ULL);
	bar2_wr(&r, 124, 8, 0);
	CHECK_EQ(bar2_rd(&r, 7 * 16 + 12, 4), 1);
	/* Elsewhere in BAR2 the model answers. */
	bar2_wr(&r, 0x900, 2, 0xbeef);
	CHECK_EQ(bar2_rd(&r, 0x900, 2), 0xbeef);

	/* What VFIO's SET_IRQS does through ufd_pci_set_irq_enable(). */
	cfg_wr(&r, msix + PCI_MSIX_FLAGS, 2, 0);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	CHECK_EQ(cfg_rd(&r, msix + PCI_MSIX_FLAGS, 2),
		 PCI_MSIX_FLAGS_ENABLE | 7);
	raise_vector(&r, 5);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 3);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, false), 0);
	CHECK_EQ(bar2_rd(&r, 5 * 16 + 12, 4), 1);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSI, true), 0);
	CHECK_EQ(cfg_rd(&r, msi + PCI_MSI_FLAGS, 2) &
			 (PCI_MSI_FLAGS_QSIZE | PCI_MSI_FLAGS_ENABLE),
		 (2 << 4) | PCI_MSI_FLAGS_ENABLE);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSI, false), 0);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_INTX, true), 0);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, 3, true), -EINVAL);

	/* DMA needs bus master; a failed read is a received master abort. */
	{
		char b[4];

		CHECK_EQ(ufd_pci_dma_read(r.pdev, IOVA_BASE, b, 4), -EIO);
		cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
		CHECK_EQ(ufd_pci_dma_read(r.pdev, IOVA_BASE, b, 4), 0);
		r.host.fail_reads = -EFAULT;
		CHECK_EQ(ufd_pci_dma_read(r.pdev, IOVA_BASE, b, 4), -EFAULT);
		r.host.fail_reads = 0;
		CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_REC_MASTER_ABORT);
		CHECK_EQ(ufd_pci_dma_write(r.pdev, IOVA_UNMAPPED, b, 4),
			 -EFAULT);
	}

	/* FLR through DevCtl: power-on values but the BAR addresses. */
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xfebc0000);
	cfg_wr(&r, PCI_INTERRUPT_LINE, 1, 11);
	cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MASTER | PCI_COMMAND_MEMORY);
	cfg_wr(&r, msix + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	cfg_wr(&r, 0x204, 4, 0x55);
	testdev_resets = 0;
	CHECK(cfg_rd(&r, 0x80 + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR);
	cfg_wr(&r, 0x80 + PCI_EXP_DEVCTL, 2,
	       cfg_rd(&r, 0x80 + PCI_EXP_DEVCTL, 2) | PCI_EXP_DEVCTL_BCR_FLR);
	CHECK_EQ(testdev_resets, 1);
	CHECK_EQ(cfg_rd(&r, 0x80 + PCI_EXP_DEVCTL, 2) & PCI_EXP_DEVCTL_BCR_FLR,
		 0);
	CHECK_EQ(cfg_rd(&r, PCI_COMMAND, 2), 0);
	CHECK_EQ(cfg_rd(&r, msix + PCI_MSIX_FLAGS, 2), 7);
	CHECK_EQ(cfg_rd(&r, 0x204, 4), 0);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4), 0xfebc0000);
	CHECK_EQ(cfg_rd(&r, PCI_INTERRUPT_LINE, 1), 11);
	CHECK_EQ(bar2_rd(&r, 2 * 16 + 12, 4), 1);
	rig_close(&r);
}

/* ---- the I/OAT model --------------------------------------------------- */

static void test_ioat_registry_and_args(void)
{
	const struct ufd_pci_model *m;
	struct ufd_pci_dev *pdev = NULL;
	bool seen = false;
	uint64_t v;

	CHECK(ufd_pci_model_find("ioat") == &ufd_pci_model_ioat);
	CHECK(!ufd_pci_model_find("nonesuch"));
	CHECK(!ufd_pci_model_find(NULL));
	for (m = ufd_pci_model_next(NULL); m; m = ufd_pci_model_next(m)) {
		CHECK(m->name && m->description);
		if (m == &ufd_pci_model_ioat)
			seen = true;
	}
	CHECK(seen);
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_ioat, "xfercap=5", NULL,
				    NULL, &pdev),
		 -EINVAL);
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_ioat, "bogus=1", NULL, NULL,
				    &pdev),
		 -EINVAL);
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_ioat, "errors=maybe", NULL,
				    NULL, &pdev),
		 -EINVAL);
	CHECK_EQ(ufd_pci_dev_create(&ufd_pci_model_ioat, "xfercap", NULL, NULL,
				    &pdev),
		 -EINVAL);
	CHECK(!pdev);
	REQUIRE(ufd_pci_dev_create(&ufd_pci_model_ioat,
				   "xfercap=16,errors=data", NULL, NULL,
				   &pdev) == 0);
	CHECK_EQ(ufd_pci_bar_read(pdev, 0, XFERCAP, 1, &v), 0);
	CHECK_EQ(v, 16);
	ufd_pci_dev_destroy(pdev);
}

/* Every allocation and thread start of create can fail: -errno, no leak. */
static void test_ioat_create_failures(void)
{
	struct ufd_pci_dev *pdev = NULL;
	unsigned long nth;
	int rc = -1;

	for (nth = 1; nth < 100; nth++) {
		ufd_fail_nth(nth);
		rc = ufd_pci_dev_create(&ufd_pci_model_ioat, "errors=data",
					NULL, NULL, &pdev);
		ufd_fail_nth(0);
		if (!rc)
			break;
		CHECK(rc == -ENOMEM || rc == -EAGAIN);
		CHECK(!pdev);
	}
	REQUIRE(rc == 0);
	CHECK(nth >=
	      7); /* pdev, mutex, state, bounce, args, MSI-X x2, thread */
	ufd_pci_dev_destroy(pdev);
}

static void test_ioat_config_space(void)
{
	struct ufd_pci_dev_info info;
	unsigned int at, pm = 0, msi = 0, msix = 0, pcie = 0, n = 0;
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	CHECK_EQ(cfg_rd(&r, PCI_VENDOR_ID, 2), 0x8086);
	CHECK_EQ(cfg_rd(&r, PCI_DEVICE_ID, 2), 0x2021);
	CHECK_EQ(cfg_rd(&r, PCI_CLASS_REVISION, 4) >> 8, 0x088000);
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	for (at = cfg_rd(&r, PCI_CAPABILITY_LIST, 1); at && n < 16;
	     at = cfg_rd(&r, at + 1, 1), n++) {
		switch (cfg_rd(&r, at, 1)) {
		case PCI_CAP_ID_PM:
			pm = at;
			break;
		case PCI_CAP_ID_MSIX:
			msix = at;
			break;
		case PCI_CAP_ID_MSI:
			msi = at;
			break;
		case PCI_CAP_ID_EXP:
			pcie = at;
			break;
		}
	}
	CHECK_EQ(n, 4);
	CHECK_EQ(msi, 0x60);
	CHECK_EQ(msix, 0x80);
	CHECK_EQ(pcie, 0x90);
	CHECK_EQ(pm, 0xe0);
	/* One vector; table at BAR0 + 0x2000, PBA at BAR0 + 0x3000. */
	CHECK_EQ(cfg_rd(&r, msix + PCI_MSIX_FLAGS, 2), 0);
	CHECK_EQ(cfg_rd(&r, msix + PCI_MSIX_TABLE, 4), 0x2000);
	CHECK_EQ(cfg_rd(&r, msix + PCI_MSIX_PBA, 4), 0x3000);
	CHECK_EQ((cfg_rd(&r, pcie + PCI_EXP_FLAGS, 2) & PCI_EXP_FLAGS_TYPE) >>
			 4,
		 PCI_EXP_TYPE_RC_END);
	CHECK(cfg_rd(&r, pcie + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR);
	CHECK_EQ(cfg_rd(&r, 0x100, 4), 0);
	/* BAR0: 64-bit memory, 16 KiB. */
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xffffffff);
	cfg_wr(&r, PCI_BASE_ADDRESS_1, 4, 0xffffffff);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4),
		 0xffffc000 | PCI_BASE_ADDRESS_MEM_TYPE_64);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_1, 4), 0xffffffff);
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xfbd00000);
	cfg_wr(&r, PCI_BASE_ADDRESS_1, 4, 0x387f);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4),
		 0xfbd00000 | PCI_BASE_ADDRESS_MEM_TYPE_64);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_1, 4), 0x387f);
	CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_2, 4), 0);
	/* The channel error registers of config space (W1C; RW mask). */
	CHECK_EQ(cfg_rd(&r, 0x180, 4), 0);
	CHECK_EQ(cfg_rd(&r, 0x148, 4), 0);
	cfg_wr(&r, 0x184, 4, 0x3);
	CHECK_EQ(cfg_rd(&r, 0x184, 4), 0x3);
	ufd_pci_dev_info(r.pdev, &info);
	CHECK_EQ(info.bar[0].size, 0x4000);
	CHECK_EQ(info.bar[0].flags, UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	CHECK_EQ(info.bar[1].size, 0);
	CHECK_EQ(info.msix_vectors, 1);
	CHECK_EQ(info.msix_table_bar, 0);
	CHECK_EQ(info.msix_table_offset, 0x2000);
	CHECK_EQ(info.msix_table_size, 16);
	CHECK_EQ(info.msix_pba_offset, 0x3000);
	CHECK_EQ(info.msix_pba_size, 8);
	CHECK_EQ(info.msi_vectors, 1);
	CHECK_EQ(info.intx_pin, 1);
	CHECK(info.flr);
	rig_close(&r);
}

static void test_ioat_poweron_registers(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	CHECK_EQ(rd(&r, CHANCNT, 1), 1);
	CHECK_EQ(rd(&r, XFERCAP, 1), 20);
	CHECK_EQ(rd(&r, CBVER, 1), 0x33);
	CHECK_EQ(rd(&r, CHANSTS, 8), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	CHECK_EQ(rd(&r, DMACOUNT, 2), 0);
	CHECK_EQ(rd(&r, INTRCTRL, 1), 0);
	CHECK(rd(&r, DMACAP, 4) & 0x40); /* block fill */
	/* CHANCTRL.IN_USE: the first read claims the channel. */
	CHECK_EQ(rd(&r, CHANCTRL, 2) & CTRL_IN_USE, 0);
	CHECK_EQ(rd(&r, CHANCTRL, 2) & CTRL_IN_USE, CTRL_IN_USE);
	wr(&r, CHANCTRL, 2, CTRL_ABORT_EN);
	CHECK_EQ(rd(&r, CHANCTRL, 2), CTRL_ABORT_EN);
	/* Registers of several sizes: one 8-byte read covers four. */
	wr(&r, DMACOUNT, 2, 0x1234);
	CHECK_EQ(rd(&r, CHANCTRL, 8) >> 48, 0x1234);
	CHECK_EQ(rd(&r, 0x87, 1), 0x12);
	CHECK_EQ(rd(&r, 0x40, 8), 0); /* no register there */
	rig_close(&r);
}

static void test_ioat_copy_chain(void)
{
	static const uint32_t sizes[8] = { 1,	  64,	  4096,	   4097,
					   65536, 100000, 1 << 19, 1 << 20 };
	uint64_t soff = 0, doff = 0;
	unsigned int i, seen_active = 0;
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	fill_pattern(mem + SRC_OFF, 2 * MiB, 1);
	memset(mem + DST_OFF, 0, 2 * MiB);
	for (i = 0; i < 8; i++) {
		desc_set(i, sizes[i], i == 7 ? D_COMPL : 0,
			 IOVA_BASE + SRC_OFF + soff,
			 IOVA_BASE + DST_OFF + doff + 3, desc_iova(i + 1));
		soff += sizes[i];
		doff += sizes[i];
	}
	start(&r, desc_iova(0), CTRL_ABORT_EN, 8, true);
	/* Poll from this thread while the worker copies. */
	while (status(&r) == ST_ACTIVE)
		seen_active++;
	CHECK_EQ(status(&r), ST_DONE);
	CHECK_EQ(rd(&r, CHANSTS, 8), desc_iova(7) | ST_DONE);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	CHECK(!memcmp(mem + DST_OFF + 3, mem + SRC_OFF, soff));
	CHECK_EQ(mem[DST_OFF + 2], 0);
	CHECK_EQ(mem[DST_OFF + 3 + soff], 0);
	CHECK_EQ(cmp_value(), desc_iova(7) | ST_DONE);
	/* CDAR: where the chain goes next. */
	CHECK_EQ(rd(&r, 0xa0, 8), desc_iova(8));
	fprintf(stderr, "  %" PRIu64 " bytes in 8 descriptors, %u polls\n",
		soff, seen_active);

	/* Suspend, then a new chain: ARMED with completed address 0. */
	wr(&r, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(status(&r), ST_SUSPENDED);
	memset(mem + DST_OFF, 0, 2 * MiB);
	desc_set(0, 4096, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	wr(&r, CHAINADDR, 8, desc_iova(0));
	CHECK_EQ(rd(&r, CHANSTS, 8), ST_ARMED);
	wr(&r, DMACOUNT, 2, 1);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, 4096));
	/* Resume after a suspend in DONE: nothing left, DONE again. */
	wr(&r, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(status(&r), ST_SUSPENDED);
	wr(&r, CHANCMD, 1, CMD_RESUME);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	/* Fill: the source field is an 8-byte pattern. */
	desc_set(1, 1000, D_FILL, 0x0807060504030201ULL, IOVA_BASE + DST2_OFF,
		 desc_iova(2));
	wr(&r, DMACOUNT, 2, 2);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	for (i = 0; i < 1000; i++)
		if (mem[DST2_OFF + i] != i % 8 + 1)
			break;
	CHECK_EQ(i, 1000);
	rig_close(&r);
}

/* The kernel's ring: next pointers wrap, DMACOUNT is a running count. */
static void test_ioat_ring_and_count_wrap(void)
{
	const unsigned int ring = 16;
	unsigned int i, issued = 0;
	double t0 = now();
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	for (i = 0; i < ring; i++)
		desc_set(i, 1, D_NULL | D_COMPL, 0, 0,
			 desc_iova((i + 1) % ring));
	start(&r, desc_iova(0), CTRL_ABORT_EN | CTRL_ERR_COMPL, 0, true);
	CHECK_EQ(rd(&r, CHANSTS, 8), ST_ARMED);
	/* Steps that wrap the ring and, at last, the 16-bit count. */
	while (issued < 70000) {
		issued += issued < 100 ? 7 : 9973;
		wr(&r, DMACOUNT, 2, issued & 0xffff);
		if (wait_idle(&r) != ST_DONE)
			break;
		if (rd(&r, CHANSTS, 8) !=
		    (desc_iova((issued - 1) % ring) | ST_DONE))
			break;
		if (cmp_value() != (desc_iova((issued - 1) % ring) | ST_DONE))
			break;
	}
	CHECK(issued >= 70000);
	fprintf(stderr, "  %u descriptors through a ring of %u in %.3f s\n",
		issued, ring, now() - t0);
	CHECK_EQ(rd(&r, CHANSTS, 8), desc_iova((issued - 1) % ring) | ST_DONE);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	rig_close(&r);
}

/* As the VFIO selftest's driver does: one descriptor chained to itself. */
static void test_ioat_self_chained(void)
{
	struct rig r;
	int round;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	wr(&r, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	fill_pattern(mem + SRC_OFF, MiB, 9);
	for (round = 0; round < 3; round++) {
		memset(mem + DST_OFF, 0, MiB);
		desc_set(0, MiB, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
			 desc_iova(0));
		start(&r, desc_iova(0), CTRL_REARM | CTRL_ABORT_EN,
		      round ? 1 : 64, false);
		CHECK_EQ(wait_idle(&r), ST_DONE);
		CHECK_EQ(rd(&r, CHANSTS, 8), desc_iova(0) | ST_DONE);
		CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, MiB));
		/* Back to SUSPENDED, as the selftest's memcpy_wait does. */
		wr(&r, CHANCMD, 1, CMD_SUSPEND);
		CHECK_EQ(status(&r), ST_SUSPENDED);
	}
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 0);
	/* send_msi: an 8-byte copy with INT_EN. */
	desc_set(0, 8, D_INT, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(0));
	start(&r, desc_iova(0), CTRL_REARM | CTRL_ABORT_EN, 1, false);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 1);
	CHECK_EQ(r.host.last_vector, 0);
	rig_close(&r);
}

static void test_ioat_completion_writeback(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	memset(mem + CMP_OFF, 0xee, 8);
	/* Only the first of two asks: it says more is coming (ACTIVE). */
	desc_set(0, 128, D_COMPL, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	desc_set(1, 128, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(2));
	start(&r, desc_iova(0), 0, 2, true);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(cmp_value(), desc_iova(0) | ST_ACTIVE);
	/* A null descriptor with a completion (ioatdma's first). */
	desc_set(2, 1, D_NULL | D_COMPL, 0, 0, desc_iova(3));
	wr(&r, DMACOUNT, 2, 3);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(cmp_value(), desc_iova(2) | ST_DONE);
	/* A misaligned completion address is an error. */
	desc_set(3, 1, D_NULL | D_COMPL, 0, 0, desc_iova(4));
	wr(&r, CHANCMP, 8, IOVA_BASE + CMP_OFF + 4);
	wr(&r, DMACOUNT, 2, 4);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_COMPL_ADDR);
	CHECK_EQ(rd(&r, CHANSTS, 8), desc_iova(2) | ST_HALTED);
	rig_close(&r);
}

static void test_ioat_interrupts(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	CHECK(cfg_rd(&r, 0x80 + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_ENABLE);
	wr(&r, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	for (int i = 0; i < 8; i++)
		desc_set(i, 64, D_INT, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
			 desc_iova(i + 1));
	/* Not armed: no interrupt until CHANCTRL.INT_REARM. */
	start(&r, desc_iova(0), CTRL_ABORT_EN, 1, true);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 0);
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 1);
	/* Armed: the next INT_EN completion interrupts, once. */
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	wr(&r, DMACOUNT, 2, 3);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 2);
	CHECK_EQ(r.host.last_vector, 0);
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 3); /* the second one */
	/* A masked vector sets its PBA bit, sent when unmasked. */
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	wr(&r, MSIX_TABLE + 12, 4, 1);
	wr(&r, DMACOUNT, 2, 4);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 3);
	CHECK_EQ(rd(&r, MSIX_PBA, 8), 1);
	wr(&r, MSIX_TABLE + 12, 4, 0);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 4);
	CHECK_EQ(rd(&r, MSIX_PBA, 8), 0);
	/* The function mask, from config space. */
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	cfg_wr(&r, 0x80 + PCI_MSIX_FLAGS, 2,
	       PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	wr(&r, DMACOUNT, 2, 5);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 4);
	cfg_wr(&r, 0x80 + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), 5);

	/* INTx: MSI-X off, one interrupt line, ATTNSTATUS read to clear. */
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, false), 0);
	cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr(&r, INTRCTRL, 1, INTRCTRL_MASTER);
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	wr(&r, DMACOUNT, 2, 6);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 1);
	CHECK(ufd_pci_intx_asserted(r.pdev));
	CHECK(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	CHECK_EQ(rd(&r, INTRCTRL, 1),
		 INTRCTRL_MASTER | INTRCTRL_INT_STATUS | INTRCTRL_INT);
	CHECK_EQ(rd(&r, ATTNSTATUS, 4), 1);
	CHECK_EQ(rd(&r, ATTNSTATUS, 4), 0);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	CHECK(!(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT));
	CHECK_EQ(rd(&r, INTRCTRL, 1), INTRCTRL_MASTER);
	/* Master enable off: the status bit only. */
	wr(&r, INTRCTRL, 1, 0);
	wr(&r, CHANCTRL, 2, CTRL_REARM | CTRL_ABORT_EN);
	wr(&r, DMACOUNT, 2, 7);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 1);
	CHECK_EQ(rd(&r, INTRCTRL, 1), INTRCTRL_INT_STATUS);
	wr(&r, INTRCTRL, 1, INTRCTRL_MASTER); /* now it asserts */
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_INTX), 2);
	CHECK_EQ(rd(&r, ATTNSTATUS, 1), 1);
	CHECK(!ufd_pci_intx_asserted(r.pdev));
	rig_close(&r);
}

struct fault_case {
	const char *what;
	uint64_t chain; /* the first descriptor */
	uint32_t size, ctl;
	uint64_t s, d, next;
	uint32_t expect; /* CHANERR */
	bool first_done; /* the first descriptor completed */
};

static void test_ioat_faults(void)
{
	const struct fault_case cases[] = {
		{ "source unmapped", desc_iova(0), 4096, D_INT, IOVA_UNMAPPED,
		  IOVA_BASE + DST_OFF, desc_iova(1), ERR_SRC, false },
		{ "destination unmapped", desc_iova(0), 4096, D_INT,
		  IOVA_BASE + SRC_OFF, IOVA_UNMAPPED, desc_iova(1), ERR_DST,
		  false },
		{ "source faults mid-way", desc_iova(0), 8192, D_INT,
		  IOVA_BASE + mem_len - 4096, IOVA_BASE + DST_OFF, desc_iova(1),
		  ERR_SRC, false },
		{ "descriptor unmapped", IOVA_UNMAPPED, 0, 0, 0, 0, 0, ERR_NEXT,
		  false },
		{ "chain misaligned", desc_iova(0) + 8, 0, 0, 0, 0, 0,
		  ERR_CHAIN, false },
		{ "next misaligned", desc_iova(0), 64, 0, IOVA_BASE + SRC_OFF,
		  IOVA_BASE + DST_OFF, desc_iova(1) + 32, ERR_ALIGN, true },
		{ "zero size", desc_iova(0), 0, 0, IOVA_BASE + SRC_OFF,
		  IOVA_BASE + DST_OFF, desc_iova(1), ERR_LENGTH, false },
		{ "beyond XFERCAP", desc_iova(0), (1 << 20) + 1, 0,
		  IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF, desc_iova(1),
		  ERR_LENGTH, false },
		{ "unknown operation", desc_iova(0), 64, 0x87u << 24,
		  IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF, desc_iova(1),
		  ERR_CONTROL, false },
	};
	unsigned int i, before;
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true), 0);
	wr(&r, INTRCTRL, 1, INTRCTRL_MSIX_VC);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct fault_case *c = &cases[i];

		harness_test = c->what;
		before = irqs(&r.host, UFD_PCI_IRQ_MSIX);
		desc_set(0, c->size, c->ctl, c->s, c->d, c->next);
		desc_set(1, 64, D_INT, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
			 desc_iova(2));
		/* As the selftest: rearmed, abort on error, no error IRQ. */
		start(&r, c->chain, CTRL_REARM | CTRL_ABORT_EN, 2, i & 1);
		CHECK_EQ(wait_idle(&r), ST_HALTED);
		CHECK_EQ(rd(&r, CHANERR, 4), c->expect);
		CHECK_EQ(rd(&r, CHANSTS, 8) & ~7ULL,
			 c->first_done ? desc_iova(0) : 0);
		CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), before);
		/* Halted with an error: a new chain does not load... */
		wr(&r, CHAINADDR, 8, desc_iova(1));
		CHECK_EQ(status(&r), ST_HALTED);
		/* ...until CHANERR is cleared (write 1 to clear) and reset. */
		wr(&r, CHANERR, 4, c->expect);
		CHECK_EQ(rd(&r, CHANERR, 4), 0);
		wr(&r, CHANCMD, 1, CMD_RESET);
		CHECK_EQ(status(&r), ST_HALTED);
		memset(mem + DST_OFF, 0, 64);
		fill_pattern(mem + SRC_OFF, 64, i);
		start(&r, desc_iova(1), CTRL_REARM | CTRL_ABORT_EN, 1, false);
		CHECK_EQ(wait_idle(&r), ST_DONE);
		CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, 64));
		CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), before + 1);
		wr(&r, CHANCMD, 1, CMD_RESET);
	}
	harness_test = __func__;

	/*
	 * A fault in the second descriptor with ERR_COMPLETION_EN and
	 * ERR_INT_EN (as ioatdma and DPDK set): the halt is written to
	 * CHANCMP naming the last good descriptor, and it interrupts.
	 */
	before = irqs(&r.host, UFD_PCI_IRQ_MSIX);
	desc_set(0, 64, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	desc_set(1, 64, 0, IOVA_BASE + SRC_OFF, IOVA_UNMAPPED, desc_iova(2));
	start(&r, desc_iova(0),
	      CTRL_REARM | CTRL_ABORT_EN | CTRL_ERR_COMPL | CTRL_ERR_INT, 2,
	      true);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_DST);
	CHECK_EQ(rd(&r, CHANSTS, 8), desc_iova(0) | ST_HALTED);
	CHECK_EQ(cmp_value(), desc_iova(0) | ST_HALTED);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), before + 1);
	/* A masked error (CHANERR_MSK) halts but does not interrupt. */
	wr(&r, CHANERR, 4, ~0u);
	wr(&r, CHANCMD, 1, CMD_RESET);
	wr(&r, 0xac, 4, ERR_DST);
	start(&r, desc_iova(1), CTRL_REARM | CTRL_ERR_INT, 1, true);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_DST);
	CHECK_EQ(irqs(&r.host, UFD_PCI_IRQ_MSIX), before + 1);
	rig_close(&r);

	/* errors=data: the recoverable READ/WRITE_DATA bits of ioatdma. */
	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, "errors=data") == 0);
	enable(&r);
	desc_set(0, 64, 0, IOVA_UNMAPPED, IOVA_BASE + DST_OFF, desc_iova(1));
	start(&r, desc_iova(0), CTRL_ABORT_EN, 1, true);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_READ_DATA);
	wr(&r, CHANERR, 4, ~0u);
	wr(&r, CHANCMD, 1, CMD_RESET);
	desc_set(0, 64, 0, IOVA_BASE + SRC_OFF, IOVA_UNMAPPED, desc_iova(1));
	start(&r, desc_iova(0), CTRL_ABORT_EN, 1, true);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_WRITE_DATA);
	rig_close(&r);
}

static void test_ioat_bus_master_off(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	memset(mem + DST_OFF, 0, 4096);
	fill_pattern(mem + SRC_OFF, 4096, 3);
	desc_set(0, 4096, D_COMPL, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	memset(mem + CMP_OFF, 0, 8);
	start(&r, desc_iova(0), CTRL_ABORT_EN | CTRL_ERR_COMPL, 1, true);
	CHECK_EQ(wait_idle(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), ERR_NEXT); /* it could not even fetch */
	CHECK_EQ(mem[DST_OFF], 0);
	CHECK_EQ(cmp_value(), 0);
	/* Bus master on again, after the error is cleared: it works. */
	enable(&r);
	start(&r, desc_iova(0), CTRL_ABORT_EN, 1, true);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, 4096));
	rig_close(&r);
}

/* A long copy: a small descriptor, then 1 MiB chained to itself 65535x. */
static void start_long_copy(struct rig *r)
{
	double end = now() + 20;

	fill_pattern(mem + SRC_OFF, MiB, 5);
	desc_set(0, 4096, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	desc_set(1, MiB, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	start(r, desc_iova(0), CTRL_ABORT_EN, 0xffff, true);
	/* Wait until the first is done: the worker is in the long one. */
	while (!(rd(r, CHANSTS, 8) & ~7ULL) && now() < end)
		sched_yield();
	CHECK_EQ(status(r), ST_ACTIVE);
}

/* Nothing writes guest memory any more: the worker is idle. */
static void check_quiet(struct rig *r)
{
	memset(mem + DST_OFF, 0, MiB);
	usleep(20000);
	CHECK_EQ(mem[DST_OFF], 0);
	CHECK_EQ(mem[DST_OFF + MiB - 1], 0);
}

static void test_ioat_flr_during_copy(void)
{
	struct rig r;
	int how;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	cfg_wr(&r, PCI_BASE_ADDRESS_0, 4, 0xfbd00000);
	for (how = 0; how < 2; how++) {
		enable(&r);
		CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true),
			 0);
		wr(&r, INTRCTRL, 1, INTRCTRL_MSIX_VC);
		start_long_copy(&r);
		if (how == 0)
			ufd_pci_flr(r.pdev);
		else
			cfg_wr(&r, 0x90 + PCI_EXP_DEVCTL, 2,
			       cfg_rd(&r, 0x90 + PCI_EXP_DEVCTL, 2) |
				       PCI_EXP_DEVCTL_BCR_FLR);
		/* Power-on values, bus master off, MSI-X off. */
		CHECK_EQ(rd(&r, CHANSTS, 8), ST_HALTED);
		CHECK_EQ(rd(&r, DMACOUNT, 2), 0);
		CHECK_EQ(rd(&r, CHAINADDR, 8), 0);
		CHECK_EQ(rd(&r, CHANCMP, 8), 0);
		CHECK_EQ(rd(&r, CHANCTRL, 2), 0);
		CHECK_EQ(rd(&r, INTRCTRL, 1), 0);
		CHECK_EQ(rd(&r, CHANERR, 4), 0);
		CHECK_EQ(cfg_rd(&r, PCI_COMMAND, 2), 0);
		CHECK_EQ(cfg_rd(&r, 0x80 + PCI_MSIX_FLAGS, 2), 0);
		CHECK_EQ(rd(&r, MSIX_TABLE + 12, 4), 1);
		CHECK_EQ(cfg_rd(&r, 0x90 + PCI_EXP_DEVCTL, 2) &
				 PCI_EXP_DEVCTL_BCR_FLR,
			 0);
		CHECK_EQ(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4),
			 0xfbd00000 | PCI_BASE_ADDRESS_MEM_TYPE_64);
		check_quiet(&r);
	}
	/* And it works again. */
	enable(&r);
	desc_set(0, 4096, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	start(&r, desc_iova(0), CTRL_ABORT_EN, 1, true);
	CHECK_EQ(wait_idle(&r), ST_DONE);
	CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, 4096));
	rig_close(&r);
}

static void test_ioat_commands_during_copy(void)
{
	struct rig r;
	uint64_t sts;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	/* Suspend: the descriptor in hand finishes, then SUSPENDED. */
	enable(&r);
	start_long_copy(&r);
	wr(&r, CHANCMD, 1, CMD_SUSPEND);
	sts = rd(&r, CHANSTS, 8);
	CHECK_EQ(sts, desc_iova(1) | ST_SUSPENDED);
	CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, MiB));
	wr(&r, CHANCMD, 1, CMD_RESUME);
	CHECK_EQ(status(&r), ST_ACTIVE);
	/* Abort: HALTED at once, no error. */
	wr(&r, CHANCMD, 1, CMD_ABORT);
	CHECK_EQ(status(&r), ST_HALTED);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	check_quiet(&r);
	/* Reset while running. */
	enable(&r);
	start_long_copy(&r);
	wr(&r, CHANCMD, 1, CMD_RESET);
	CHECK_EQ(rd(&r, CHANSTS, 8), ST_HALTED);
	CHECK_EQ(rd(&r, DMACOUNT, 2), 0);
	check_quiet(&r);
	/* Destroy while running: the worker is joined. */
	enable(&r);
	start_long_copy(&r);
	rig_close(&r);
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Every offset, every size, random values: nothing crashes. */
static void test_ioat_garbage(void)
{
	static const unsigned int sizes[4] = { 1, 2, 4, 8 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL, v;
	unsigned int off, s, i;
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	enable(&r);
	/* Descriptors of random bytes for random chains to find. */
	for (i = 0; i < 64 * 64; i += 8) {
		v = xorshift(&seed);
		memcpy(mem + DESC_OFF + i, &v, 8);
	}
	for (off = 0; off < 0x4000; off++) {
		for (s = 0; s < 4; s++) {
			if (off + sizes[s] > 0x4000)
				continue;
			CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, off, sizes[s], &v),
				 0);
			v = xorshift(&seed);
			/* Now and then a chain into the random descriptors. */
			if ((v & 0xff) == 0 && off != CHAINADDR)
				wr(&r, CHAINADDR, 8,
				   desc_iova((unsigned int)(v >> 8) % 64));
			CHECK_EQ(ufd_pci_bar_write(r.pdev, 0, off, sizes[s], v),
				 0);
		}
		if (off % 1024 == 0)
			cfg_wr(&r, PCI_COMMAND, 2, PCI_COMMAND_MASTER);
	}
	CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, 0x4000, 1, &v), -EINVAL);
	CHECK_EQ(ufd_pci_bar_read(r.pdev, 0, 0x3ffc, 8, &v), -EINVAL);
	CHECK_EQ(ufd_pci_bar_write(r.pdev, 0, 0, 16, 0), -EINVAL);
	CHECK_EQ(ufd_pci_bar_write(r.pdev, 1, 0, 4, 0), -EINVAL);
	CHECK_EQ(ufd_pci_bar_write(r.pdev, 2, 0, 4, 0), -EINVAL);
	/* Config space likewise (FLRs and all). */
	for (off = 0; off < 4096; off++) {
		for (s = 0; s < 3; s++) {
			uint32_t c;

			if (off + sizes[s] > 4096)
				continue;
			CHECK_EQ(ufd_pci_cfg_read(r.pdev, off, sizes[s], &c),
				 0);
			CHECK_EQ(ufd_pci_cfg_write(r.pdev, off, sizes[s],
						   (uint32_t)xorshift(&seed)),
				 0);
		}
	}
	/* Both at once, from two threads, is the TSan run's business. */
	CHECK_EQ(cfg_rd(&r, PCI_VENDOR_ID, 4), 0x20218086);
	CHECK_EQ(rd(&r, CBVER, 1), 0x33);
	rig_close(&r);
}

struct hammer {
	struct rig *r;
	bool stop;
	unsigned long reads;
};

static void *hammer_reads(void *arg)
{
	struct hammer *h = arg;
	uint64_t v;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		ufd_pci_bar_read(h->r->pdev, 0, CHANSTS, 8, &v);
		ufd_pci_bar_read(h->r->pdev, 0, MSIX_PBA, 8, &v);
		__atomic_add_fetch(&h->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Registers read from another thread while this one drives and resets. */
static void test_ioat_concurrent_access(void)
{
	struct hammer h = { 0 };
	pthread_t t;
	struct rig r;
	int i;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	h.r = &r;
	REQUIRE(pthread_create(&t, NULL, hammer_reads, &h) == 0);
	while (!__atomic_load_n(&h.reads, __ATOMIC_RELAXED))
		sched_yield();
	for (i = 0; i < 20; i++) {
		enable(&r);
		CHECK_EQ(ufd_pci_set_irq_enable(r.pdev, UFD_PCI_IRQ_MSIX, true),
			 0);
		wr(&r, INTRCTRL, 1, INTRCTRL_MSIX_VC);
		desc_set(0, 65536, D_INT | D_COMPL, IOVA_BASE + SRC_OFF,
			 IOVA_BASE + DST_OFF, desc_iova(0));
		start(&r, desc_iova(0), CTRL_REARM, 8, i & 1);
		if (i % 3 == 0)
			ufd_pci_flr(r.pdev);
		else if (i % 3 == 1)
			wr(&r, CHANCMD, 1, CMD_RESET);
		else
			CHECK_EQ(wait_idle(&r), ST_DONE);
	}
	__atomic_store_n(&h.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK(h.reads > 0);
	rig_close(&r);
}

static void *hammer_suspend(void *arg)
{
	struct hammer *h = arg;
	uint64_t v;

	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		ufd_pci_bar_write(h->r->pdev, 0, CHANCMD, 1, CMD_SUSPEND);
		ufd_pci_bar_read(h->r->pdev, 0, CHANSTS, 8, &v);
		ufd_pci_bar_write(h->r->pdev, 0, CHANCMD, 1, CMD_RESUME);
		__atomic_add_fetch(&h->reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * A resume returns the channel to what the suspend found: a chain loaded
 * (CHAINADDR) but not started (no DMACOUNT write since) stays unstarted,
 * a DMACOUNT written while suspended starts it on the resume.
 */
static void test_ioat_resume_unstarted(void)
{
	struct rig r;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	fill_pattern(mem + SRC_OFF, 4096, 9);
	memset(mem + DST_OFF, 0, 4096);
	desc_set(1, 4096, 0, IOVA_BASE + SRC_OFF,
		 IOVA_BASE + DST_OFF, 0);
	enable(&r);
	wr(&r, CHANCMD, 1, CMD_SUSPEND); /* halted: nothing to suspend */
	CHECK_EQ(status(&r), ST_HALTED);
	/* Half a chain address, as a driver writing it in two halves. */
	wr(&r, CHAINADDR, 4, desc_iova(1) & 0xffffffff);
	CHECK_EQ(status(&r), ST_ARMED);
	wr(&r, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(status(&r), ST_SUSPENDED);
	wr(&r, CHANCMD, 1, CMD_RESUME);
	CHECK_EQ(status(&r), ST_ARMED);
	usleep(20000);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	CHECK_EQ(status(&r), ST_ARMED);
	wr(&r, CHAINADDR + 4, 4, desc_iova(1) >> 32);
	wr(&r, CHANCMP, 8, IOVA_BASE + CMP_OFF);
	wr(&r, CHANCMD, 1, CMD_SUSPEND);
	CHECK_EQ(status(&r), ST_SUSPENDED);
	wr(&r, DMACOUNT, 2, 1);
	CHECK_EQ(status(&r), ST_SUSPENDED);
	wr(&r, CHANCMD, 1, CMD_RESUME);
	while (status(&r) == ST_ACTIVE)
		usleep(100);
	CHECK_EQ(status(&r), ST_DONE);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	CHECK(!memcmp(mem + DST_OFF, mem + SRC_OFF, 4096));
	rig_close(&r);
}

/* Suspends and resumes from one thread, resets and FLRs from another. */
static void test_ioat_suspend_vs_reset(void)
{
	struct hammer h = { 0 };
	pthread_t t;
	struct rig r;
	int i;

	REQUIRE(rig_open(&r, &ufd_pci_model_ioat, NULL) == 0);
	h.r = &r;
	fill_pattern(mem + SRC_OFF, MiB, 5);
	desc_set(1, 256 << 10, 0, IOVA_BASE + SRC_OFF, IOVA_BASE + DST_OFF,
		 desc_iova(1));
	REQUIRE(pthread_create(&t, NULL, hammer_suspend, &h) == 0);
	while (!__atomic_load_n(&h.reads, __ATOMIC_RELAXED))
		sched_yield();
	for (i = 0; i < 60; i++) {
		enable(&r);
		start(&r, desc_iova(1), CTRL_ABORT_EN, 200, i & 1);
		usleep(200);
		if (i % 3 == 0)
			ufd_pci_flr(r.pdev);
		else if (i % 3 == 1)
			wr(&r, CHANCMD, 1, CMD_RESET);
		else
			wr(&r, CHANCMD, 1, CMD_ABORT);
	}
	__atomic_store_n(&h.stop, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	CHECK_EQ(rd(&r, CHANERR, 4), 0);
	rig_close(&r);
}

int main(void)
{
	uint8_t *area;

	mem = harness_map_aligned(mem_len, &area);
	if (!mem)
		return 1;
	eng = ufd_engine_new();
	src = ufd_source_local();
	if (!eng || !src)
		return 1;
	RUN(test_pci_header_and_bars);
	RUN(test_pci_interrupts);
	RUN(test_pci_sriov);
	RUN(test_ioat_registry_and_args);
	RUN(test_ioat_create_failures);
	RUN(test_ioat_config_space);
	RUN(test_ioat_poweron_registers);
	RUN(test_ioat_copy_chain);
	RUN(test_ioat_ring_and_count_wrap);
	RUN(test_ioat_self_chained);
	RUN(test_ioat_completion_writeback);
	RUN(test_ioat_interrupts);
	RUN(test_ioat_faults);
	RUN(test_ioat_bus_master_off);
	RUN(test_ioat_flr_during_copy);
	RUN(test_ioat_commands_during_copy);
	RUN(test_ioat_garbage);
	RUN(test_ioat_concurrent_access);
	RUN(test_ioat_resume_unstarted);
	RUN(test_ioat_suspend_vs_reset);
	ufd_source_put(src);
	ufd_engine_free(eng);
	munmap(area, mem_len + (2u << 20));
	HARNESS_EXIT();
}
