// SPDX-License-Identifier: MIT
/*
 * An Intel I/OAT ("Crystal Beach") DMA engine: the CBDMA function of a
 * Skylake-SP (8086:2021, class 0x088000), register set version 3.3, one
 * channel.  Written from the register facts of Linux's drivers/dma/ioat/
 * (registers.h, hw.h), the datasheets' register descriptions, and how the
 * drivers that drive it use it (Linux's ioatdma, the VFIO selftest's ioat
 * driver, DPDK's ioat dmadev).
 *
 * The model.  BAR0 (64-bit, 16 KiB) holds the general registers at 0x00,
 * the channel's at 0x80, the MSI-X table at 0x2000 and the PBA at 0x3000
 * (served by pci.c).  Config space: MSI-X at 0x80 (one vector), PCIe
 * (root complex integrated endpoint, FLR) at 0x90, PM at 0xe0, INTA, and
 * the error registers DMAUNCERRSTS (0x148), CHANERR_INT (0x180, both
 * write-1-to-clear, never set by this model) and CHANERRMSK_INT (0x184).
 *
 * The channel is a state machine in CHANSTS bits 2:0: HALTED at power-on
 * and after a reset or an error; a write of CHAINADDR (with CHANERR clear)
 * loads the chain and makes it ARMED with completed address 0 and a
 * descriptor count of 0; DMACOUNT is the 16-bit running count of
 * descriptors the driver has appended, and while it differs from the
 * number done the channel is ACTIVE, then DONE.  A worker thread
 * processes one 64-byte descriptor at a time: fetch, copy (or fill) in
 * 64 KiB chunks through the host's DMA, completion write (CHANSTS value,
 * 8 bytes, to CHANCMP) when asked, interrupt when asked; then it follows
 * `next` (a descriptor whose next is itself runs DMACOUNT times).  Errors
 * halt the channel with a CHANERR bit, no completion for the failed
 * descriptor and no interrupt unless CHANCTRL asks for them.
 *
 * Registers may be accessed with any size at any offset: an access is
 * split over the registers it covers, a partial write merges into the
 * register's current value, bytes that are no register read 0 and ignore
 * writes.
 *
 * Locking (see pci.h): register state is under pdev->lock; the worker
 * holds it except while it works on a descriptor (busy), when it only
 * reads ioat->cancel atomically between chunks.  A reset, abort or FLR
 * raises cancel and waits (dropping the lock) until the worker has put
 * its descriptor down; the worker then drops the result.  Suspend waits
 * for the descriptor in hand to finish; resume returns the channel to
 * the state it was suspended in (a loaded but unstarted chain stays
 * unstarted until DMACOUNT is written).  Ranges: [iova, iova + len).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "devices/pci.h"
#include "engine/engine.h" /* allocation with fault injection */

/* ---- register facts (ABI) ---------------------------------------------- */

#define IOAT_BAR0_SIZE 0x4000
#define IOAT_MSIX_TABLE_OFF 0x2000
#define IOAT_MSIX_PBA_OFF 0x3000

/* General registers. */
#define REG_CHANCNT 0x00       /*  8 */
#define REG_XFERCAP 0x01       /*  8: log2 of the largest transfer */
#define REG_GENCTRL 0x02       /*  8 */
#define REG_INTRCTRL 0x03      /*  8 */
#define REG_ATTNSTATUS 0x04    /* 32: a bit a channel, cleared by reading */
#define REG_CBVER 0x08	       /*  8 */
#define REG_INTRDELAY 0x0c     /* 16 */
#define REG_CS_STATUS 0x0e     /* 16 */
#define REG_DMACAPABILITY 0x10 /* 32 */
/* Channel 0 registers. */
#define REG_CHANCTRL 0x80    /* 16 */
#define REG_DMA_COMP 0x82    /* 16 */
#define REG_CHANCMD 0x84     /*  8 */
#define REG_DMACOUNT 0x86    /* 16 */
#define REG_CHANSTS 0x88     /* 64 */
#define REG_CHAINADDR 0x90   /* 64 */
#define REG_CHANCMP 0x98     /* 64 */
#define REG_CDAR 0xa0	     /* 64 */
#define REG_CHANERR 0xa8     /* 32 */
#define REG_CHANERR_MSK 0xac /* 32 */
#define REG_DCACTRL 0xb0     /* 32 */

#define CBVER_3_3 0x33
#define GENCTRL_DEBUG_EN 0x01
#define INTRCTRL_MASTER_INT_EN 0x01
#define INTRCTRL_INT_STATUS 0x02
#define INTRCTRL_INT 0x04
#define INTRCTRL_MSIX_VECTOR_CONTROL 0x08
#define INTRDELAY_MASK 0x3fff
#define DMACAP_FILL_BLOCK 0x00000040
#define DMA_COMP_V2 0x0002

#define CHANCTRL_INT_REARM 0x0001
#define CHANCTRL_ERR_COMPLETION_EN 0x0004
#define CHANCTRL_ANY_ERR_ABORT_EN 0x0008
#define CHANCTRL_ERR_INT_EN 0x0010
#define CHANCTRL_DESC_ADDR_SNOOP 0x0020
#define CHANCTRL_IN_USE 0x0100
#define CHANCTRL_COMPL_DCA_EN 0x0200
#define CHANCTRL_PRIORITY 0xf000
#define CHANCTRL_STORED                                                        \
	(CHANCTRL_ERR_COMPLETION_EN | CHANCTRL_ANY_ERR_ABORT_EN |              \
	 CHANCTRL_ERR_INT_EN | CHANCTRL_DESC_ADDR_SNOOP |                      \
	 CHANCTRL_COMPL_DCA_EN | CHANCTRL_PRIORITY)

#define CHANCMD_RESET 0x20
#define CHANCMD_RESUME 0x10
#define CHANCMD_ABORT 0x08
#define CHANCMD_SUSPEND 0x04

#define CHANSTS_ADDR_MASK (~0x3fULL)
#define CHANSTS_ACTIVE 0
#define CHANSTS_DONE 1
#define CHANSTS_SUSPENDED 2
#define CHANSTS_HALTED 3
#define CHANSTS_ARMED 4

#define CHANERR_SRC_ADDR 0x00000001
#define CHANERR_DEST_ADDR 0x00000002
#define CHANERR_NEXT_ADDR 0x00000004
#define CHANERR_NEXT_DESC_ALIGN 0x00000008
#define CHANERR_CHAIN_ADDR_VALUE 0x00000010
#define CHANERR_READ_DATA 0x00000100
#define CHANERR_WRITE_DATA 0x00000200
#define CHANERR_CONTROL 0x00000400
#define CHANERR_LENGTH 0x00000800
#define CHANERR_COMPLETION_ADDR 0x00001000

/* Config space registers of the function. */
#define CFG_DMAUNCERRSTS 0x148
#define CFG_CHANERR_INT 0x180
#define CFG_CHANERRMSK_INT 0x184

/* The 64-byte descriptor: size, control, source, destination, next. */
#define DESC_LEN 64
#define DESC_SIZE 0
#define DESC_CTL 4
#define DESC_SRC 8
#define DESC_DST 16
#define DESC_NEXT 24
#define CTL_INT_EN 0x00000001
#define CTL_COMPL_WRITE 0x00000008
#define CTL_NULL 0x00000020
#define CTL_OP_SHIFT 24
#define OP_COPY 0x00
#define OP_FILL 0x01 /* block fill: the source field is the pattern */

#define XFERCAP_DEFAULT 20 /* 1 MiB, as Xeon parts report */
#define CHUNK (64u << 10)

/* ---- state ------------------------------------------------------------- */

struct ioat {
	struct ufd_pci_dev *pdev;
	/* From the args. */
	unsigned int xfercap_log;
	bool data_errors; /* faults as READ/WRITE_DATA, not SRC/DEST_ADDR */

	/* General registers. */
	uint8_t genctrl;
	uint8_t intrctrl; /* MASTER_INT_EN and MSIX_VECTOR_CONTROL */
	uint32_t attnstatus;
	uint16_t intrdelay;

	/* Channel registers. */
	uint16_t chanctrl; /* CHANCTRL_STORED bits */
	bool in_use;
	uint16_t dmacount;
	uint64_t chainaddr;
	uint64_t chancmp;
	uint32_t chanerr;
	uint32_t chanerr_mask;
	uint32_t dcactrl;

	/* Channel state. */
	unsigned int status;  /* CHANSTS_* */
	uint64_t completed;   /* CHANSTS address: the last descriptor done */
	uint64_t next_desc;   /* the descriptor to work on next */
	bool next_from_chain; /* it came from CHAINADDR, not a next field */
	uint16_t done;	      /* descriptors done since the chain was loaded */
	bool int_armed;	      /* CHANCTRL.INT_REARM written since the last */
	bool int_pending;     /* an interrupt waits for the rearm */
	bool suspend_req;
	/*
	 * What RESUME returns a suspended channel to: ACTIVE, or the ARMED
	 * or DONE it was suspended in (a resume never starts a chain that
	 * DMACOUNT did not start); dmacount_written: DMACOUNT was written
	 * while suspended, so the resumed ARMED or DONE channel runs.
	 */
	unsigned int resume_status;
	bool dmacount_written;

	/* The worker. */
	pthread_t worker;
	pthread_cond_t work_cv; /* the worker waits: work, cancel or quit */
	pthread_cond_t idle_cv; /* others wait: the worker put work down */
	bool busy;		/* a descriptor in hand, lock dropped */
	unsigned int cancel;	/* > 0: drop it (read without the lock) */
	bool quit;
	uint8_t *bounce; /* CHUNK bytes, the worker's */
};

/* What the worker takes with it when it drops the lock. */
struct ioat_job {
	uint64_t desc;
	bool from_chain;
	uint64_t chancmp;
	uint16_t chanctrl;
	bool last;	    /* DMACOUNT is reached with this one */
	uint64_t completed; /* CHANSTS address before it */
};

struct ioat_outcome {
	uint32_t err; /* CHANERR bits; 0: done */
	uint64_t next;
	bool interrupt;
	bool cancelled;
};

static struct ioat *ioat_of(struct ufd_pci_dev *pdev)
{
	return pdev->priv;
}

static unsigned int cancel_count(struct ioat *ioat)
{
	return __atomic_load_n(&ioat->cancel, __ATOMIC_ACQUIRE);
}

/* ---- interrupts (lock held) -------------------------------------------- */

/* Send the channel's interrupt as INTRCTRL routes it. */
static void intr_send(struct ioat *ioat)
{
	if (ioat->intrctrl &
	    (INTRCTRL_MSIX_VECTOR_CONTROL | INTRCTRL_MASTER_INT_EN))
		ufd_pci_raise_irq(ioat->pdev, 0);
}

/*
 * A completion or error asks for an interrupt.  The channel sends one,
 * then none until CHANCTRL.INT_REARM is written again; one asked for
 * meanwhile is sent at the rearm.
 */
static void chan_interrupt(struct ioat *ioat)
{
	if (!ioat->int_armed) {
		ioat->int_pending = true;
		return;
	}
	ioat->int_armed = false;
	ioat->attnstatus |= 1;
	intr_send(ioat);
}

/* ---- power-on values and waiting for the worker (lock held) ------------- */

static void chan_poweron(struct ioat *ioat)
{
	ioat->chanctrl = 0;
	ioat->in_use = false;
	ioat->dmacount = 0;
	ioat->chainaddr = 0;
	ioat->chancmp = 0;
	ioat->chanerr = 0;
	ioat->chanerr_mask = 0;
	ioat->dcactrl = 0;
	ioat->status = CHANSTS_HALTED;
	ioat->completed = 0;
	ioat->next_desc = 0;
	ioat->next_from_chain = true;
	ioat->done = 0;
	ioat->int_armed = false;
	ioat->int_pending = false;
	ioat->suspend_req = false;
}

static void general_poweron(struct ioat *ioat)
{
	ioat->genctrl = 0;
	ioat->intrctrl = 0;
	ioat->attnstatus = 0;
	ioat->intrdelay = 0;
}

/* Make the worker drop what it has in hand, and keep it idle. */
static void quiesce_begin(struct ioat *ioat)
{
	__atomic_add_fetch(&ioat->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&ioat->work_cv);
	while (ioat->busy)
		ufd_pci_wait(ioat->pdev, &ioat->idle_cv);
}

/* The worker may go on; whoever waits for a state change looks again. */
static void quiesce_end(struct ioat *ioat)
{
	__atomic_sub_fetch(&ioat->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&ioat->work_cv);
	pthread_cond_broadcast(&ioat->idle_cv);
}

static void chan_reset(struct ioat *ioat)
{
	quiesce_begin(ioat);
	chan_poweron(ioat);
	quiesce_end(ioat);
}

static void chan_suspend(struct ioat *ioat)
{
	switch (ioat->status) {
	case CHANSTS_ACTIVE:
		/* The descriptor in hand finishes first. */
		ioat->suspend_req = true;
		pthread_cond_broadcast(&ioat->work_cv);
		while (ioat->status == CHANSTS_ACTIVE)
			ufd_pci_wait(ioat->pdev, &ioat->idle_cv);
		break;
	case CHANSTS_DONE:
	case CHANSTS_ARMED:
		ioat->resume_status = ioat->status;
		ioat->dmacount_written = false;
		ioat->status = CHANSTS_SUSPENDED;
		break;
	default:
		break;
	}
}

/* ---- register reads and writes (lock held) ------------------------------ */

struct ioat_reg {
	uint16_t off;
	uint8_t len;
};

/* clang-format off */
static const struct ioat_reg ioat_regs[] = {
	{ REG_CHANCNT, 1 },
	{ REG_XFERCAP, 1 },
	{ REG_GENCTRL, 1 },
	{ REG_INTRCTRL, 1 },
	{ REG_ATTNSTATUS, 4 },
	{ REG_CBVER, 1 },
	{ REG_INTRDELAY, 2 },
	{ REG_CS_STATUS, 2 },
	{ REG_DMACAPABILITY, 4 },
	{ REG_CHANCTRL, 2 },
	{ REG_DMA_COMP, 2 },
	{ REG_CHANCMD, 1 },
	{ REG_DMACOUNT, 2 },
	{ REG_CHANSTS, 8 },
	{ REG_CHAINADDR, 8 },
	{ REG_CHANCMP, 8 },
	{ REG_CDAR, 8 },
	{ REG_CHANERR, 4 },
	{ REG_CHANERR_MSK, 4 },
	{ REG_DCACTRL, 4 },
};
/* clang-format on */

/*
 * The value of the register at @off; @covered has 0xff in each byte the
 * access reads, and reads with side effects happen only when the bytes
 * that carry them are read (@covered 0: a look without side effects).
 */
static uint64_t reg_read(struct ioat *ioat, unsigned int off, uint64_t covered)
{
	uint64_t v;

	switch (off) {
	case REG_CHANCNT:
		return 1;
	case REG_XFERCAP:
		return ioat->xfercap_log;
	case REG_GENCTRL:
		return ioat->genctrl;
	case REG_INTRCTRL:
		v = ioat->intrctrl;
		if (ioat->attnstatus) {
			v |= INTRCTRL_INT_STATUS;
			if (ioat->intrctrl & INTRCTRL_MASTER_INT_EN)
				v |= INTRCTRL_INT;
		}
		return v;
	case REG_ATTNSTATUS:
		v = ioat->attnstatus;
		if (covered & 0xff && ioat->attnstatus) {
			ioat->attnstatus = 0;
			ufd_pci_lower_intx(ioat->pdev);
		}
		return v;
	case REG_CBVER:
		return CBVER_3_3;
	case REG_INTRDELAY:
		return ioat->intrdelay;
	case REG_CS_STATUS:
		return 0;
	case REG_DMACAPABILITY:
		return DMACAP_FILL_BLOCK;
	case REG_CHANCTRL:
		v = ioat->chanctrl | (ioat->in_use ? CHANCTRL_IN_USE : 0);
		/* Reading IN_USE claims the channel: 0 once, then 1. */
		if (covered & 0xff00)
			ioat->in_use = true;
		return v;
	case REG_DMA_COMP:
		return DMA_COMP_V2;
	case REG_CHANCMD:
		return 0; /* commands complete before the write returns */
	case REG_DMACOUNT:
		return ioat->dmacount;
	case REG_CHANSTS:
		return ioat->completed | ioat->status;
	case REG_CHAINADDR:
		return ioat->chainaddr;
	case REG_CHANCMP:
		return ioat->chancmp;
	case REG_CDAR:
		return ioat->next_desc;
	case REG_CHANERR:
		return ioat->chanerr;
	case REG_CHANERR_MSK:
		return ioat->chanerr_mask;
	case REG_DCACTRL:
		return ioat->dcactrl;
	}
	return 0;
}

static void write_chanctrl(struct ioat *ioat, uint64_t v, uint64_t written)
{
	ioat->chanctrl = (uint16_t)(v & CHANCTRL_STORED);
	if (written & 0xff00)
		ioat->in_use = v & CHANCTRL_IN_USE;
	if (v & written & CHANCTRL_INT_REARM) {
		ioat->int_armed = true;
		if (ioat->int_pending) {
			ioat->int_pending = false;
			chan_interrupt(ioat);
		}
	}
}

static void write_chancmd(struct ioat *ioat, uint8_t cmd)
{
	if (cmd & CHANCMD_RESET) {
		chan_reset(ioat);
		return;
	}
	if (cmd & CHANCMD_ABORT) {
		quiesce_begin(ioat);
		ioat->status = CHANSTS_HALTED;
		ioat->suspend_req = false;
		quiesce_end(ioat);
	}
	if (cmd & CHANCMD_SUSPEND)
		chan_suspend(ioat);
	if ((cmd & CHANCMD_RESUME) && ioat->status == CHANSTS_SUSPENDED) {
		ioat->status = ioat->resume_status;
		if (ioat->status != CHANSTS_ACTIVE && ioat->dmacount_written &&
		    ioat->dmacount != ioat->done)
			ioat->status = CHANSTS_ACTIVE;
		if (ioat->status == CHANSTS_ACTIVE)
			pthread_cond_broadcast(&ioat->work_cv);
	}
	/* START and APPEND belong to version 1: DMACOUNT replaced them. */
}

static void write_chainaddr(struct ioat *ioat, uint64_t v)
{
	ioat->chainaddr = v;
	/* Load the chain, unless running or halted by an unclear error. */
	if (ioat->status == CHANSTS_ACTIVE || ioat->chanerr)
		return;
	ioat->next_desc = v;
	ioat->next_from_chain = true;
	ioat->done = 0;
	ioat->completed = 0;
	ioat->status = CHANSTS_ARMED;
}

static void write_dmacount(struct ioat *ioat, uint16_t v)
{
	ioat->dmacount = v;
	if (ioat->status == CHANSTS_SUSPENDED)
		ioat->dmacount_written = true;
	if ((ioat->status == CHANSTS_ARMED || ioat->status == CHANSTS_DONE) &&
	    v != ioat->done)
		ioat->status = CHANSTS_ACTIVE;
	if (ioat->status == CHANSTS_ACTIVE)
		pthread_cond_broadcast(&ioat->work_cv);
}

static void write_intrctrl(struct ioat *ioat, uint8_t v)
{
	uint8_t old = ioat->intrctrl;
	uint8_t routes = INTRCTRL_MSIX_VECTOR_CONTROL | INTRCTRL_MASTER_INT_EN;

	ioat->intrctrl = v & routes;
	if (!(ioat->intrctrl & routes))
		ufd_pci_lower_intx(ioat->pdev);
	else if (!(old & routes) && ioat->attnstatus)
		intr_send(ioat);
}

static void reg_write(struct ioat *ioat, unsigned int off, uint64_t v,
		      uint64_t written)
{
	switch (off) {
	case REG_GENCTRL:
		ioat->genctrl = (uint8_t)(v & GENCTRL_DEBUG_EN);
		break;
	case REG_INTRCTRL:
		write_intrctrl(ioat, (uint8_t)v);
		break;
	case REG_INTRDELAY:
		ioat->intrdelay = (uint16_t)(v & INTRDELAY_MASK);
		break;
	case REG_CHANCTRL:
		write_chanctrl(ioat, v, written);
		break;
	case REG_CHANCMD:
		write_chancmd(ioat, (uint8_t)(v & written));
		break;
	case REG_DMACOUNT:
		write_dmacount(ioat, (uint16_t)v);
		break;
	case REG_CHAINADDR:
		write_chainaddr(ioat, v);
		break;
	case REG_CHANCMP:
		ioat->chancmp = v;
		break;
	case REG_CHANERR:
		ioat->chanerr &= ~(uint32_t)(v & written);
		break;
	case REG_CHANERR_MSK:
		ioat->chanerr_mask = (uint32_t)v;
		break;
	case REG_DCACTRL:
		ioat->dcactrl = (uint32_t)v;
		break;
	default: /* read-only */
		break;
	}
}

/* The bytes of [off, off + size) that fall in register @r, as a mask in
 * the register's own byte positions; 0 if none. */
static uint64_t reg_overlap(const struct ioat_reg *r, uint64_t off,
			    unsigned int size)
{
	uint64_t m = 0;
	unsigned int i;

	for (i = 0; i < r->len; i++)
		if (r->off + i >= off && r->off + i < off + size)
			m |= 0xffULL << (8 * i);
	return m;
}

static uint64_t ioat_bar_read(struct ufd_pci_dev *pdev, unsigned int bar,
			      uint64_t off, unsigned int size)
{
	struct ioat *ioat = ioat_of(pdev);
	uint64_t v = 0;
	size_t i;

	if (bar != 0)
		return 0;
	for (i = 0; i < sizeof(ioat_regs) / sizeof(ioat_regs[0]); i++) {
		const struct ioat_reg *r = &ioat_regs[i];
		uint64_t m = reg_overlap(r, off, size);
		uint64_t rv;
		unsigned int b;

		if (!m)
			continue;
		rv = reg_read(ioat, r->off, m);
		for (b = 0; b < r->len; b++) {
			uint64_t at = r->off + b;

			if (!(m & (0xffULL << (8 * b))))
				continue;
			v |= ((rv >> (8 * b)) & 0xff) << (8 * (at - off));
		}
	}
	return v;
}

static void ioat_bar_write(struct ufd_pci_dev *pdev, unsigned int bar,
			   uint64_t off, unsigned int size, uint64_t value)
{
	struct ioat *ioat = ioat_of(pdev);
	size_t i;

	if (bar != 0)
		return;
	for (i = 0; i < sizeof(ioat_regs) / sizeof(ioat_regs[0]); i++) {
		const struct ioat_reg *r = &ioat_regs[i];
		uint64_t m = reg_overlap(r, off, size);
		uint64_t merged;
		unsigned int b;

		if (!m)
			continue;
		merged = reg_read(ioat, r->off, 0);
		for (b = 0; b < r->len; b++) {
			uint64_t at = r->off + b, byte;

			if (!(m & (0xffULL << (8 * b))))
				continue;
			byte = (value >> (8 * (at - off))) & 0xff;
			merged &= ~(0xffULL << (8 * b));
			merged |= byte << (8 * b);
		}
		reg_write(ioat, r->off, merged, m);
	}
}

/* ---- the worker ---------------------------------------------------------- */

static uint32_t src_error(struct ioat *ioat)
{
	return ioat->data_errors ? CHANERR_READ_DATA : CHANERR_SRC_ADDR;
}

static uint32_t dst_error(struct ioat *ioat)
{
	return ioat->data_errors ? CHANERR_WRITE_DATA : CHANERR_DEST_ADDR;
}

/* Copy or fill @size bytes at @dst, a chunk at a time (lock not held). */
static uint32_t transfer(struct ioat *ioat, unsigned int op, uint64_t src,
			 uint64_t dst, uint64_t size, bool *cancelled)
{
	struct ufd_pci_dev *pdev = ioat->pdev;
	uint64_t off, n;
	unsigned int i;

	if (op == OP_FILL)
		for (i = 0; i < CHUNK; i++)
			ioat->bounce[i] = (uint8_t)(src >> (8 * (i % 8)));
	for (off = 0; off < size; off += n) {
		if (cancel_count(ioat)) {
			*cancelled = true;
			return 0;
		}
		n = size - off < CHUNK ? size - off : CHUNK;
		if (op == OP_COPY &&
		    ufd_pci_dma_read(pdev, src + off, ioat->bounce, n))
			return src_error(ioat);
		if (ufd_pci_dma_write(pdev, dst + off, ioat->bounce, n))
			return dst_error(ioat);
	}
	return 0;
}

/* The 8-byte CHANSTS value the channel writes to CHANCMP. */
static int write_completion(struct ioat *ioat, uint64_t chancmp, uint64_t value)
{
	uint64_t le = htole64(value);

	if (chancmp & 7)
		return -EINVAL;
	return ufd_pci_dma_write(ioat->pdev, chancmp, &le, sizeof(le));
}

static void run_descriptor(struct ioat *ioat, const struct ioat_job *job,
			   struct ioat_outcome *out)
{
	uint8_t raw[DESC_LEN];
	uint32_t size, ctl, op;
	uint64_t src, dst, v;

	memset(out, 0, sizeof(*out));
	if (job->desc & (DESC_LEN - 1)) {
		out->err = job->from_chain ? CHANERR_CHAIN_ADDR_VALUE :
					     CHANERR_NEXT_DESC_ALIGN;
		goto failed;
	}
	if (ufd_pci_dma_read(ioat->pdev, job->desc, raw, sizeof(raw))) {
		out->err = CHANERR_NEXT_ADDR;
		goto failed;
	}
	memcpy(&size, raw + DESC_SIZE, 4);
	memcpy(&ctl, raw + DESC_CTL, 4);
	memcpy(&src, raw + DESC_SRC, 8);
	memcpy(&dst, raw + DESC_DST, 8);
	memcpy(&v, raw + DESC_NEXT, 8);
	size = le32toh(size);
	ctl = le32toh(ctl);
	src = le64toh(src);
	dst = le64toh(dst);
	out->next = le64toh(v);
	op = ctl >> CTL_OP_SHIFT;

	/* Even a null descriptor must have a size (the hardware checks). */
	if (!size || size > (1ULL << ioat->xfercap_log)) {
		out->err = CHANERR_LENGTH;
		goto failed;
	}
	if (!(ctl & CTL_NULL)) {
		if (op != OP_COPY && op != OP_FILL) {
			out->err = CHANERR_CONTROL;
			goto failed;
		}
		out->err = transfer(ioat, op, src, dst, size, &out->cancelled);
		if (out->cancelled)
			return;
		if (out->err)
			goto failed;
	}
	if (ctl & CTL_COMPL_WRITE) {
		v = job->desc | (job->last ? CHANSTS_DONE : CHANSTS_ACTIVE);
		if (write_completion(ioat, job->chancmp, v)) {
			out->err = CHANERR_COMPLETION_ADDR;
			goto failed;
		}
	}
	out->interrupt = ctl & CTL_INT_EN;
	return;

failed:
	/* The halt is written where completions go if CHANCTRL asks. */
	if (job->chanctrl & CHANCTRL_ERR_COMPLETION_EN)
		(void)write_completion(ioat, job->chancmp,
				       job->completed | CHANSTS_HALTED);
}

/* Lock held: does the outcome ask for the channel's interrupt? */
static bool outcome_interrupts(struct ioat *ioat,
			       const struct ioat_outcome *out)
{
	if (out->err)
		return (ioat->chanctrl & CHANCTRL_ERR_INT_EN) &&
		       (out->err & ~ioat->chanerr_mask);
	return out->interrupt;
}

/* Lock held: a reset, abort or destroy took the work away. */
static bool outcome_dropped(struct ioat *ioat, const struct ioat_outcome *out)
{
	return out->cancelled || cancel_count(ioat) || ioat->quit;
}

/* Lock held: what the descriptor did becomes the channel's state. */
static void apply_outcome(struct ioat *ioat, const struct ioat_job *job,
			  const struct ioat_outcome *out)
{
	if (out->err) {
		ioat->chanerr |= out->err;
		ioat->status = CHANSTS_HALTED;
		return;
	}
	ioat->completed = job->desc;
	ioat->done++;
	ioat->next_desc = out->next;
	ioat->next_from_chain = false;
}

static void *ioat_worker(void *arg)
{
	struct ioat *ioat = arg;
	struct ufd_pci_dev *pdev = ioat->pdev;
	struct ioat_outcome out;
	struct ioat_job job;

	ufd_pci_lock(pdev);
	while (!ioat->quit) {
		if (cancel_count(ioat) || ioat->status != CHANSTS_ACTIVE) {
			ufd_pci_wait(pdev, &ioat->work_cv);
			continue;
		}
		if (ioat->suspend_req) {
			ioat->suspend_req = false;
			ioat->resume_status = CHANSTS_ACTIVE;
			ioat->status = CHANSTS_SUSPENDED;
			pthread_cond_broadcast(&ioat->idle_cv);
			continue;
		}
		if (ioat->done == ioat->dmacount) {
			ioat->status = CHANSTS_DONE;
			pthread_cond_broadcast(&ioat->idle_cv);
			continue;
		}
		job.desc = ioat->next_desc;
		job.from_chain = ioat->next_from_chain;
		job.chancmp = ioat->chancmp;
		job.chanctrl = ioat->chanctrl;
		job.last = (uint16_t)(ioat->done + 1) == ioat->dmacount;
		job.completed = ioat->completed;
		ioat->busy = true;
		ufd_pci_unlock(pdev);

		run_descriptor(ioat, &job, &out);

		ufd_pci_lock(pdev);
		/*
		 * The interrupt goes out (the unlock sends it) before the
		 * status shows the descriptor done: a driver that sees DONE
		 * or HALTED has had its interrupt.  Still busy meanwhile, so
		 * a reset waits for this descriptor.
		 */
		if (!outcome_dropped(ioat, &out) &&
		    outcome_interrupts(ioat, &out)) {
			chan_interrupt(ioat);
			ufd_pci_unlock(pdev);
			ufd_pci_lock(pdev);
		}
		if (!outcome_dropped(ioat, &out))
			apply_outcome(ioat, &job, &out);
		ioat->busy = false;
		pthread_cond_broadcast(&ioat->idle_cv);
	}
	ufd_pci_unlock(pdev);
	return NULL;
}

/* ---- model ops ----------------------------------------------------------- */

static int parse_args(struct ioat *ioat, const char *args)
{
	char *copy, *tok, *save = NULL;
	int rc = 0;

	if (!args || !*args)
		return 0;
	copy = ufd_zalloc(strlen(args) + 1);
	if (!copy)
		return -ENOMEM;
	strcpy(copy, args);
	for (tok = strtok_r(copy, ",", &save); tok && !rc;
	     tok = strtok_r(NULL, ",", &save)) {
		char *val = strchr(tok, '='), *end;
		unsigned long n;

		if (!val) {
			rc = -EINVAL;
			break;
		}
		*val++ = '\0';
		if (!strcmp(tok, "xfercap")) {
			errno = 0;
			n = strtoul(val, &end, 0);
			if (errno || end == val || *end || n < 12 || n > 30)
				rc = -EINVAL;
			else
				ioat->xfercap_log = (unsigned int)n;
		} else if (!strcmp(tok, "errors")) {
			if (!strcmp(val, "address"))
				ioat->data_errors = false;
			else if (!strcmp(val, "data"))
				ioat->data_errors = true;
			else
				rc = -EINVAL;
		} else {
			rc = -EINVAL;
		}
	}
	free(copy);
	return rc;
}

/* The function as the hardware presents it. */
static int build_function(struct ufd_pci_dev *pdev)
{
	int rc;

	rc = ufd_pci_add_bar(pdev, 0, IOAT_BAR0_SIZE,
			     UFD_PCI_BAR_MEM64 | UFD_PCI_BAR_MMAP);
	if (!rc)
		rc = ufd_pci_add_msix_cap(pdev, 0x80, 1, 0, IOAT_MSIX_TABLE_OFF,
					  0, IOAT_MSIX_PBA_OFF);
	if (!rc)
		rc = ufd_pci_add_pcie_cap(pdev, 0x90, PCI_EXP_TYPE_RC_END);
	if (!rc)
		rc = ufd_pci_add_pm_cap(pdev, 0xe0);
	/*
	 * MSI too, one vector, below MSI-X: ioatdma falls back from MSI-X to
	 * MSI to INTx, so the part offers all three.
	 */
	if (!rc)
		rc = ufd_pci_add_msi_cap(pdev, 0x60, 1);
	if (!rc)
		rc = ufd_pci_set_intx_pin(pdev, 1);
	if (!rc)
		rc = ufd_pci_cfg_define(pdev, CFG_DMAUNCERRSTS, 4, 0, 0,
					0xffffffff);
	if (!rc)
		rc = ufd_pci_cfg_define(pdev, CFG_CHANERR_INT, 4, 0, 0,
					0xffffffff);
	if (!rc)
		rc = ufd_pci_cfg_define(pdev, CFG_CHANERRMSK_INT, 4, 0,
					0xffffffff, 0);
	return rc;
}

static void ioat_free(struct ioat *ioat)
{
	pthread_cond_destroy(&ioat->work_cv);
	pthread_cond_destroy(&ioat->idle_cv);
	free(ioat->bounce);
	free(ioat);
}

static int ioat_create(struct ufd_pci_dev *pdev, const char *args)
{
	struct ioat *ioat;
	int rc;

	ioat = ufd_zalloc(sizeof(*ioat));
	if (!ioat)
		return -ENOMEM;
	ioat->pdev = pdev;
	ioat->xfercap_log = XFERCAP_DEFAULT;
	ioat->bounce = ufd_zalloc(CHUNK);
	pthread_cond_init(&ioat->work_cv, NULL);
	pthread_cond_init(&ioat->idle_cv, NULL);
	rc = ioat->bounce ? parse_args(ioat, args) : -ENOMEM;
	if (!rc)
		rc = build_function(pdev);
	if (rc) {
		ioat_free(ioat);
		return rc;
	}
	general_poweron(ioat);
	chan_poweron(ioat);
	pdev->priv = ioat;
	rc = ufd_inject_fail() ?
		     EAGAIN :
		     pthread_create(&ioat->worker, NULL, ioat_worker, ioat);
	if (rc) {
		pdev->priv = NULL;
		ioat_free(ioat);
		return -rc;
	}
	return 0;
}

static void ioat_destroy(struct ufd_pci_dev *pdev)
{
	struct ioat *ioat = ioat_of(pdev);

	ufd_pci_lock(pdev);
	ioat->quit = true;
	__atomic_add_fetch(&ioat->cancel, 1, __ATOMIC_ACQ_REL);
	pthread_cond_broadcast(&ioat->work_cv);
	ufd_pci_unlock(pdev);
	pthread_join(ioat->worker, NULL);
	pdev->priv = NULL;
	ioat_free(ioat);
}

/* FLR: both register sets to power-on values, work in hand dropped. */
static void ioat_reset(struct ufd_pci_dev *pdev)
{
	struct ioat *ioat = ioat_of(pdev);

	quiesce_begin(ioat);
	general_poweron(ioat);
	chan_poweron(ioat);
	quiesce_end(ioat);
}

const struct ufd_pci_model ufd_pci_model_ioat = {
	.name = "ioat",
	.description = "Intel I/OAT (Crystal Beach) DMA engine, CBDMA v3.3, "
		       "one channel",
	.vendor_id = 0x8086,
	.device_id = 0x2021,
	.subsystem_vendor_id = 0x8086,
	.subsystem_id = 0x0000,
	.class_code = 0x088000,
	.revision = 0x04,
	.create = ioat_create,
	.destroy = ioat_destroy,
	.reset = ioat_reset,
	.bar_read = ioat_bar_read,
	.bar_write = ioat_bar_write,
};
